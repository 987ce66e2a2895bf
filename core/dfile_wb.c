/*
 * dfile_wb.c - write-behind, a policy of the dfile module (dfile_i.h): a
 * WRITE is copied into a pool buffer, or sent from its own lent buffer
 * when it is whole aligned pieces (dfile_write_lent()), and answered
 * while the engine's async ring writes it. dfile.c calls its writes and drains with the
 * file's lock exclusive; this file calls only dfile_claim.c and dfio.c
 * below it, never dfile.c.
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
 *
 * Size: while a stream claims ahead on ext4 (dfile_claim.c), the backing
 * file's size is raised to the end of the pieces about to be sent before
 * they go, so that none ends past it (ext4 makes such a direct write
 * synchronous, and the pieces would go one at a time). The size never
 * passes the end of the furthest piece handed to the device (landed or
 * in flight) or of a synchronous write, never reaches into the claim or
 * over bytes still staged; a crash can leave pieces in flight as zeros
 * below it, and the write mark (fs/wmark.c) shows such a file torn.
 * Once drained, the backing file has exactly the logical size and the
 * mtime of the last write.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

	/* lent bytes go back first: whoever waits for the write may free */
	if (idx == WBIO_LENT && io->give_back)
		io->give_back(io->token);
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
	if (idx == WBIO_LENT)
		free(io);
	else
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
 * piece boundary, so every piece has a record of its own. With every op of
 * the ring taken (by any file's pieces: maybe of a device that no longer
 * answers) the piece is written now, on @ctx, and lands as if from the
 * ring: no file waits for another device's writes.
 */
static int send_piece(struct dfile *f, struct dio_ctx *ctx, size_t to)
{
	struct kvio_wb *wb = &f->io->wb;
	size_t idx = buf_index(wb, f->stage), from = f->stage_sent;
	struct wbio *io = &wb->ios[idx * WB_PIECES + from / wb->piece];
	int rc;

	/* inside the backing file's size, the pieces start at once */
	dfile_claim_grow(f, f->stage_off + to);
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
	rc = aring_try_submit(wb->ring, f->fd, true, f->stage + from,
			      to - from, io->off, wb_complete, io);
	if (rc == -EAGAIN) {
		rc = dfio_write_direct(f, ctx, f->stage + from, to - from,
				       io->off);
		wb_complete(io, rc ? rc : (ssize_t)(to - from));
		return 0;
	}
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

void dfile_wb_drain(struct dfile *f)
{
	int rc;

	settle(f);
	if (!atomic_load(&f->over))
		return;
	rc = dfile_claim_release(f);
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
 * Whether a write can go from the caller's lent @data: whole pieces or
 * more, aligned, and nothing staged left unsent that it would pass.
 */
static bool lent_fits(const struct dfile *f, const void *data, size_t len,
		      uint64_t off)
{
	return len >= f->io->wb.piece && is_aligned(off, f->align) &&
	       is_aligned(len, f->align) && ptr_is_aligned(data, f->align) &&
	       (!f->stage || f->stage_len == f->stage_sent);
}

/*
 * Write-behind of lent bytes: claimed and sent as a piece is, from @data,
 * with a wbio of its own. A write the ring cannot take (every op taken,
 * or an error) is made now from @data, or fails now, and is not kept:
 * the WRITE is not answered yet, so its error is its own.
 */
static int write_lent(struct dfile *f, struct dio_ctx *ctx, const void *data,
		      size_t len, uint64_t off, struct dfile_lend *lend)
{
	struct kvio_wb *wb = &f->io->wb;
	struct wbio *io;
	int rc;

	rc = flush_stage(f);	/* all sent: the stage goes back */
	if (!rc)
		rc = dfile_claim_reserve(f, off, len);
	if (rc)
		return rc;
	io = malloc(sizeof(*io));
	if (!io)
		return write_now(f, ctx, data, len, off);
	dfile_claim_grow(f, off + len);
	*io = (struct wbio){
		.f = f, .idx = WBIO_LENT, .off = off, .end = off + len,
		.give_back = lend->give_back, .token = lend->token,
	};
	atomic_fetch_add(&f->wb_pending, 1);
	pthread_mutex_lock(&f->wb_mu);
	io->next = f->inflight;
	f->inflight = io;
	pthread_mutex_unlock(&f->wb_mu);
	if (off <= f->cached_lo && f->cached_hi <= off + len) {
		f->cached_lo = UINT64_MAX;
		f->cached_hi = 0;
	}
	rc = aring_try_submit(wb->ring, f->fd, true, (void *)data, len, off,
			      wb_complete, io);
	if (!rc) {
		dfile_raise(&f->size, off + len);
		lend->kept = true;
		return 0;
	}
	/* never started: out of flight as if done, nothing to give back */
	io->give_back = NULL;
	wb_complete(io, (ssize_t)len);
	if (rc == -EAGAIN)
		return write_now(f, ctx, data, len, off);
	dfio_repair(f, off + len);	/* the claim may have raised the size */
	return rc;
}

int dfile_wb_write(struct dfile *f, struct dio_ctx *ctx, const void *data,
		   size_t len, uint64_t off, struct dfile_lend *lend)
{
	size_t cap = bufpool_size(f->io->wb.pool), piece = f->io->wb.piece;
	uint64_t a0 = align_down(off, f->align);
	uint64_t a1 = align_up(off + len, f->align);
	const char *src = data;
	int rc;

	wait_overlap(f, a0, a1);
	if (lend && lent_fits(f, data, len, off) && lend->take(lend->token))
		return write_lent(f, ctx, data, len, off, lend);
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
	rc = dfile_claim_reserve(f, off, len);
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
			rc = send_piece(f, ctx, n);
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
