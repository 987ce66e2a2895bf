/*
 * hprobe.c - the health probe; see hprobe.h.
 *
 * One supervising thread decides which device is due and starts a
 * detached thread for each probe. The prober is freed by whoever lets go
 * last: hprobe_stop() or the last probe thread, which may end long after
 * (a probe stuck in a hung device).
 */
#include "hprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dev.h"
#include "deverr.h"
#include "health.h"
#include "shadow.h"

#define PROBE_BLOCK	4096	/* written at least, if the alignment is less */
#define TICK_MS		200	/* the supervisor's look while a probe is due */

struct hprobe_dev {
	int root_fd;		/* our own descriptor of the directory */
	unsigned align;
	bool busy;		/* a probe runs */
	bool wanted;		/* hprobe_suspect() since the last probe */
	bool timed_out;		/* the running probe failed the device */
	uint64_t started_ms, ended_ms;
};

struct hprobe {
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* wakes the supervisor */
	pthread_t thread;
	struct health *h;	/* NULL once stopped */
	struct shadow *shadow;	/* ours: freed with the prober */
	unsigned count, period_ms;
	unsigned refs;		/* hprobe_stop() and each probe thread */
	bool stop;
	struct hprobe_dev dev[];
};

struct job {
	struct hprobe *hp;
	unsigned dev;
};

/* A file with no name in @root_fd, or with one removed at once. */
static int open_nameless(int root_fd, int flags)
{
	char name[64];
	int fd = openat(root_fd, ".", flags | O_TMPFILE, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd;
	snprintf(name, sizeof(name), ".kvstripe-health-%d-%lx", (int)getpid(),
		 (unsigned long)pthread_self());
	fd = openat(root_fd, name, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		unlinkat(root_fd, name, 0);
	return fd;
}

static int probe_fd(int fd, unsigned len)
{
	static _Atomic unsigned seq;
	unsigned char *out, *in;
	unsigned mark = ++seq;
	ssize_t n;
	int rc = 0;

	out = aligned_alloc(len, len);
	in = aligned_alloc(len, len);
	if (!out || !in) {
		free(out);
		free(in);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 31 + mark);
	n = pwrite(fd, out, len, 0);
	if (n != (ssize_t)len)
		rc = n < 0 ? -errno : -EIO;
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (!rc) {
		n = pread(fd, in, len, 0);
		if (n != (ssize_t)len)
			rc = n < 0 ? -errno : -EIO;
		else if (memcmp(in, out, len))
			rc = -EIO;
	}
	free(out);
	free(in);
	return rc;
}

int hprobe_run(int root_fd, unsigned align)
{
	unsigned len = align > PROBE_BLOCK ? align : PROBE_BLOCK;
	int flags = O_RDWR | O_CLOEXEC;
	int fd = -1, rc;

	if (align)
		fd = open_nameless(root_fd, flags | O_DIRECT);
	/* no O_DIRECT here after all (a tmpfs before 6.6): the page cache */
	if (!align || (fd < 0 && errno == EINVAL))
		fd = open_nameless(root_fd, flags);
	if (fd < 0)
		return -errno;
	rc = probe_fd(fd, len);
	close(fd);
	return rc;
}

static void put_locked(struct hprobe *hp, bool *last)
{
	*last = !--hp->refs;
}

static void destroy(struct hprobe *hp)
{
	for (unsigned d = 0; d < hp->count; d++)
		if (hp->dev[d].root_fd >= 0)
			close(hp->dev[d].root_fd);
	shadow_free(hp->shadow);
	pthread_cond_destroy(&hp->cond);
	pthread_mutex_destroy(&hp->mu);
	free(hp);
}

/* Whether a probe's result @rc says the device answers, maybe read-only. */
static bool answers(int rc)
{
	return rc == 0 || rc == -EROFS || rc == -EUCLEAN ||
	       !deverr_is_device(rc);
}

/* Whether device @dev is failed, while the prober runs. */
static bool was_failed(struct hprobe *hp, unsigned dev)
{
	bool failed;

	pthread_mutex_lock(&hp->mu);
	failed = hp->h && health_failed(hp->h, dev);
	pthread_mutex_unlock(&hp->mu);
	return failed;
}

static void *probe_main(void *arg)
{
	struct job *j = arg;
	struct hprobe *hp = j->hp;
	struct hprobe_dev *pd = &hp->dev[j->dev];
	bool last;
	int rc;

	rc = hprobe_run(pd->root_fd, pd->align);
	if (answers(rc) && hp->shadow && was_failed(hp, j->dev)) {
		int swept = shadow_sweep(hp->shadow, j->dev, pd->root_fd);

		/* an older file would shadow a newer one: not back yet */
		if (swept)
			rc = deverr_is_device(swept) && swept != -EROFS &&
			     swept != -EUCLEAN ? swept : -EIO;
	}
	pthread_mutex_lock(&hp->mu);
	/* under mu: hprobe_stop() lets go of the health object */
	if (hp->h)
		health_note_probe(hp->h, j->dev, rc);
	pd->busy = false;
	pd->timed_out = false;
	pd->ended_ms = clock_mono_ms();
	put_locked(hp, &last);
	pthread_mutex_unlock(&hp->mu);
	free(j);
	if (last)
		destroy(hp);
	return NULL;
}

/* Start a probe of device @d in a thread of its own; under mu. */
static void launch(struct hprobe *hp, unsigned d, uint64_t now)
{
	struct hprobe_dev *pd = &hp->dev[d];
	struct job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!j)
		return;		/* tried again at the next look */
	*j = (struct job){ .hp = hp, .dev = d };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	rc = pthread_create(&t, &attr, probe_main, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		free(j);
		return;
	}
	hp->refs++;
	pd->busy = true;
	pd->wanted = false;
	pd->started_ms = now;
}

/* Whether device @d is due a probe at @now; under mu. */
static bool due(const struct hprobe *hp, unsigned d, uint64_t now)
{
	const struct hprobe_dev *pd = &hp->dev[d];
	enum health_state st = health_state(hp->h, d);

	if (pd->busy)
		return false;
	if (pd->ended_ms && now < pd->ended_ms + hp->period_ms)
		return false;
	return pd->wanted || st == HEALTH_FAILED || st == HEALTH_RO;
}

/*
 * One look over the devices: start what is due, fail a device whose probe
 * has run past the device timeout. Returns whether to look again soon.
 */
static bool look(struct hprobe *hp)
{
	uint64_t now = clock_mono_ms();
	unsigned timeout = health_timeout_ms(hp->h);
	bool soon = false;

	for (unsigned d = 0; d < hp->count; d++) {
		struct hprobe_dev *pd = &hp->dev[d];

		if (due(hp, d, now))
			launch(hp, d, now);
		if (pd->busy && !pd->timed_out &&
		    now >= pd->started_ms + timeout) {
			pd->timed_out = true;
			health_note_timeout(hp->h, d, "probe");
		}
		soon |= pd->busy || pd->wanted ||
			health_state(hp->h, d) >= HEALTH_RO;
	}
	return soon;
}

static void wait_ms(struct hprobe *hp, unsigned ms)
{
	struct timespec until = clock_deadline_ms(ms);

	pthread_cond_timedwait(&hp->cond, &hp->mu, &until);
}

static void *supervise(void *arg)
{
	struct hprobe *hp = arg;

	pthread_mutex_lock(&hp->mu);
	while (!hp->stop) {
		bool soon = look(hp);

		if (!hp->stop)
			wait_ms(hp, soon ? TICK_MS : hp->period_ms);
	}
	pthread_mutex_unlock(&hp->mu);
	return NULL;
}

static int init_sync(struct hprobe *hp)
{
	int rc = -pthread_mutex_init(&hp->mu, NULL);

	if (rc)
		return rc;
	rc = clock_cond_init(&hp->cond);
	if (rc)
		pthread_mutex_destroy(&hp->mu);
	return rc;
}

int hprobe_start(const struct hprobe_params *p, struct hprobe **out)
{
	struct hprobe *hp;
	int rc;

	if (!p->count || p->count > DEV_MAX || !p->health) {
		shadow_free(p->shadow);
		return -EINVAL;
	}
	hp = calloc(1, sizeof(*hp) + p->count * sizeof(hp->dev[0]));
	if (!hp) {
		shadow_free(p->shadow);
		return -ENOMEM;
	}
	hp->shadow = p->shadow;
	hp->count = p->count;
	hp->h = p->health;
	hp->period_ms = p->period_ms ? p->period_ms : HPROBE_PERIOD_MS;
	hp->refs = 1;
	for (unsigned d = 0; d < p->count; d++)
		hp->dev[d].root_fd = -1;
	for (unsigned d = 0; d < p->count; d++) {
		hp->dev[d].align = p->align ? p->align[d] : 0;
		hp->dev[d].root_fd = fcntl(p->root_fds[d], F_DUPFD_CLOEXEC, 0);
		if (hp->dev[d].root_fd < 0) {
			rc = -errno;
			goto err;
		}
	}
	rc = init_sync(hp);
	if (rc)
		goto err;
	rc = -pthread_create(&hp->thread, NULL, supervise, hp);
	if (rc) {
		pthread_cond_destroy(&hp->cond);
		pthread_mutex_destroy(&hp->mu);
		goto err;
	}
	*out = hp;
	return 0;
err:
	for (unsigned d = 0; d < p->count; d++)
		if (hp->dev[d].root_fd >= 0)
			close(hp->dev[d].root_fd);
	shadow_free(hp->shadow);
	free(hp);
	return rc;
}

void hprobe_stop(struct hprobe *hp)
{
	bool last;

	if (!hp)
		return;
	pthread_mutex_lock(&hp->mu);
	hp->stop = true;
	pthread_cond_signal(&hp->cond);
	pthread_mutex_unlock(&hp->mu);
	pthread_join(hp->thread, NULL);
	pthread_mutex_lock(&hp->mu);
	hp->h = NULL;
	put_locked(hp, &last);
	pthread_mutex_unlock(&hp->mu);
	if (last)
		destroy(hp);
}

void hprobe_suspect(struct hprobe *hp, unsigned dev)
{
	if (!hp || dev >= hp->count)
		return;
	pthread_mutex_lock(&hp->mu);
	if (!hp->dev[dev].wanted && !hp->dev[dev].busy) {
		hp->dev[dev].wanted = true;
		pthread_cond_signal(&hp->cond);
	}
	pthread_mutex_unlock(&hp->mu);
}
