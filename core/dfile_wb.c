/*
 * dfile_wb.c - write-behind, a policy of the dfile module (dfile_i.h): a
 * WRITE is copied into a pool buffer and answered while the engine's
 * async ring writes it. dfile.c calls its writes and drains with the
 * file's lock exclusive; this file calls only dfio.c below it, never
 * dfile.c.
 *
 * Each file collects its current sequential stream in one stage buffer and
 * sends it to the device a quarter buffer (a piece) at a time as it fills,
 * so small client writes become large device writes and the device is busy
 * while the rest arrives. What is left of a stream when it ends, short of
 * a whole piece, goes through the page cache instead: small files and the
 * tails of big ones never wait for the device or read blocks back.
 * Invariants: no staged or new range overlaps a write in flight (an
 * overlapping request waits), so writes never race; the first failure is
 * kept and reported by the next write, flush, fsync or close.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "align.h"
#include "aring.h"
#include "bufpool.h"
#include "dfile_i.h"
#include "kvio_i.h"

int dfile_wb_init(struct dfile *f)
{
	int rc = -pthread_mutex_init(&f->wb_mu, NULL);

	if (rc)
		return rc;
	rc = -pthread_cond_init(&f->wb_done, NULL);
	if (rc)
		pthread_mutex_destroy(&f->wb_mu);
	return rc;
}

void dfile_wb_destroy(struct dfile *f)
{
	pthread_cond_destroy(&f->wb_done);
	pthread_mutex_destroy(&f->wb_mu);
}

static void keep_error(struct dfile *f, int err)
{
	if (!f->wb_err)
		f->wb_err = err;
}

int dfile_wb_take_error(struct dfile *f)
{
	int err;

	pthread_mutex_lock(&f->wb_mu);
	err = f->wb_err;
	f->wb_err = 0;
	pthread_mutex_unlock(&f->wb_mu);
	return err;
}

static size_t buf_index(const struct kvio_wb *wb, const char *buf)
{
	return (size_t)(buf - (char *)bufpool_base(wb->pool)) /
	       bufpool_size(wb->pool);
}

static char *buf_of(const struct kvio_wb *wb, size_t idx)
{
	return (char *)bufpool_base(wb->pool) + idx * bufpool_size(wb->pool);
}

/* Drop one reference to pool buffer @idx; the last gives it back. */
static void buf_put(struct kvio_wb *wb, size_t idx)
{
	if (atomic_fetch_sub(&wb->refs[idx], 1) == 1)
		bufpool_put(wb->pool, buf_of(wb, idx));
}

/* Reaper thread: the device has a piece, or failed to take it. */
static void wb_complete(void *arg, ssize_t res)
{
	struct wbio *io = arg, **pp;
	struct dfile *f = io->f;
	struct kvio_wb *wb = &f->io->wb;
	size_t idx = io->idx;

	pthread_mutex_lock(&f->wb_mu);
	for (pp = &f->inflight; *pp != io; pp = &(*pp)->next)
		;
	*pp = io->next;
	if (res < 0) {
		/*
		 * The next write, flush or fsync returns it, late: logged
		 * whatever it is (the log sums the repeats).
		 */
		dfile_note(f, DEVERR_WRITE_BEHIND, NULL, (int)res, true);
		keep_error(f, (int)res);
	}
	atomic_fetch_sub(&f->wb_pending, 1);
	pthread_cond_broadcast(&f->wb_done);
	pthread_mutex_unlock(&f->wb_mu);
	/* @f may be gone from here on: a waiter in close can free it */
	buf_put(wb, idx);
}

/* Wait until no write in flight touches [@a0, @a1). */
static void wait_overlap(struct dfile *f, uint64_t a0, uint64_t a1)
{
	struct wbio *io;

	pthread_mutex_lock(&f->wb_mu);
again:
	for (io = f->inflight; io; io = io->next) {
		if (io->off < a1 && a0 < io->end) {
			pthread_cond_wait(&f->wb_done, &f->wb_mu);
			goto again;
		}
	}
	pthread_mutex_unlock(&f->wb_mu);
}

/*
 * Wait until no write in flight touches a page of [@off, @end): a page
 * the page cache changes under a device write would go stale (the kernel
 * drops it when the write completes, and flags the file with -EIO when it
 * cannot).
 */
static void wait_pages(struct dfile *f, uint64_t off, uint64_t end)
{
	uint64_t page = f->io->wb.page;

	wait_overlap(f, align_down(off, page), align_up(end, page));
}

/* A write through the page cache, once no device write touches its pages. */
static int write_cached(struct dfile *f, const void *data, size_t len,
			uint64_t off)
{
	wait_pages(f, off, off + len);
	return dfio_write_cached(f, data, len, off);
}

/*
 * A write made now, not staged (no buffer free): an unaligned one through
 * the page cache, an aligned one to the device, trimmed back on failure.
 */
static int write_now(struct dfile *f, struct dio_ctx *ctx, const void *data,
		     size_t len, uint64_t off)
{
	int rc;

	if (!is_aligned(off, f->align) || !is_aligned(len, f->align))
		return write_cached(f, data, len, off);
	rc = dfio_write_direct(f, ctx, data, len, off);
	if (rc)
		dfio_repair(f, off + len);
	return rc;
}

/*
 * Hand the stage's bytes [stage_sent, @to) to the ring; stage_sent is a
 * piece boundary, so every piece has a record of its own.
 */
static int send_piece(struct dfile *f, size_t to)
{
	struct kvio_wb *wb = &f->io->wb;
	size_t idx = buf_index(wb, f->stage), from = f->stage_sent;
	struct wbio *io = &wb->ios[idx * WB_PIECES + from / wb->piece];
	int rc;

	*io = (struct wbio){
		.f = f, .idx = idx, .off = f->stage_off + from,
		.end = f->stage_off + to,
	};
	atomic_fetch_add(&wb->refs[idx], 1);
	atomic_fetch_add(&f->wb_pending, 1);
	pthread_mutex_lock(&f->wb_mu);
	io->next = f->inflight;
	f->inflight = io;
	pthread_mutex_unlock(&f->wb_mu);
	f->stage_sent = to;
	/* the device write replaces what the page cache held there */
	if (io->off <= f->cached_lo && f->cached_hi <= io->end) {
		f->cached_lo = UINT64_MAX;
		f->cached_hi = 0;
	}
	rc = aring_submit(wb->ring, f->fd, true, f->stage + from, to - from,
			  io->off, wb_complete, io);
	if (rc) {
		/* never started: undo as if it had failed */
		wb_complete(io, rc);
		return rc;
	}
	return 0;
}

/* The stream is done with its stage buffer (pieces may still fly). */
static void stage_put(struct dfile *f)
{
	struct kvio_wb *wb = &f->io->wb;
	size_t idx = buf_index(wb, f->stage);

	f->stage = NULL;
	atomic_fetch_sub(&f->wb_pending, 1);
	buf_put(wb, idx);
}

/*
 * The stream has ended: what of it is not on its way to the device, less
 * than a piece, goes through the page cache.
 */
static int flush_stage(struct dfile *f)
{
	size_t from = f->stage_sent;
	int rc = 0;

	if (!f->stage)
		return 0;
	if (f->stage_len > from) {
		/* its blocks are allocated now: for their writer */
		struct caller was = caller_now();

		rc = caller_enter(f->stage_who);
		if (!rc)
			rc = write_cached(f, f->stage + from,
					  f->stage_len - from,
					  f->stage_off + from);
		caller_enter(was);
		/* the tail was written when it came, not now */
		if (!rc) {
			struct timespec times[2] = {
				{ .tv_nsec = UTIME_OMIT }, f->stage_time,
			};

			futimens(f->fd, times);
		}
	}
	stage_put(f);
	return rc;
}

/* Write out the stage and wait for every write in flight. */
static void settle(struct dfile *f)
{
	int rc = flush_stage(f);

	pthread_mutex_lock(&f->wb_mu);
	if (rc)
		keep_error(f, rc);
	while (f->inflight)
		pthread_cond_wait(&f->wb_done, &f->wb_mu);
	pthread_mutex_unlock(&f->wb_mu);
}

/*
 * Give back what the claims hold and nothing was written to: the blocks
 * past the logical end, and any hole a claim filled below it (a stream's first
 * claim starts at the logical end; its first write may lie further on).
 * Claimed blocks never written read as a hole to SEEK_HOLE, so they are
 * found that way; the file was empty when its stream began to claim
 * ahead (ahead_step()), so no hole below is its owner's preallocation.
 * All writes have landed. The trim and the punches are ours, not the
 * writer's: the file keeps the mtime of its last write.
 */
static int unclaim(struct dfile *f)
{
	off_t size = (off_t)atomic_load(&f->size), pos = (off_t)f->claim_lo;
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT } };
	off_t hole, data;
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	times[1] = st.st_mtim;
	/*
	 * Claimed blocks past the end stay allocated (KEEP_SIZE) until a
	 * truncate, even one to the same size, which ext4 and XFS take as
	 * the order to free them (a claim that failed part way may have
	 * left some too); ext4 punches nothing past the end, the punch is
	 * for filesystems whose truncate to the same size does nothing.
	 */
	if (f->claimed > (uint64_t)size)
		fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  size, (off_t)f->claimed - size);
	if (ftruncate(f->fd, size) < 0)
		return -errno;
	while (pos < size) {
		hole = lseek(f->fd, pos, SEEK_HOLE);
		if (hole < 0 || hole >= size)
			break;
		data = lseek(f->fd, hole, SEEK_DATA);
		if (data < 0 || data > size)
			data = size;
		if (fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			      hole, data - hole) < 0)
			break;
		pos = data;
	}
	futimens(f->fd, times);
	return 0;
}

void dfile_wb_drain(struct dfile *f)
{
	int rc;

	settle(f);
	if (!atomic_load(&f->over))
		return;
	rc = unclaim(f);
	if (rc) {
		/* the next drain tries again; the log sums the repeats */
		dfile_note(f, DEVERR_META, "trim", rc, true);
		pthread_mutex_lock(&f->wb_mu);
		keep_error(f, rc);
		pthread_mutex_unlock(&f->wb_mu);
		return;
	}
	f->claim_lo = f->claimed = 0;
	atomic_store(&f->over, false);
}

/*
 * Start a stage at @off, which is aligned. Returns false when there is no
 * buffer to be had (write synchronously instead).
 */
static bool start_stage(struct dfile *f, uint64_t off)
{
	struct kvio_wb *wb = &f->io->wb;
	char *buf;

	buf = bufpool_get(wb->pool, false);
	if (!buf) {
		/* our own buffers come back for sure; others' may not */
		settle(f);
		buf = bufpool_get(wb->pool, false);
		if (!buf)
			return false;
	}
	atomic_store(&wb->refs[buf_index(wb, buf)], 1);	/* the stage's */
	f->stage = buf;
	f->stage_off = off;
	f->stage_len = 0;
	f->stage_sent = 0;
	f->stage_who = caller_now();
	atomic_fetch_add(&f->wb_pending, 1);
	return true;
}

/*
 * A long stream claims ahead by its offset, within [MIN, MAX] stage
 * buffers, and by at most 1/SHARE of the device's free space, none when
 * that is below FREE: near full, claims are exact, so that they never
 * take space another write would have had.
 */
#define WB_AHEAD_MIN	2
#define WB_AHEAD_MAX	16
#define WB_AHEAD_SHARE	256
#define WB_AHEAD_FREE	(1ull << 30)

/*
 * How far a long stream may claim past a write at @off now, or 0 for
 * exactly. Only on ext4, XFS and btrfs, whose claimed blocks are unwritten
 * extents (elsewhere a claim may write zeros, as vfat does, or allocate
 * pages, as tmpfs does). A stream starts to claim ahead only in an empty
 * file, which holds nothing of its owner's that the trim or the punches
 * of unclaim() could take (a preallocated tail, say).
 */
static uint64_t ahead_step(struct dfile *f, uint64_t off)
{
	uint64_t cap = bufpool_size(f->io->wb.pool), room, step;
	struct statfs sfs;
	struct stat st;

	if (f->page_cache)
		return 0;
	if (!atomic_load(&f->over) &&
	    (atomic_load(&f->size) || fstat(f->fd, &st) < 0 || st.st_size ||
	     st.st_blocks))
		return 0;
	if (fstatfs(f->fd, &sfs) < 0 ||
	    (sfs.f_type != EXT4_SUPER_MAGIC && sfs.f_type != XFS_SUPER_MAGIC &&
	     sfs.f_type != BTRFS_SUPER_MAGIC))
		return 0;
	room = (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_bsize;
	if (room < WB_AHEAD_FREE)
		return 0;
	step = off < WB_AHEAD_MIN * cap ? WB_AHEAD_MIN * cap :
	       off > WB_AHEAD_MAX * cap ? WB_AHEAD_MAX * cap : off;
	return step < room / WB_AHEAD_SHARE ? step : room / WB_AHEAD_SHARE;
}

/*
 * Claim ahead [@from, @end + @step) and perhaps a gap below @from; lock
 * held exclusively. Returns whether the claim was made; if not, what it
 * took past the logical end is given back at once, and holes it filled
 * below at the next drain.
 */
static bool claim_ahead(struct dfile *f, uint64_t from, uint64_t end,
			uint64_t step)
{
	uint64_t cap = bufpool_size(f->io->wb.pool);
	uint64_t size = atomic_load(&f->size);
	bool was = atomic_load(&f->over);
	uint64_t base = was && f->claimed > size ? f->claimed : size;
	uint64_t lo, past, to = align_up(end + step, cap);
	int err;

	/* the pieces of a client's O_DIRECT write below it come soon too */
	lo = from >= base && from - base <= step ? base : from;
	atomic_store(&f->over, true);
	/* KEEP_SIZE: the size follows what the writes put there, never the claim */
	if (!fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)lo,
		       (off_t)(to - lo))) {
		if (!was || lo < f->claim_lo)
			f->claim_lo = lo;
		f->claimed = to;
		return true;
	}
	err = errno;
	if (err == EOPNOTSUPP || err == ENOSYS) {
		atomic_store(&f->over, was);	/* nothing was allocated */
		return false;
	}
	/*
	 * A part may be allocated: what lies past the logical end (nothing
	 * written there, nor in flight) is punched now where the filesystem
	 * punches past the end (ext4 does not), else trimmed at the next
	 * drain, as are holes the part filled below.
	 */
	past = lo > size ? lo : size;
	if (to > past)
		fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  (off_t)past, (off_t)(to - past));
	if (!was || lo < f->claim_lo)
		f->claim_lo = lo;
	if (!was || f->claimed > past)
		f->claimed = past > f->claim_lo ? past : f->claim_lo;
	return false;
}

/*
 * Whether [@from, @end), inside the logical size, is all data on the
 * device: an overwrite there needs no claim (whose fallocate would also
 * wait for every direct write in flight on the file, one piece after the
 * other). Unwritten extents count as holes: claimed again, harmlessly.
 */
static bool allocated(struct dfile *f, uint64_t from, uint64_t end)
{
	uint64_t size = atomic_load(&f->size);
	off_t hole;

	if (end > size)
		return false;
	if (from >= f->alloc_lo && end <= f->alloc_hi)
		return true;
	hole = lseek(f->fd, (off_t)from, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole < end)
		return false;
	f->alloc_lo = from;
	f->alloc_hi = (uint64_t)hole < size ? (uint64_t)hole : size;
	return true;
}

/*
 * Claim the device blocks of [@off, @off + @len) past the file's end
 * before the write is answered, so that a device running full (ENOSPC) or
 * a file growing past what the backing filesystem allows (EFBIG) fails
 * this write, as it would on the device, and not a later one or close.
 *
 * A long stream (a write or a stage of a piece or more) claims well ahead
 * of itself (every fallocate waits for the file's direct writes in
 * flight, so a claim per write would make each write wait for the one
 * before). The claim keeps the backing file's size (FALLOC_FL_KEEP_SIZE):
 * the size grows only as the writes land, so a daemon that dies leaves
 * the bytes written, never zeros claimed ahead of them, as the size. The
 * price: ext4 makes a direct write that extends the file wait for the one
 * before. ahead_step() says when and how far; a file takes a few claims,
 * the first from the logical end, so that the parallel pieces of a
 * client's O_DIRECT write, which come in any order, find their blocks
 * claimed. dfile_wb_drain() gives back every claimed block nothing was written
 * to, and a failed write's trim (dfile.c) shortens the claim with it.
 *
 * An exact claim, or one where the claim ahead failed, covers the write's
 * range past the end (a whole piece's even below it) with the size kept:
 * past the end nothing is written or staged, so what a claim that failed
 * halfway took there is punched out whole. Filesystems without fallocate
 * are written as before, their errors arriving late.
 */
static int reserve(struct dfile *f, uint64_t off, size_t len)
{
	uint64_t size = atomic_load(&f->size), end = off + len;
	uint64_t from = off > size ? off : size, step, past;
	size_t piece = f->io->wb.piece;
	int rc;

	if (f->no_reserve)
		return 0;
	/*
	 * Below the logical end the blocks are there, except under a whole
	 * piece: the pieces of a client's large O_DIRECT write come in any
	 * order, and one further on has raised the end over holes.
	 */
	if (len >= piece)
		from = off;
	if (atomic_load(&f->over) && f->claim_lo <= from && from < f->claimed)
		from = f->claimed;
	if (end <= from || allocated(f, from, end))
		return 0;
	if ((len >= piece || f->stage_len >= piece) &&
	    (step = ahead_step(f, off)) && claim_ahead(f, from, end, step))
		return 0;
	if (!fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)from,
		       (off_t)(end - from)))
		return 0;
	rc = -errno;
	if (rc != -ENOSPC && rc != -EDQUOT && rc != -EFBIG) {
		/* no fallocate here, or a failure the write will meet too */
		if (rc == -EOPNOTSUPP || rc == -ENOSYS)
			f->no_reserve = true;
		return 0;
	}
	/* what a failed claim allocated past the end would stay, unused */
	past = from > size ? from : size;
	if (end > past)
		fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  (off_t)past, (off_t)(end - past));
	return rc;
}

int dfile_wb_write(struct dfile *f, struct dio_ctx *ctx, const void *data,
		   size_t len, uint64_t off)
{
	size_t cap = bufpool_size(f->io->wb.pool), piece = f->io->wb.piece;
	uint64_t a0 = align_down(off, f->align);
	uint64_t a1 = align_up(off + len, f->align);
	const char *src = data;
	int rc;

	wait_overlap(f, a0, a1);
	if (!f->stage || off != f->stage_off + f->stage_len) {
		rc = flush_stage(f);
		if (rc)
			return rc;
		/* streams start on a block; a write elsewhere is a small one */
		if (off != a0)
			return write_cached(f, data, len, off);
		if (!start_stage(f, off))
			return write_now(f, ctx, data, len, off);
	}
	/* a stage written for several: for the one with least rights */
	if (!f->stage_who.uid)
		f->stage_who = caller_now();
	/* only staged bytes need it: the other writes fail when made */
	rc = reserve(f, off, len);
	if (rc)
		return rc;
	while (len) {
		size_t n = cap - f->stage_len;

		if (n > len)
			n = len;
		memcpy(f->stage + f->stage_len, src, n);
		f->stage_len += n;
		/* the kernel's own clock for mtimes */
		clock_gettime(CLOCK_REALTIME_COARSE, &f->stage_time);
		src += n;
		len -= n;
		dfile_raise(&f->size, f->stage_off + f->stage_len);
		/* the device starts on each piece as soon as it is whole */
		n = align_down(f->stage_len, piece);
		if (n > f->stage_sent) {
			rc = send_piece(f, n);
			if (rc)
				return rc;
		}
		if (f->stage_len < cap)
			break;
		off = f->stage_off + cap;
		stage_put(f);
		if (!len)
			return 0;
		if (!start_stage(f, off))
			return write_now(f, ctx, src, len, off);
	}
	return 0;
}
