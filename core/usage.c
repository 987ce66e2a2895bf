/*
 * usage.c - per-device usage counters (a scan's base plus the changes
 * since), the max_size check, the tree scan and the eviction heap.
 * Invariant: usage_dev() = base + delta, and a scan moves only base.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usage.h"

#define USAGE_DEV_MAX 64
#define PUBLISH_EVERY 256	/* files between updates during a first scan */

struct usage_dev {
	_Atomic int64_t base;	/* the last scan's count minus its d0 */
	_Atomic int64_t delta;	/* every change since the start */
	_Atomic bool scanned;	/* a first scan ended */
	uint64_t limit;		/* 0: none */
};

struct usage {
	unsigned ndev;
	uint64_t limit;
	_Atomic int64_t total;	/* sum of the devices' delta + base */
	_Atomic uint64_t churn;	/* bytes of every change, either way */
	_Atomic bool cancel;	/* scans stop (usage_cancel()) */
	struct usage_dev dev[];
};

int usage_new(const struct usage_params *p, struct usage **out)
{
	struct usage *u;

	if (!p->ndev || p->ndev > USAGE_DEV_MAX)
		return -EINVAL;
	u = calloc(1, sizeof(*u) + p->ndev * sizeof(u->dev[0]));
	if (!u)
		return -ENOMEM;
	u->ndev = p->ndev;
	u->limit = p->limit;
	for (unsigned d = 0; p->dev_limit && d < p->ndev; d++)
		u->dev[d].limit = p->dev_limit[d];
	*out = u;
	return 0;
}

void usage_free(struct usage *u)
{
	free(u);
}

uint64_t usage_limit(const struct usage *u)
{
	return u->limit;
}

uint64_t usage_dev_limit(const struct usage *u, unsigned dev)
{
	return dev < u->ndev ? u->dev[dev].limit : 0;
}

static int64_t dev_used(const struct usage_dev *d)
{
	return atomic_load(&d->base) + atomic_load(&d->delta);
}

uint64_t usage_dev(const struct usage *u, unsigned dev)
{
	int64_t v = dev < u->ndev ? dev_used(&u->dev[dev]) : 0;

	return v > 0 ? (uint64_t)v : 0;
}

uint64_t usage_total(const struct usage *u)
{
	int64_t v = atomic_load(&u->total);

	return v > 0 ? (uint64_t)v : 0;
}

bool usage_counted(const struct usage *u)
{
	for (unsigned d = 0; d < u->ndev; d++)
		if (!atomic_load(&u->dev[d].scanned))
			return false;
	return true;
}

void usage_add(struct usage *u, unsigned dev, int64_t delta)
{
	if (dev >= u->ndev || !delta)
		return;
	atomic_fetch_add(&u->dev[dev].delta, delta);
	atomic_fetch_add(&u->total, delta);
	atomic_fetch_add_explicit(&u->churn, (uint64_t)(delta < 0 ? -delta :
							delta),
				  memory_order_relaxed);
}

uint64_t usage_churn(const struct usage *u)
{
	return atomic_load_explicit(&u->churn, memory_order_relaxed);
}

int usage_charge(struct usage *u, unsigned dev, uint64_t bytes)
{
	struct usage_dev *d;
	int64_t b = (int64_t)bytes;

	if (dev >= u->ndev || bytes > INT64_MAX)
		return -ENOSPC;
	if (!bytes)
		return 0;
	d = &u->dev[dev];
	/* count first, then look: two racing charges never both pass */
	usage_add(u, dev, b);
	if ((d->limit && dev_used(d) > (int64_t)d->limit) ||
	    (u->limit && atomic_load(&u->total) > (int64_t)u->limit)) {
		usage_add(u, dev, -b);
		return -ENOSPC;
	}
	return 0;
}

bool usage_dev_full(const struct usage *u, unsigned dev)
{
	return dev < u->ndev && u->dev[dev].limit &&
	       usage_dev(u, dev) >= u->dev[dev].limit;
}

/* Make device @dev's usage @count plus the changes since @d0. */
static void set_base(struct usage *u, unsigned dev, int64_t count,
		     int64_t d0)
{
	int64_t old = atomic_exchange(&u->dev[dev].base, count - d0);

	atomic_fetch_add(&u->total, count - d0 - old);
}

/* ---- the eviction heap: newest atime on top --------------------------- */

struct usage_victims {
	size_t n, cap;
	uint64_t target, sum;
	struct usage_file *f;
};

int usage_victims_new(size_t cap, uint64_t target,
		      struct usage_victims **out)
{
	struct usage_victims *v;

	if (!cap)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->f = calloc(cap, sizeof(v->f[0]));
	if (!v->f) {
		free(v);
		return -ENOMEM;
	}
	v->cap = cap;
	v->target = target;
	*out = v;
	return 0;
}

void usage_victims_free(struct usage_victims *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		free(v->f[i].path);
	free(v->f);
	free(v);
}

/* Whether @a was read later than @b (goes nearer the top). */
static bool newer(const struct usage_file *a, const struct usage_file *b)
{
	if (a->atime_ns != b->atime_ns)
		return a->atime_ns > b->atime_ns;
	if (a->dev != b->dev)
		return a->dev > b->dev;
	return a->ino > b->ino;
}

static void swap(struct usage_file *a, struct usage_file *b)
{
	struct usage_file t = *a;

	*a = *b;
	*b = t;
}

static void sift_up(struct usage_victims *v, size_t i)
{
	while (i && newer(&v->f[i], &v->f[(i - 1) / 2])) {
		swap(&v->f[i], &v->f[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct usage_victims *v, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;

		if (l < v->n && newer(&v->f[l], &v->f[top]))
			top = l;
		if (r < v->n && newer(&v->f[r], &v->f[top]))
			top = r;
		if (top == i)
			return;
		swap(&v->f[i], &v->f[top]);
		i = top;
	}
}

static void pop_top(struct usage_victims *v)
{
	v->sum -= v->f[0].bytes;
	free(v->f[0].path);
	v->f[0] = v->f[--v->n];
	sift_down(v, 0);
}

int usage_victims_offer(struct usage_victims *v, const struct usage_file *f)
{
	char *path;

	if (!f->bytes)
		return 0;
	if (v->n == v->cap) {
		if (!newer(&v->f[0], f))
			return 0;	/* read later than every one kept */
		pop_top(v);
	}
	path = strdup(f->path);
	if (!path)
		return -ENOMEM;
	v->f[v->n] = *f;
	v->f[v->n].path = path;
	v->sum += f->bytes;
	sift_up(v, v->n++);
	/* the newest goes while the older ones make the target alone */
	while (v->n > 1 && v->sum - v->f[0].bytes >= v->target)
		pop_top(v);
	return 0;
}

static int older_first(const void *a, const void *b)
{
	const struct usage_file *x = a, *y = b;

	return newer(x, y) ? 1 : newer(y, x) ? -1 : 0;
}

size_t usage_victims_sort(struct usage_victims *v,
			  const struct usage_file **out)
{
	qsort(v->f, v->n, sizeof(v->f[0]), older_first);
	*out = v->f;
	return v->n;
}

uint64_t usage_victims_bytes(const struct usage_victims *v)
{
	return v->sum;
}

/* ---- the scan ---------------------------------------------------------- */

struct scan {
	struct usage *u;
	unsigned dev;
	dev_t st_dev;		/* the root's filesystem */
	int64_t d0;		/* delta when the scan began */
	int64_t count;
	size_t since;		/* files since the last update */
	bool first;		/* the device's first scan: update as it goes */
	struct usage_victims *v;
	char path[4096];
};

static void scan_file(struct scan *s, const struct stat *st)
{
	uint64_t bytes = (uint64_t)st->st_blocks * 512;
	struct usage_file f;

	s->count += (int64_t)(bytes / (st->st_nlink ? st->st_nlink : 1));
	if (s->v && st->st_nlink == 1) {
		f = (struct usage_file){
			.path = s->path, .dev = s->dev, .ino = st->st_ino,
			.atime_ns = (int64_t)st->st_atim.tv_sec * 1000000000 +
				    st->st_atim.tv_nsec,
			.bytes = bytes,
		};
		usage_victims_offer(s->v, &f);	/* no memory: not a victim */
	}
	if (s->first && ++s->since >= PUBLISH_EVERY) {
		s->since = 0;
		set_base(s->u, s->dev, s->count, s->d0);
	}
}

/* Walk the directory open as @fd (closed here), its path s->path[0..len). */
static void scan_dir(struct scan *s, int fd, size_t len, unsigned depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat st;

	if (!d) {
		close(fd);
		return;
	}
	while (!atomic_load_explicit(&s->u->cancel, memory_order_relaxed) &&
	       (de = readdir(d))) {
		size_t n = strlen(de->d_name), at = len ? len + 1 : 0;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (at + n >= sizeof(s->path))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (len)
			s->path[len] = '/';
		memcpy(s->path + at, de->d_name, n + 1);
		if (S_ISREG(st.st_mode)) {
			scan_file(s, &st);
		} else if (S_ISDIR(st.st_mode) && st.st_dev == s->st_dev &&
			   depth < USAGE_SCAN_DEPTH) {
			sub = openat(dirfd(d), de->d_name, O_RDONLY |
				     O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				scan_dir(s, sub, at + n, depth + 1);
		}
		s->path[len] = '\0';
	}
	closedir(d);
}

int usage_scan(struct usage *u, unsigned dev, int rootfd,
	       struct usage_victims *v)
{
	struct scan *s;
	struct stat st;
	int fd;

	if (dev >= u->ndev)
		return -EINVAL;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	*s = (struct scan){
		.u = u, .dev = dev, .st_dev = st.st_dev, .v = v,
		.d0 = atomic_load(&u->dev[dev].delta),
		.first = !atomic_load(&u->dev[dev].scanned),
	};
	scan_dir(s, fd, 0, 0);
	if (atomic_load(&u->cancel)) {
		free(s);
		return -ECANCELED;
	}
	set_base(u, dev, s->count, s->d0);
	atomic_store(&u->dev[dev].scanned, true);
	free(s);
	return 0;
}

void usage_cancel(struct usage *u)
{
	atomic_store(&u->cancel, true);
}
