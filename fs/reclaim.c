/*
 * reclaim.c - the usage thread: the devices counted at start and every
 * RECLAIM_RESCAN_MS, eviction passes when usage passes evict_high, and
 * the atime stamps READs leave for it. Invariant: a file is evicted only
 * while the daemon has it neither open nor being written, and only as an
 * unlink would remove it (its inode gone, its data kept for a client
 * that still holds it, the kernel's name dropped).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "beneath.h"
#include "clock.h"
#include "dfile.h"
#include "dir.h"
#include "inode.h"
#include "limit.h"
#include "log.h"
#include "ns.h"
#include "reclaim.h"
#include "remove.h"
#include "stats.h"
#include "usage.h"
#include "wmark.h"

struct reclaim {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC: kicks and ended passes */
	_Atomic bool stop;	/* set under mu; a pass reads it without */
	bool want;		/* a writer waits (this and below: mu) */
	uint64_t started;	/* passes begun */
	uint64_t passes;	/* passes ended */
	uint64_t last_freed;	/* bytes the last one freed */
	uint64_t high, low;	/* bytes; high 0: eviction off */
	_Atomic uint64_t files, bytes;	/* evicted since the mount */
};

/* Wait on r->cond at most @ms; r->mu held. */
static void wait_ms(struct reclaim *r, uint64_t ms)
{
	struct timespec ts = clock_deadline_ms(ms);

	pthread_cond_timedwait(&r->cond, &r->mu, &ts);
}

/*
 * Count every device again, offering files to @v (may be NULL). Returns
 * the bytes changed meanwhile: the most the new count may be off by.
 */
static uint64_t count_all(struct kvfs *fs, struct usage_victims *v)
{
	uint64_t churn = usage_churn(fs->usage);

	for (unsigned d = 0; d < fs->ndev; d++) {
		int rc = usage_scan(fs->usage, d, kv_rootfd(fs, d), v);

		if (rc == -ECANCELED)
			break;		/* stopping */
		if (rc)
			log_err("device %u: cannot count its usage: %s", d,
				strerror(-rc));
	}
	return usage_churn(fs->usage) - churn;
}

/*
 * When the next recount is due: RECLAIM_RESCAN_MS away, or soon if
 * writes during the last one (@churn bytes) may have made it off by more
 * than RECLAIM_OFF_PCT % of the limit: its error lasts until the next.
 */
static uint64_t next_count(struct kvfs *fs, uint64_t churn)
{
	if (churn > fs->limit_size / 100 * RECLAIM_OFF_PCT)
		return clock_mono_ms() + RECLAIM_RECOUNT_MS;
	return clock_mono_ms() + RECLAIM_RESCAN_MS;
}

/*
 * Whether a request uses @in, it is being written, or it was unlinked
 * while the kernel holds it. (Clients open files without asking the
 * daemon, FUSE_NO_OPEN_SUPPORT: an idle one is evicted as unlink would
 * remove it, readable through its kept backing file until FORGET.)
 */
static bool busy(struct kvfs *fs, struct inode *in)
{
	unsigned char st = atomic_load(&in->wmark);
	bool b;

	pthread_mutex_lock(&fs->lock);
	/* an idle backing file (on the fcache's list) serves no request */
	b = (in->df && !in->on_lru) || in->opens || in->writing || in->kept;
	pthread_mutex_unlock(&fs->lock);
	return b || st == WMARK_OURS || st == WMARK_ENDING;
}

static int64_t atime_ns(const struct stat *st)
{
	return (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec;
}

/*
 * Whether @v still names the file the recount saw, unread since, on its
 * device, with one link: 0 if so, else -EAGAIN.
 */
static int still_victim(const struct usage_file *v, const struct found *f)
{
	if (f->dev != (int)v->dev || !S_ISREG(f->st.st_mode) ||
	    f->st.st_ino != v->ino || f->st.st_nlink != 1 ||
	    atime_ns(&f->st) != v->atime_ns)
		return -EAGAIN;
	return 0;
}

/*
 * The name the kernel may have cached for @in, which must be @path: its
 * parent, referenced, and the name into @name. NULL if it has none.
 */
static struct inode *kernel_name(struct kvfs *fs, struct inode *in,
				 const char *path, char *name)
{
	char buf[KV_PATH_MAX];
	struct inode *parent = NULL;

	if (inode_path(fs, in, buf, sizeof(buf)) < 0 || strcmp(buf, path))
		return NULL;
	pthread_mutex_lock(&fs->lock);
	if (in->names) {
		parent = in->names->parent;
		parent->refs++;
		strcpy(name, in->names->str);
	}
	pthread_mutex_unlock(&fs->lock);
	return parent;
}

/* A listing of @path's parent must see the name go. ns_lock held. */
static void parent_changed(struct kvfs *fs, const char *path)
{
	char dir[KV_PATH_MAX];
	size_t len = ns_parent_len(path);
	struct inode *p = fs->root;
	struct found f;

	if (len) {
		memcpy(dir, path, len);
		dir[len] = '\0';
		p = ns_resolve(fs, dir, &f) ? NULL :
		    inode_find(fs, ns_found_ino(fs, &f));
	}
	if (p)
		dir_changed(fs, p);
}

/* Remove victim @v as unlink would. Returns whether it went. */
static bool evict_one(struct kvfs *fs, const struct usage_file *v)
{
	struct inode *in = NULL, *parent = NULL;
	char name[NAME_MAX + 1];
	bool gone = false;
	struct found f;
	int rc;

	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = ns_resolve(fs, v->path, &f) ?: still_victim(v, &f);
	if (!rc) {
		in = inode_find(fs, ns_found_ino(fs, &f));
		if (in && busy(fs, in))
			rc = -EBUSY;
	}
	if (!rc && in && !(parent = kernel_name(fs, in, v->path, name)))
		rc = -EAGAIN;
	if (!rc) {
		gone = in && inode_gone(fs, in, &f.st);
		/* a client may hold it open without our knowing: kept */
		rc = remove_keep_open(fs, in, &f, v->path) ?:
		     beneath_unlink(kv_rootfd(fs, v->dev), v->path, 0);
		if (rc && gone)
			inode_ungone(fs, in);
		kv_meta_err(fs, v->dev, "unlink", v->path, -1, rc);
	}
	if (!rc) {
		limit_removed(fs, in, &f);
		if (parent) {
			inode_unname(fs, in, parent, name);
			dir_changed(fs, parent);
		} else {
			parent_changed(fs, v->path);
		}
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	/* the kernel drops its cached name (unlocked: it may call us) */
	if (!rc && parent)
		fuse_lowlevel_notify_inval_entry(fs->se,
			inode_nodeid(fs, parent), name, strlen(name));
	if (parent)
		inode_unref(fs, parent);
	return !rc;
}

/* One eviction pass down to the low mark. Returns the bytes freed. */
static uint64_t evict_pass(struct kvfs *fs, struct reclaim *r)
{
	uint64_t t0 = clock_mono_ms(), total = usage_total(fs->usage);
	uint64_t freed = 0;
	struct usage_victims *v;
	const struct usage_file *f;
	size_t n, files = 0;

	if (total < r->low ||
	    usage_victims_new(RECLAIM_BATCH, total - r->low + 1, &v))
		return 0;
	count_all(fs, v);	/* the recount also corrects drift */
	n = usage_victims_sort(v, &f);
	for (size_t i = 0; i < n && usage_total(fs->usage) >= r->low &&
			   !atomic_load(&r->stop); i++) {
		if (!evict_one(fs, &f[i]))
			continue;
		files++;
		freed += f[i].bytes;
		stats_add(fs->stats, f[i].dev, STATS_EVICTED_FILES, 1);
		stats_add(fs->stats, f[i].dev, STATS_EVICTED_BYTES,
			  f[i].bytes);
	}
	usage_victims_free(v);
	atomic_fetch_add(&r->files, files);
	atomic_fetch_add(&r->bytes, freed);
	log_info("eviction: %zu files, %llu bytes removed in %llu ms; usage "
		 "%llu of %llu bytes", files, (unsigned long long)freed,
		 (unsigned long long)(clock_mono_ms() - t0),
		 (unsigned long long)usage_total(fs->usage),
		 (unsigned long long)fs->limit_size);
	return freed;
}

static void *reclaim_main(void *arg)
{
	struct kvfs *fs = arg;
	struct reclaim *r = fs->reclaim;
	uint64_t t0 = clock_mono_ms(), rescan, calm = 0, churn;

	churn = count_all(fs, NULL);
	log_info("usage: %llu bytes on %u devices, counted in %llu ms",
		 (unsigned long long)usage_total(fs->usage), fs->ndev,
		 (unsigned long long)(clock_mono_ms() - t0));
	rescan = next_count(fs, churn);
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		bool due = r->high && usage_total(fs->usage) >= r->high &&
			   clock_mono_ms() >= calm;
		uint64_t freed;

		if (due || r->want) {
			r->want = false;
			r->started++;
			pthread_mutex_unlock(&r->mu);
			freed = evict_pass(fs, r);
			pthread_mutex_lock(&r->mu);
			r->passes++;
			r->last_freed = freed;
			pthread_cond_broadcast(&r->cond);
			if (freed)
				continue;
			/* nothing could go: look again in a while */
			calm = clock_mono_ms() + RECLAIM_CALM_MS;
		}
		if (clock_mono_ms() >= rescan) {
			pthread_mutex_unlock(&r->mu);
			churn = count_all(fs, NULL);
			pthread_mutex_lock(&r->mu);
			rescan = next_count(fs, churn);
		}
		if (!r->stop && !r->want)
			wait_ms(r, RECLAIM_TICK_MS);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int reclaim_start(struct kvfs *fs)
{
	struct reclaim *r;
	int rc;

	if (!fs->usage)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (fs->p.evict_high) {
		r->high = fs->limit_size / 100 * fs->p.evict_high;
		r->low = fs->limit_size / 100 * fs->p.evict_low;
	}
	rc = -pthread_mutex_init(&r->mu, NULL);
	if (rc)
		goto err_free;
	rc = clock_cond_init(&r->cond);
	if (rc)
		goto err_mutex;
	fs->reclaim = r;
	rc = -pthread_create(&r->thread, NULL, reclaim_main, fs);
	if (rc)
		goto err_cond;
	return 0;

err_cond:
	fs->reclaim = NULL;
	pthread_cond_destroy(&r->cond);
err_mutex:
	pthread_mutex_destroy(&r->mu);
err_free:
	free(r);
	return rc;
}

void reclaim_stop(struct kvfs *fs)
{
	struct reclaim *r = fs->reclaim;

	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	usage_cancel(fs->usage);	/* a scan of a large tree ends now */
	pthread_join(r->thread, NULL);
	fs->reclaim = NULL;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int reclaim_room(struct kvfs *fs)
{
	struct reclaim *r = fs->reclaim;
	uint64_t until = clock_mono_ms() + RECLAIM_WAIT_MS, ours;
	int rc = -ENOSPC;

	if (!r || !r->high)
		return -ENOSPC;
	pthread_mutex_lock(&r->mu);
	/* the first pass to begin after this ask; one under way may not see it */
	ours = r->started + 1;
	r->want = true;
	pthread_cond_broadcast(&r->cond);
	while (!r->stop && r->passes < ours && clock_mono_ms() < until)
		wait_ms(r, 100);
	if (!r->stop && r->passes >= ours && r->last_freed)
		rc = 0;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void reclaim_read(struct kvfs *fs, struct inode *in, struct dfile *df)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_NOW },
				  { .tv_nsec = UTIME_OMIT } };
	uint64_t now, last;

	if (!fs->reclaim || !fs->reclaim->high)
		return;
	now = kv_now_ms() + 1;	/* never 0: that is "not stamped" */
	last = atomic_load(&in->read_ms);
	if (last && now - last < RECLAIM_STAMP_MS)
		return;
	if (!atomic_compare_exchange_strong(&in->read_ms, &last, now))
		return;		/* another READ stamps it */
	/* the daemon's own change: not the caller's (a reader may not own it) */
	if (!caller_enter((struct caller){ .uid = 0, .gid = 0 }))
		futimens(dfile_fd(df), ts);
}

void reclaim_stats(struct kvfs *fs, uint64_t *files, uint64_t *bytes)
{
	struct reclaim *r = fs->reclaim;

	*files = r ? atomic_load(&r->files) : 0;
	*bytes = r ? atomic_load(&r->bytes) : 0;
}
