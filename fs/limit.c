/*
 * limit.c - max_size: files charged for what their writes add, recounted
 * from st_blocks when they settle, uncounted when their last name goes;
 * and statfs within the limit. Invariant: in->charged & LIMIT_BYTES is
 * what the file adds to its device's usage while it is not LIMIT_GONE.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dfile.h"
#include "limit.h"
#include "ns.h"
#include "reclaim.h"
#include "space.h"
#include "usage.h"

#define LIMIT_BLOCK 4096ull	/* a write's end is counted to this */

int limit_init(struct kvfs *fs)
{
	const uint64_t *lim = fs->p.max_size;
	uint64_t sum = 0;
	bool any = fs->p.max_size_all;

	for (unsigned d = 0; lim && d < fs->ndev; d++) {
		uint64_t cap = kv_dev(fs, d)->capacity;

		any = any || lim[d];
		sum += lim[d] && lim[d] < cap ? lim[d] : cap;
	}
	if (!any)
		return 0;
	fs->limit_size = fs->p.max_size_all && fs->p.max_size_all < sum ?
			 fs->p.max_size_all : sum;
	return usage_new(&(struct usage_params){
				 .ndev = fs->ndev, .dev_limit = lim,
				 .limit = fs->p.max_size_all,
			 }, &fs->usage);
}

void limit_release(struct kvfs *fs)
{
	usage_free(fs->usage);
	fs->usage = NULL;
}

/* The bytes @df's backing file holds, or -errno. */
static int64_t blocks_of(struct dfile *df)
{
	struct stat st;

	if (fstat(dfile_fd(df), &st))
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

/* @in's count, taken from its backing file the first time. */
static uint64_t charged_get(struct kvfs *fs, struct inode *in,
			    struct dfile *df)
{
	uint64_t cur = atomic_load(&in->charged);
	int64_t b;

	(void)fs;
	if (cur)
		return cur;
	b = blocks_of(df);
	if (b < 0)
		b = 0;
	/* the first to look wins; its value is as good as ours */
	atomic_compare_exchange_strong(&in->charged, &cur,
				       LIMIT_KNOWN | (uint64_t)b);
	return atomic_load(&in->charged);
}

/* Charge @in up to @end bytes: 0 (done or nothing to do), or -ENOSPC. */
static int charge_to(struct kvfs *fs, struct inode *in, struct dfile *df,
		     uint64_t end)
{
	uint64_t cur = charged_get(fs, in, df), need;
	unsigned dev = (unsigned)in->dev;

	for (;;) {
		if ((cur & LIMIT_GONE) || end <= (cur & LIMIT_BYTES))
			return 0;
		need = end - (cur & LIMIT_BYTES);
		if (usage_charge(fs->usage, dev, need))
			return -ENOSPC;
		if (atomic_compare_exchange_strong(&in->charged, &cur,
						   LIMIT_KNOWN | end))
			return 0;
		usage_add(fs->usage, dev, -(int64_t)need);	/* raced */
	}
}

/*
 * Charge, giving eviction (if on) a few passes to make room first: a
 * device at its own max_size may stay full while passes free bytes on
 * the others.
 */
static int charge_or_wait(struct kvfs *fs, struct inode *in,
			  struct dfile *df, uint64_t end)
{
	int rc, tries = 0;

	while ((rc = charge_to(fs, in, df, end)) == -ENOSPC && tries++ < 3)
		if (reclaim_room(fs))
			break;
	return rc;
}

int limit_write(struct kvfs *fs, struct inode *in, struct dfile *df,
		uint64_t off, uint64_t size)
{
	uint64_t end;

	if (!fs->usage || !size || in->dev < 0)
		return 0;
	if (off > UINT64_MAX - size - LIMIT_BLOCK)
		return -EFBIG;
	end = (off + size + LIMIT_BLOCK - 1) & ~(LIMIT_BLOCK - 1);
	return charge_or_wait(fs, in, df, end);
}

int limit_falloc(struct kvfs *fs, struct inode *in, struct dfile *df,
		 int mode, uint64_t len)
{
	uint64_t cur;

	if (!fs->usage || (mode & FALLOC_FL_PUNCH_HOLE) || in->dev < 0)
		return 0;
	cur = charged_get(fs, in, df);
	if (cur & LIMIT_GONE)
		return 0;
	if (len > LIMIT_BYTES - (cur & LIMIT_BYTES))
		return -ENOSPC;
	/* at most @len more; limit_settled() puts what it really took */
	return charge_or_wait(fs, in, df, (cur & LIMIT_BYTES) + len);
}

void limit_settled(struct kvfs *fs, struct inode *in, struct dfile *df)
{
	uint64_t cur;
	int64_t real;

	if (!fs->usage || in->dev < 0)
		return;
	cur = charged_get(fs, in, df);
	if (cur & LIMIT_GONE)
		return;
	real = blocks_of(df);
	if (real < 0)
		return;
	/* a change meanwhile wins: the next settle looks again */
	if (atomic_compare_exchange_strong(&in->charged, &cur,
					   LIMIT_KNOWN | (uint64_t)real))
		usage_add(fs->usage, (unsigned)in->dev,
			  real - (int64_t)(cur & LIMIT_BYTES));
}

void limit_removed(struct kvfs *fs, struct inode *in, const struct found *f)
{
	uint64_t bytes = (uint64_t)f->st.st_blocks * 512, cur;

	if (!fs->usage || !S_ISREG(f->st.st_mode) || f->dev < 0)
		return;
	if (f->st.st_nlink > 1) {
		/* one of its names: the share a scan gives it */
		usage_add(fs->usage, (unsigned)f->dev,
			  -(int64_t)(bytes / f->st.st_nlink));
		return;
	}
	if (in) {
		cur = atomic_exchange(&in->charged, LIMIT_KNOWN | LIMIT_GONE);
		if (cur & LIMIT_GONE)
			return;
		if (cur)
			bytes = cur & LIMIT_BYTES;
	}
	usage_add(fs->usage, (unsigned)f->dev, -(int64_t)bytes);
}

bool limit_dev_full(struct kvfs *fs, unsigned dev)
{
	return fs->usage && usage_dev_full(fs->usage, dev);
}

bool limit_takes_new(struct kvfs *fs, unsigned dev)
{
	bool full;

	if (health_failed(fs->health, dev))
		return false;
	full = limit_dev_full(fs, dev) ||
	       (fs->minfree[dev] &&
		space_avail(&fs->avail[dev], kv_rootfd(fs, dev)) <
		fs->minfree[dev]);
	health_note_full(fs->health, dev, full);
	return health_takes_new(fs->health, dev);
}

void limit_statfs(struct kvfs *fs, struct statvfs *sv)
{
	uint64_t used, room = 0, avail, bs = sv->f_frsize ? sv->f_frsize : 4096;

	if (!fs->usage)
		return;
	used = usage_total(fs->usage);
	/* what each device still takes: its own limit, its free space */
	for (unsigned d = 0; d < fs->ndev; d++) {
		uint64_t lim = usage_dev_limit(fs->usage, d);
		uint64_t free = space_avail(&fs->avail[d], kv_rootfd(fs, d));
		uint64_t u = usage_dev(fs->usage, d);

		if (lim)
			free = lim <= u ? 0 : lim - u < free ? lim - u : free;
		room += free;
	}
	avail = fs->limit_size > used ? fs->limit_size - used : 0;
	if (room < avail)
		avail = room;
	if ((uint64_t)sv->f_bavail * bs < avail)
		avail = (uint64_t)sv->f_bavail * bs;
	/* df: size the limit, used (f_blocks - f_bfree) the usage */
	sv->f_blocks = fs->limit_size / bs;
	sv->f_bfree = (fs->limit_size > used ? fs->limit_size - used : 0) / bs;
	sv->f_bavail = avail / bs;
}
