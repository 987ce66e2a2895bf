/*
 * check.c - kvstripe fsck's engine: walk every device confined, decide for
 * each name which copy the daemon serves (fs/ns.c's rule: the first
 * non-directory in place_visit() order, unless a directory comes first),
 * verify the regular files on a pool of threads, then repair and count.
 * Only the verification runs in parallel; the rest is this thread's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "beneath.h"
#include "check.h"
#include "csum.h"
#include "dev.h"

#define CHECK_PATH_MAX	4096
#define PROGRESS_NS	200000000L	/* between progress calls */

/* Everything the walk found, directories included. */
struct walk {
	struct check_entry *e;
	size_t n, cap;
	int err;		/* first directory that could not be listed */
	unsigned err_dev;
	char *err_path;
};

static int walk_add(struct walk *w, unsigned dev, const char *path,
		    const struct stat *st, unsigned flags)
{
	struct check_entry *e;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;

		e = realloc(w->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->e = e;
		w->cap = cap;
	}
	e = &w->e[w->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->dev = dev;
	e->type = st->st_mode & S_IFMT;
	e->ino = st->st_ino;
	e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	e->flags = flags;
	w->n++;
	return 0;
}

static int walk_dir(struct walk *w, unsigned dev, dev_t root_dev, int dfd,
		    char *path, size_t len);

/*
 * Enter directory @name of @dfd (its path @path, @len bytes, already
 * recorded): opened beneath @dfd, so a symlink or mount point swapped in
 * since the stat is refused, not followed. Returns 0 or -ENOMEM.
 */
static int walk_enter(struct walk *w, unsigned dev, dev_t root_dev, int dfd,
		      const char *name, char *path, size_t len)
{
	int fd = beneath_open(dfd, name, O_RDONLY | O_DIRECTORY, 0);
	struct check_entry *e = &w->e[w->n - 1];
	int rc;

	if (fd == -EXDEV || fd == -ELOOP) {
		e->flags |= fd == -EXDEV ? CHECK_MOUNT : CHECK_SYMLINK;
		return 0;
	}
	if (fd < 0) {
		e->flags |= CHECK_FAILED;
		e->err = fd;
		return 0;
	}
	rc = walk_dir(w, dev, root_dev, fd, path, len);
	close(fd);
	return rc;
}

/* One entry @name of directory @dfd, whose path is @path (@len bytes). */
static int walk_one(struct walk *w, unsigned dev, dev_t root_dev, int dfd,
		    const char *name, char *path, size_t len)
{
	size_t nlen = strlen(name), plen = len ? len + 1 + nlen : nlen;
	unsigned flags = 0;
	struct stat st;
	int rc = 0;

	if (plen >= CHECK_PATH_MAX)
		return -ENAMETOOLONG;
	if (len)
		path[len] = '/';
	memcpy(path + (len ? len + 1 : 0), name, nlen + 1);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		int err = -errno;

		if (err == -ENOENT)
			goto out;	/* gone since listed */
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFREG;
		rc = walk_add(w, dev, path, &st, CHECK_FAILED);
		if (!rc)
			w->e[w->n - 1].err = err;
		goto out;
	}
	if (S_ISLNK(st.st_mode))
		flags = CHECK_SYMLINK;
	else if (st.st_dev != root_dev)
		flags = CHECK_MOUNT;	/* another filesystem's root */
	rc = walk_add(w, dev, path, &st, flags);
	if (!rc && S_ISDIR(st.st_mode) && !flags)
		rc = walk_enter(w, dev, root_dev, dfd, name, path, plen);
out:
	path[len] = '\0';
	return rc;
}

/*
 * List directory @dfd (path @path, @len bytes; "" is the device's root)
 * and everything below it. Returns 0 or -ENOMEM; a directory that cannot
 * be listed is kept in w->err (the first one) and the walk goes on.
 */
static int walk_dir(struct walk *w, unsigned dev, dev_t root_dev, int dfd,
		    char *path, size_t len)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		if (!w->err) {
			w->err = err;
			w->err_dev = dev;
			w->err_path = strdup(path);
		}
		return err == -ENOMEM ? err : 0;
	}
	errno = 0;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = walk_one(w, dev, root_dev, dfd, de->d_name, path, len);
		if (rc == -ENAMETOOLONG)
			rc = 0;	/* the daemon cannot have made it */
	}
	closedir(d);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct check_entry *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c)
		return c;
	return x->dev < y->dev ? -1 : x->dev > y->dev;
}

/*
 * The copies of one name, @e[0..n) (sorted by device): mark the ones the
 * daemon does not serve stale, and a lone one the policy would not have
 * placed there misplaced.
 */
static void place_group(const struct place_policy *p, struct check_entry *e,
			size_t n)
{
	unsigned first = place_pick(p, e[0].path), files = 0;
	struct check_entry *by_dev[DEV_MAX] = { 0 };
	struct check_entry *served = NULL;
	bool dir = false;

	for (size_t i = 0; i < n; i++) {
		by_dev[e[i].dev] = &e[i];
		files += e[i].type != S_IFDIR;
	}
	if (!files)
		return;
	for (unsigned i = 0; i < p->ndev && !served && !dir; i++) {
		struct check_entry *c = by_dev[place_visit(first, i)];

		if (c && c->type == S_IFDIR)
			dir = true;	/* shadows every file of the name */
		else if (c)
			served = c;
	}
	for (size_t i = 0; i < n; i++)
		if (e[i].type != S_IFDIR && &e[i] != served)
			e[i].flags |= CHECK_STALE;
	if (served && files == 1 && n == 1 &&
	    !place_allows(p, served->path, served->dev))
		served->flags |= CHECK_MISPLACED;
}

static void place_all(const struct place_policy *p, struct walk *w)
{
	size_t i = 0;

	qsort(w->e, w->n, sizeof(*w->e), entry_cmp);
	while (i < w->n) {
		size_t j = i + 1;

		while (j < w->n && !strcmp(w->e[j].path, w->e[i].path))
			j++;
		place_group(p, w->e + i, j - i);
		i = j;
	}
}

/* The verifying threads' shared state. */
struct pool {
	struct walk *w;
	const int *roots;
	_Atomic size_t next;	/* the next entry to look at */
	_Atomic uint64_t files_done, bytes_done;
	_Atomic uint64_t *verified;	/* bytes verified, per device */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned running;	/* threads not finished, under mu */
};

static void *pool_thread(void *arg)
{
	struct pool *pl = arg;
	void *buf = NULL;

	if (posix_memalign(&buf, DEV_ALIGN_MAX, CSUM_CHUNK))
		buf = NULL;
	for (;;) {
		size_t i = atomic_fetch_add(&pl->next, 1);
		struct check_entry *e;

		if (i >= pl->w->n)
			break;
		e = &pl->w->e[i];
		if (e->type != S_IFREG)
			continue;
		if (!buf && !(e->flags & CHECK_FAILED)) {
			e->flags |= CHECK_FAILED;
			e->err = -ENOMEM;
		}
		if (e->flags & CHECK_FAILED)
			pl->bytes_done += e->size;	/* not to be read */
		else
			pl->verified[e->dev] += check_file(pl->roots[e->dev],
							   e, buf,
							   &pl->bytes_done);
		pl->files_done++;
	}
	free(buf);
	pthread_mutex_lock(&pl->mu);
	pl->running--;
	pthread_cond_signal(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static void pool_progress(struct pool *pl, const struct check_opts *o,
			  const struct check_progress *total)
{
	struct check_progress p = *total;

	if (!o->progress)
		return;
	p.files_done = pl->files_done;
	p.bytes_done = pl->bytes_done;
	o->progress(o->ctx, &p);
}

/* Verify every regular file of @w on o->threads threads. */
static int pool_run(struct pool *pl, const struct check_opts *o)
{
	unsigned nt = o->threads ? o->threads : 1, started = 0;
	pthread_t *t = calloc(nt, sizeof(*t));
	struct check_progress total = { 0 };
	struct timespec ts;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < pl->w->n; i++) {
		if (pl->w->e[i].type == S_IFREG) {
			total.files++;
			total.bytes += pl->w->e[i].size;
		}
	}
	pthread_mutex_lock(&pl->mu);
	for (; started < nt; started++) {
		if (pthread_create(&t[started], NULL, pool_thread, pl))
			break;
		pl->running++;
	}
	while (pl->running) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PROGRESS_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&pl->cv, &pl->mu, &ts);
		pool_progress(pl, o, &total);
	}
	pthread_mutex_unlock(&pl->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	return started ? 0 : -EAGAIN;
}

/* Remove @e if it is still the entry the walk saw. */
static void repair_one(int root, struct check_entry *e)
{
	struct stat st;
	int rc = beneath_stat(root, e->path, &st);

	if (!rc && (st.st_ino != e->ino || (st.st_mode & S_IFMT) != e->type))
		rc = -ESTALE;	/* replaced since: leave it */
	if (!rc)
		rc = beneath_unlink(root, e->path, 0);
	e->repair = rc ? rc : 1;
}

static void count(struct check_stats *s, const struct check_entry *e)
{
	s->files += e->type == S_IFREG;
	s->torn += !!(e->flags & CHECK_TORN);
	s->corrupt += !!(e->flags & CHECK_CORRUPT);
	s->stale += !!(e->flags & CHECK_STALE);
	s->unverified += !!(e->flags & CHECK_UNVERIFIED);
	s->misplaced += !!(e->flags & CHECK_MISPLACED);
	s->symlinks += !!(e->flags & CHECK_SYMLINK);
	s->mounts += !!(e->flags & CHECK_MOUNT);
	s->failed += !!(e->flags & CHECK_FAILED);
	if (e->flags & CHECK_ERRORS) {
		s->repaired += e->repair > 0;
		s->unrepaired += e->repair <= 0;
	}
}

/*
 * Repair, count, and keep in @r the entries worth listing: those with a
 * flag (and with @all every regular file); free the rest.
 */
static void finish(struct check_result *r, struct walk *w, const int *roots,
		   const struct check_opts *o, bool all)
{
	size_t k = 0;

	for (size_t i = 0; i < w->n; i++) {
		struct check_entry *e = &w->e[i];

		if (o->repair && (e->flags & CHECK_ERRORS))
			repair_one(roots[e->dev], e);
		count(&r->dev[e->dev], e);
		if (e->flags || (all && e->type == S_IFREG))
			w->e[k++] = *e;
		else
			free(e->path);
	}
	r->e = w->e;
	r->n = k;
	w->e = NULL;
}

static int walk_all(struct walk *w, const int *roots, unsigned ndev)
{
	char *path = malloc(CHECK_PATH_MAX);
	int rc = path ? 0 : -ENOMEM;

	for (unsigned d = 0; !rc && d < ndev; d++) {
		struct stat st;

		if (fstat(roots[d], &st)) {
			rc = -errno;
			break;
		}
		path[0] = '\0';
		rc = walk_dir(w, d, st.st_dev, roots[d], path, 0);
	}
	free(path);
	return rc;
}

int check_run(const int *roots, const struct check_opts *o, bool all,
	      struct check_result **out)
{
	unsigned ndev = o->policy.ndev;
	struct check_result *r = calloc(1, sizeof(*r));
	struct walk w = { 0 };
	struct pool pl = { .w = &w, .roots = roots,
			   .mu = PTHREAD_MUTEX_INITIALIZER,
			   .cv = PTHREAD_COND_INITIALIZER };
	int rc;

	*out = NULL;
	if (ndev < 1 || ndev > DEV_MAX)
		return -EINVAL;
	if (r)
		r->dev = calloc(ndev, sizeof(*r->dev));
	pl.verified = calloc(ndev, sizeof(*pl.verified));
	rc = r && r->dev && pl.verified ? walk_all(&w, roots, ndev) : -ENOMEM;
	if (!rc) {
		place_all(&o->policy, &w);
		rc = pool_run(&pl, o);
	}
	if (!rc) {
		finish(r, &w, roots, o, all);
		for (unsigned d = 0; d < ndev; d++)
			r->dev[d].bytes = pl.verified[d];
		r->walk_err = w.err;
		r->walk_dev = w.err_dev;
		r->walk_path = w.err_path;
		w.err_path = NULL;
		*out = r;
		rc = w.err;
	}
	for (size_t i = 0; w.e && i < w.n; i++)
		free(w.e[i].path);
	free(w.e);
	free(w.err_path);
	free(pl.verified);
	if (!*out)
		check_result_free(r);
	return rc;
}

void check_result_free(struct check_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].path);
	free(r->e);
	free(r->dev);
	free(r->walk_path);
	free(r);
}
