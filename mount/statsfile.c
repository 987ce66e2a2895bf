/*
 * statsfile.c - the stats_file writer thread; see statsfile.h. The text
 * comes from kvfs_stats(), is rendered by statsfmt.c, and lands by
 * rename(2), atomic within one directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "kvfs.h"
#include "log.h"
#include "statsfile.h"
#include "statsfmt.h"

struct statsfile {
	struct kvfs *fs;
	char *path, *tmp;
	unsigned interval;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC */
	bool stop;		/* under mu */
	int last_err;		/* of the last write, 0: it worked */
};

int statsfile_check(const char *path, char *err, size_t len)
{
	char *copy, *dir;
	int rc = 0;

	if (path[0] != '/') {
		snprintf(err, len, "'stats_file' must be an absolute path: "
			 "'%s'", path);
		return -1;
	}
	copy = strdup(path);
	if (!copy) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK)) {
		snprintf(err, len, "cannot write the stats file's directory "
			 "'%s': %s", dir, strerror(errno));
		rc = -1;
	}
	free(copy);
	return rc;
}

/* The statistics text of @fs, malloc'ed; NULL without memory. */
static char *stats_text(struct kvfs *fs)
{
	size_t size = 16384;
	char *buf = NULL;

	for (int tries = 0; tries < 4; tries++) {
		char *b = realloc(buf, size);
		int n;

		if (!b)
			break;
		buf = b;
		n = kvfs_stats(fs, buf, size);
		if (n >= 0 && (size_t)n < size)
			return buf;
		size = (size_t)n + 4096;
	}
	free(buf);
	return NULL;
}

/* Write the file once. Returns 0 or -errno. */
static int statsfile_write(struct statsfile *sf)
{
	struct statsfmt *fmt;
	char *text = stats_text(sf->fs);
	FILE *f;
	int fd, rc;

	if (!text)
		return -ENOMEM;
	rc = statsfmt_parse(text, &fmt);
	free(text);
	if (rc)
		return rc;
	/* 0644 whatever the umask: the daemon runs with umask 0 */
	fd = open(sf->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rc = statsfmt_prometheus(fmt, f);
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(sf->tmp, sf->path))
		rc = -errno;
	if (rc)
		unlink(sf->tmp);
out:
	statsfmt_free(fmt);
	return rc;
}

/* Write, and log a change between failing and working. */
static void statsfile_once(struct statsfile *sf)
{
	int rc = statsfile_write(sf);

	if (rc && rc != sf->last_err)
		log_warn("cannot write the stats file '%s': %s", sf->path,
			 strerror(-rc));
	else if (!rc && sf->last_err)
		log_info("the stats file '%s' is written again", sf->path);
	sf->last_err = rc;
}

static void *statsfile_main(void *arg)
{
	struct statsfile *sf = arg;

	pthread_mutex_lock(&sf->mu);
	while (!sf->stop) {
		struct timespec at;

		pthread_mutex_unlock(&sf->mu);
		statsfile_once(sf);
		at = clock_deadline_ms((uint64_t)sf->interval * 1000);
		pthread_mutex_lock(&sf->mu);
		while (!sf->stop &&
		       pthread_cond_timedwait(&sf->cond, &sf->mu, &at) !=
		       ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&sf->mu);
	return NULL;
}

int statsfile_start(struct kvfs *fs, const char *path, unsigned interval,
		    struct statsfile **out)
{
	struct statsfile *sf;
	int rc;

	sf = calloc(1, sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	sf->fs = fs;
	sf->interval = interval ? interval : 1;
	sf->path = strdup(path);
	if (!sf->path || asprintf(&sf->tmp, "%s.%d.tmp", path,
				  (int)getpid()) < 0) {
		sf->tmp = NULL;
		rc = -ENOMEM;
		goto err_free;
	}
	rc = clock_cond_init(&sf->cond);
	if (rc)
		goto err_free;
	pthread_mutex_init(&sf->mu, NULL);
	rc = -pthread_create(&sf->thread, NULL, statsfile_main, sf);
	if (rc)
		goto err_cond;
	*out = sf;
	return 0;

err_cond:
	pthread_mutex_destroy(&sf->mu);
	pthread_cond_destroy(&sf->cond);
err_free:
	free(sf->tmp);
	free(sf->path);
	free(sf);
	return rc;
}

void statsfile_stop(struct statsfile *sf)
{
	if (!sf)
		return;
	pthread_mutex_lock(&sf->mu);
	sf->stop = true;
	pthread_cond_signal(&sf->cond);
	pthread_mutex_unlock(&sf->mu);
	pthread_join(sf->thread, NULL);
	statsfile_once(sf);	/* the numbers at the end */
	pthread_mutex_destroy(&sf->mu);
	pthread_cond_destroy(&sf->cond);
	free(sf->tmp);
	free(sf->path);
	free(sf);
}
