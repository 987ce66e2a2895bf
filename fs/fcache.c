/*
 * fcache.c - the backing files of regular files, opened on first use.
 *
 * See fcache.h. The idle list is intrusive (two pointers per inode) and
 * ordered by when a file was last unpinned; fs->lru_count counts it.
 */
#include <fcntl.h>
#include <string.h>

#include "dfile.h"
#include "evict.h"
#include "fcache.h"
#include "inode.h"
#include "log.h"
#include "ns.h"
#include "wmark.h"

static void lru_del_locked(struct kvfs *fs, struct inode *in)
{
	if (!in->on_lru)
		return;
	if (in->lru_prev)
		in->lru_prev->lru_next = in->lru_next;
	else
		fs->lru_first = in->lru_next;
	if (in->lru_next)
		in->lru_next->lru_prev = in->lru_prev;
	else
		fs->lru_last = in->lru_prev;
	in->lru_prev = in->lru_next = NULL;
	in->on_lru = false;
	fs->lru_count--;
}

static void lru_add_locked(struct kvfs *fs, struct inode *in)
{
	in->idle_since = kv_now_ms();
	if (!fs->lru_first)	/* the first idle file: time its close */
		evict_wake_locked(fs);
	in->lru_prev = fs->lru_last;
	in->lru_next = NULL;
	if (fs->lru_last)
		fs->lru_last->lru_next = in;
	else
		fs->lru_first = in;
	fs->lru_last = in;
	in->on_lru = true;
	fs->lru_count++;
}

static void writing_end_locked(struct kvfs *fs, struct inode *in)
{
	if (in->writing) {
		in->writing = false;
		atomic_fetch_sub_explicit(&fs->writers[in->dev], 1,
					  memory_order_relaxed);
	}
}

/*
 * Take the idle dfile off @in; its inode reference goes with it. Until
 * fcache_close() is done, no other dfile may be opened for @in: writes
 * still landing would leave it with a stale size.
 */
static struct dfile *detach_locked(struct kvfs *fs, struct inode *in)
{
	struct dfile *df = in->df;

	lru_del_locked(fs, in);
	in->df = NULL;
	in->kept = false;
	in->closing = true;
	writing_end_locked(fs, in);
	return df;
}

static void wait_closed_locked(struct kvfs *fs, struct inode *in)
{
	while (in->closing)
		pthread_cond_wait(&fs->fcache_closed, &fs->lock);
}

/* A write-behind failure nobody was left to hear was logged at warning. */
static atomic_bool lost_told;

void fcache_close(struct kvfs *fs, struct inode *in, struct dfile *df)
{
	bool forgotten;
	int rc;

	pthread_mutex_lock(&fs->lock);
	forgotten = !in->nlookup;
	pthread_mutex_unlock(&fs->lock);
	/* no file open on a forgotten inode: its writing is over */
	rc = wmark_close(fs, in, df, forgotten);
	rc = dfile_close(df) ?: rc;
	pthread_mutex_lock(&fs->lock);
	if (rc && in->nlookup)	/* for the next write, flush or fsync */
		atomic_store_explicit(&in->werr, rc, memory_order_relaxed);
	else if (rc)
		/* one per file: the device's error log has the counts */
		log_msg(atomic_exchange(&lost_told, true) ? LOG_LVL_DEBUG :
							    LOG_LVL_WARN,
			"write-behind failure after the last close of "
			"inode %llu: %s (later ones at debug level)",
			(unsigned long long)in->ino, strerror(-rc));
	in->closing = false;
	pthread_cond_broadcast(&fs->fcache_closed);
	pthread_mutex_unlock(&fs->lock);
	inode_unref(fs, in);
}

static struct dfile *pin_locked(struct kvfs *fs, struct inode *in)
{
	wait_closed_locked(fs, in);
	if (in->df && !in->opens++)
		lru_del_locked(fs, in);
	in->recent = true;	/* in use: the evictor passes it by once */
	return in->df;
}

/* Make @df @in's dfile unless it has one; returns the loser to close. */
static struct dfile *install_locked(struct kvfs *fs, struct inode *in,
				    struct dfile *df)
{
	wait_closed_locked(fs, in);
	if (in->df)
		return df;
	in->df = df;
	in->refs++;	/* an open backing file keeps its inode */
	return NULL;
}

static int open_backing(struct kvfs *fs, struct inode *in, int dirfd,
			const char *path, struct dfile **out)
{
	unsigned align = kv_dev(fs, (unsigned)in->dev)->dio_align;
	int rc;

	int why;

	rc = dfile_open(fs->io, dirfd, path, O_RDWR | O_NOFOLLOW, 0, align,
			out);
	/* a read-only backing file still serves readers; writers hear why */
	if (rc == -EACCES || rc == -EROFS || rc == -EPERM || rc == -ETXTBSY) {
		why = rc;
		rc = dfile_open(fs->io, dirfd, path, O_RDONLY | O_NOFOLLOW, 0,
				align, out);
		if (!rc)
			dfile_refuse_writes(*out, why);
	}
	kv_dev_err(fs, (unsigned)in->dev, DEVERR_OPEN, NULL, path, rc);
	if (rc)
		return rc;
	dfile_set_errors(*out, fs->errs, (unsigned)in->dev);
	if (kv_dev(fs, (unsigned)in->dev)->page_cache)
		dfile_set_page_cache(*out);
	return 0;
}

struct dfile *fcache_peek(struct kvfs *fs, struct inode *in)
{
	struct dfile *df;

	pthread_mutex_lock(&fs->lock);
	df = pin_locked(fs, in);
	pthread_mutex_unlock(&fs->lock);
	return df;
}

int fcache_get(struct kvfs *fs, struct inode *in, struct dfile **out)
{
	char path[KV_PATH_MAX];
	struct dfile *df, *loser;
	int rc;

	*out = fcache_peek(fs, in);
	if (*out)
		goto check;
	if (health_failed(fs->health, (unsigned)in->dev))
		return -EIO;	/* its device is failed: not asked */
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_path(fs, in, path, sizeof(path));
	if (rc >= 0)
		rc = open_backing(fs, in, kv_rootfd(fs, (unsigned)in->dev),
				  path, &df);
	if (rc == -ENOENT && ns_path_moved(fs, in, path))
		rc = open_backing(fs, in, kv_rootfd(fs, (unsigned)in->dev),
				  path, &df);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	loser = install_locked(fs, in, df);
	*out = pin_locked(fs, in);
	pthread_mutex_unlock(&fs->lock);
	dfile_close(loser);
check:
	/* a mark no writer of ours left means the file is torn */
	wmark_check(fs, in, dfile_fd(*out), NULL);
	return 0;
}

void fcache_put(struct kvfs *fs, struct inode *in)
{
	struct inode *victim = NULL;
	struct dfile *df = NULL;

	pthread_mutex_lock(&fs->lock);
	if (--in->opens == 0) {
		if (!in->nlookup) {
			/* forgotten while in use: close it now */
			victim = in;
		} else if (!in->kept) {
			lru_add_locked(fs, in);
			if (fs->lru_count > fs->fcache_max)
				victim = fs->lru_first;
		}
		if (victim)
			df = detach_locked(fs, victim);
	}
	pthread_mutex_unlock(&fs->lock);
	if (df)
		fcache_close(fs, victim, df);
}

struct dfile *fcache_install(struct kvfs *fs, struct inode *in,
			     struct dfile *df)
{
	struct dfile *loser, *use;

	pthread_mutex_lock(&fs->lock);
	loser = install_locked(fs, in, df);
	use = pin_locked(fs, in);
	if (!in->writing) {
		in->writing = true;
		atomic_fetch_add_explicit(&fs->writers[in->dev], 1,
					  memory_order_relaxed);
	}
	pthread_mutex_unlock(&fs->lock);
	dfile_close(loser);
	return use;
}

int fcache_keep(struct kvfs *fs, struct inode *in, int dirfd,
		const char *path)
{
	struct dfile *df = NULL;
	int rc;

	pthread_mutex_lock(&fs->lock);
	wait_closed_locked(fs, in);
	if (in->df) {
		in->kept = true;
		lru_del_locked(fs, in);
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	pthread_mutex_unlock(&fs->lock);
	rc = open_backing(fs, in, dirfd, path, &df);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	df = install_locked(fs, in, df);
	in->kept = true;
	lru_del_locked(fs, in);
	pthread_mutex_unlock(&fs->lock);
	dfile_close(df);
	return 0;
}

int fcache_error(struct inode *in)
{
	if (!atomic_load_explicit(&in->werr, memory_order_relaxed))
		return 0;
	return atomic_exchange_explicit(&in->werr, 0, memory_order_relaxed);
}

int fcache_flushed(struct kvfs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->lock);
	writing_end_locked(fs, in);
	pthread_mutex_unlock(&fs->lock);
	return fcache_error(in);
}

long fcache_due_locked(struct kvfs *fs)
{
	uint64_t due, now;

	if (!fs->lru_first)
		return -1;
	due = fs->lru_first->idle_since + FCACHE_IDLE_MS;
	now = kv_now_ms();
	return due > now ? (long)(due - now) : 0;
}

void fcache_expire(struct kvfs *fs)
{
	for (;;) {
		struct inode *in;
		struct dfile *df;

		pthread_mutex_lock(&fs->lock);
		if (fcache_due_locked(fs) != 0) {
			pthread_mutex_unlock(&fs->lock);
			return;
		}
		in = fs->lru_first;
		df = detach_locked(fs, in);
		pthread_mutex_unlock(&fs->lock);
		fcache_close(fs, in, df);
	}
}

struct dfile *fcache_forget_locked(struct kvfs *fs, struct inode *in)
{
	if (in->nlookup || !in->df || in->opens)
		return NULL;
	return detach_locked(fs, in);
}
