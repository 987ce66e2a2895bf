/*
 * dfile_i.h - what the files of the dfile module share: the dfile itself
 * and the calls between its layers, which go one way:
 *
 *   dfile.c     the entry (dfile.h): takes f->lock, drains, chooses a
 *               policy; with dfile_read.c (its read entries), the only
 *               files that do either
 *   dfile_wb.c  write-behind, a policy: called with f->lock exclusive
 *   dfile_claim.c  claims of device blocks, for write-behind only
 *   dfile_ra.c  read-ahead, a policy: called with f->lock shared
 *   dfio.c      primitives on the backing file, with the lock as held
 *   dfile_sum.c checksums, primitives: with the lock as each says
 *
 * Each layer calls only those below it (and dio.h, aring.h, bufpool.h,
 * kvio_i.h, deverr.h, csum.h); a policy never calls into the entry, and
 * neither policy calls the other. Lock order: f->lock, then f->wb_mu or a read-ahead
 * stream's mutex.
 */
#ifndef CORE_DFILE_I_H
#define CORE_DFILE_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "caller.h"
#include "csum.h"
#include "deverr.h"
#include "dfile.h"
#include "dio.h"

struct wbio;
struct rastream;

struct dfile {
	struct kvio *io;		/* the engine, for the file's lifetime */
	struct dio *dio;		/* io->dio: one load on the I/O path */
	int fd;
	_Atomic int page_fd;		/* without O_DIRECT, -1 until needed */
	int page_acc;			/* its access mode */
	unsigned align;
	int write_err;			/* 0 if open for writing, else what a
					 * write gets: -EBADF, or why not */
	/*
	 * [cached_lo, cached_hi) covers every byte written through the page
	 * cache since the file was opened; a read inside it looks there
	 * first. Changed with the lock exclusive, read with it shared.
	 */
	uint64_t cached_lo, cached_hi;
	/*
	 * Shared: reads and fully aligned synchronous writes. Exclusive:
	 * unaligned writes, every write-behind write, truncate, settle.
	 */
	pthread_rwlock_t lock;
	_Atomic uint64_t size;		/* logical size; grows when shared */

	/* write-behind: the stage is protected by lock held exclusively */
	char *stage;			/* a pool buffer collecting a stream */
	uint64_t stage_off;		/* file offset of stage[0], aligned */
	size_t stage_len;		/* bytes of stage filled */
	size_t stage_sent;		/* of those, handed to the device */
	struct timespec stage_time;	/* when the last of them came */
	/*
	 * whom the staged bytes are written for: the page-cache write of a
	 * stage's tail may come later, from another thread (caller.h)
	 */
	struct caller stage_who;
	_Atomic unsigned wb_pending;	/* staged + in-flight buffers */
	pthread_mutex_t wb_mu;
	pthread_cond_t wb_done;		/* an in-flight write completed */
	struct wbio *inflight;		/* protected by wb_mu */
	int wb_err;			/* first failure not yet reported */
	bool no_reserve;		/* the backing filesystem has no fallocate */
	bool page_cache;		/* dfile_set_page_cache(): never ahead */
	/* bytes went through the page cache since open or the last fsync */
	_Atomic bool unsynced;
	/*
	 * A long stream claims ahead of itself (dfile_wb.c): while over is
	 * set, [claim_lo, claimed) is allocated, past the backing file's
	 * size too (the claims keep the size); draining gives back what was
	 * not written.
	 */
	uint64_t claim_lo, claimed;
	_Atomic bool over;
	/*
	 * While over, on ext4 (grow), write-behind raises the backing size
	 * to the end of the pieces it sends (dfile_claim_grow()); grown is
	 * a size the backing file is known to have reached.
	 */
	bool grow;
	uint64_t grown;
	/*
	 * [alloc_lo, alloc_hi) held data when a write-behind write found it
	 * so (SEEK_HOLE): an overwrite there needs no claim. Lock exclusive;
	 * a truncate, a failed write's trim and fallocate shrink or forget it.
	 */
	uint64_t alloc_lo, alloc_hi;

	/*
	 * Read-ahead (dfile_ra.c): changes counts every change to the file's
	 * bytes (a write counts at its start and again at its end), so a
	 * piece read ahead is served only while it still matches; ra is
	 * made on a sequential reader's first read.
	 */
	_Atomic unsigned changes;
	struct rastream *_Atomic ra;

	/* dfile_set_errors(): where device errors are told, or NULL */
	struct deverr *errs;
	unsigned dev;

	/*
	 * Checksums (dfile_sum.c). sum_state moves UNKNOWN -> NONE, LOADED
	 * or BAD when first read, and to CHANGED at the first change; sums
	 * is set or freed only with the lock exclusive, and read with it
	 * shared. acc is under sum_mu: aligned writes share the lock.
	 */
	_Atomic int sum_state;		/* enum dfile_sum_state */
	struct csum_rec *sums;		/* LOADED: the record checked against */
	_Atomic uint64_t sum_unit;	/* its unit while LOADED, else 0 */
	/*
	 * 1 + the last unit dfile_sum_check_fd() found whole, 0 for none:
	 * the kernel's READs of a page-cache device are half a unit, and
	 * the pages a unit was checked in hold it until the file changes
	 */
	_Atomic uint64_t span_ok;
	pthread_mutex_t sum_mu;
	struct csum_acc *acc;		/* what this dfile's writes hashed */
	_Atomic bool sum_logged;	/* a mismatch of this file was logged */
};

enum dfile_sum_state {
	SUM_UNKNOWN = 0,	/* the record not looked for yet */
	SUM_NONE,		/* none to check (or checking off) */
	SUM_LOADED,		/* f->sums matches the file: reads are checked */
	SUM_BAD,		/* the record is malformed or not the file's */
	SUM_CHANGED,		/* changed since: no record until sealed */
};

/*
 * Tell the device's error log of -@err in a @kind of operation (@op, or
 * NULL for the kind's name) on @f: device errors only, unless @any.
 */
static inline void dfile_note(const struct dfile *f, enum deverr_kind kind,
			      const char *op, int err, bool any)
{
	if (f->errs && err < 0 && (any || deverr_is_device(err)))
		deverr_note(f->errs, &(struct deverr_at){
				.dev = f->dev, .kind = kind, .op = op,
				.fd = f->fd,
			}, err);
}

/* Raise *@v to @x unless it is already larger. */
static inline void dfile_raise(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load(v);

	while (cur < x && !atomic_compare_exchange_weak(v, &cur, x))
		;
}

/*
 * dfio.c, the primitives. Return 0 or -errno unless said otherwise.
 */

/*
 * The backing file reopened without O_DIRECT, with the access the O_DIRECT
 * descriptor has; opened on first use, closed with the file. Returns the
 * descriptor or -errno.
 */
int dfio_page_fd(struct dfile *f);

/*
 * dfile_read_to() with f->lock held (shared at least), the writes in
 * flight drained, @ctx the calling thread's context.
 */
ssize_t dfio_read(struct dfile *f, struct dio_ctx *ctx, size_t len,
		  uint64_t off, void *dst, size_t cap, const void **data);

/*
 * Write [@off, @off + @len) through the page cache, as is: the kernel
 * merges partial blocks, so nothing is read back. f->lock exclusive, and
 * no device write in flight on the range's pages (write-behind waits for
 * them first). A failure trims what it added (dfio_repair()).
 */
int dfio_write_cached(struct dfile *f, const void *data, size_t len,
		      uint64_t off);

/*
 * Write the aligned [@off, @off + @len) to the device through @ctx, from
 * @data or a copy of it in the bounce buffer. f->lock held, shared at
 * least. A failure is returned as is: the caller repairs (dfio_repair())
 * once it holds the lock exclusively.
 */
int dfio_write_direct(struct dfile *f, struct dio_ctx *ctx, const void *data,
		      size_t len, uint64_t off);

/*
 * On a page-cache device: pwrite(2) [@off, @off + @len) whole or fail;
 * f->lock shared at least. A failure is returned as is, for the caller
 * to repair with the lock exclusive.
 */
int dfio_write_paged(struct dfile *f, const void *data, size_t len,
		     uint64_t off);

/*
 * After a failed write that ended at @end, trim the backing file back to
 * the logical size, and any claim past it. f->lock exclusive. A failure
 * to trim is logged.
 */
void dfio_repair(struct dfile *f, uint64_t end);

/*
 * dfile_sum.c, checksums: primitives, with the lock as each says.
 */

int dfile_sum_init(struct dfile *f);
void dfile_sum_destroy(struct dfile *f);

/* Look for the file's record if not yet; f->lock exclusive. */
void dfile_sum_load(struct dfile *f);

/*
 * The file is about to change: with a record, it is removed from the
 * backing file (where it could only go stale). f->lock exclusive.
 * Returns 0 or -errno of removing it.
 */
int dfile_sum_change(struct dfile *f);

/* A write of [@off, @off + @len) from @data went out, with status @rc. */
void dfile_sum_wrote(struct dfile *f, const void *data, size_t len,
		     uint64_t off, int rc);

/* Bytes changed other than by a write: a truncate from @old, fallocate. */
void dfile_sum_truncated(struct dfile *f, uint64_t old);
void dfile_sum_touched(struct dfile *f, uint64_t off, uint64_t len);

/*
 * Make and store the record of a changed file, reading back with @read
 * the chunks the writes did not hash; f->lock exclusive, writes landed.
 * Returns 0 (also when there is nothing to store, or the device cannot
 * hold it: the file then goes unverified, logged once per device) or
 * -errno of a read back or of storing.
 */
int dfile_sum_seal(struct dfile *f, csum_read_fn read, void *ctx);

/*
 * Before a read of [@off, @off + @len) (within the size): the span of
 * whole units the read must fetch to be checked, in *@lo and *@hi, and
 * 0; or -EIO if the file's record is bad. Unchecked files: the span
 * itself. f->lock shared at least.
 */
int dfile_sum_span(struct dfile *f, uint64_t off, uint64_t len, uint64_t *lo,
		   uint64_t *hi);

/*
 * Check the @len bytes at @p, read at @off, a span dfile_sum_span() gave.
 * Returns 0, or -EIO for a mismatch (counted, the file logged once).
 * f->lock shared at least.
 */
int dfile_sum_check(struct dfile *f, uint64_t off, const void *p, size_t len);

/*
 * dfile_sum_check() of the span [@lo, @hi) read from the page-cache
 * descriptor @fd in pieces of @buflen bytes (a power of two, at most 1
 * MiB) through @buf, for a reply spliced from the same pages. Returns 0,
 * -EIO for a mismatch, or -errno of pread. f->lock shared at least.
 */
int dfile_sum_check_fd(struct dfile *f, int fd, void *buf, size_t buflen,
		       uint64_t lo, uint64_t hi);

/* Whether reads of @f are checked. */
static inline bool dfile_sum_checked(const struct dfile *f)
{
	return atomic_load(&f->sum_state) == SUM_LOADED;
}

/*
 * dfile_wb.c, write-behind: dfile_wb_write() only with the engine's
 * write-behind on.
 */

int dfile_wb_init(struct dfile *f);
void dfile_wb_destroy(struct dfile *f);

/*
 * Stage or start a write, or make it at once when it is not part of a
 * stream (or no buffer is free); f->lock exclusive. With @lend (not
 * NULL), a write dfile_write_lent() describes goes from @data, and
 * @lend->kept is set if the device has not finished with it. Returns 0
 * or -errno.
 */
int dfile_wb_write(struct dfile *f, struct dio_ctx *ctx, const void *data,
		   size_t len, uint64_t off, struct dfile_lend *lend);

/*
 * Write out the stage, wait for every write in flight and trim what the
 * stream claimed past the logical end; f->lock exclusive. A failure is
 * kept for dfile_wb_take_error(), not returned: only write, flush, fsync
 * and close report write-behind errors. Without write-behind on there is
 * nothing to do, so dfile.c calls it either way.
 */
void dfile_wb_drain(struct dfile *f);

/* The first error not yet reported, forgotten once returned; or 0. */
int dfile_wb_take_error(struct dfile *f);

/*
 * dfile_claim.c, write-behind's claims: called by dfile_wb.c only, with
 * f->lock exclusive.
 */

/*
 * Claim the device blocks of a staged write of [@off, @off + @len) past
 * the logical end (a long stream's well ahead), before it is answered.
 * Returns 0, or -ENOSPC, -EDQUOT or -EFBIG: the write must fail.
 */
int dfile_claim_reserve(struct dfile *f, uint64_t off, size_t len);

/*
 * All writes have landed: give back what the claims hold and nothing was
 * written to, trimming the backing file to the logical size. Returns 0
 * or -errno of fstat or ftruncate (the claim is then still held).
 */
int dfile_claim_release(struct dfile *f);

/*
 * Pieces ending at @end, block-aligned and inside the logical size, are
 * about to be handed to the device: while a claim ahead is held on ext4,
 * first raise the backing file's size to @end with one ftruncate if it
 * is short of it, never past @end (so never into the claim), so that the
 * pieces do not extend the file. A failure (a device error is logged)
 * stops raising for the claim: the pieces then extend the file as they
 * land.
 */
void dfile_claim_grow(struct dfile *f, uint64_t end);

/*
 * dfile_ra.c, read-ahead: dfile_ra_read() only where dfile_ra_wants().
 */

/*
 * Whether a READ of @len bytes of @f is one read-ahead may serve (not on
 * a page-cache device, nor larger than a piece).
 */
bool dfile_ra_wants(const struct dfile *f, size_t len);

/* The file's read-ahead stream, made on first use; NULL on -ENOMEM. */
struct rastream *dfile_ra_stream(struct dfile *f);

/*
 * dfile_read_ahead() with f->lock held shared and the writes in flight
 * drained: serve the READ from pieces, else from the device (dfio_read()),
 * then start the pieces after it. Returns the count or -errno.
 */
ssize_t dfile_ra_read(struct dfile *f, struct rastream *s,
		      struct dio_ctx *ctx, size_t len, uint64_t off,
		      void *dst, size_t cap, struct dfile_view *v);

/* dfile_view_end(): give back the pieces @v held. */
void dfile_ra_view_end(struct dfile *f, struct dfile_view *v);

/* Give back what was read ahead of @f, now void. */
void dfile_ra_void(struct dfile *f);

/* Wait for the file's pieces in flight, give back its buffers. */
void dfile_ra_destroy(struct dfile *f);

/* The file's bytes change (or did): what was read ahead is void. */
static inline void dfile_changed(struct dfile *f)
{
	atomic_fetch_add(&f->changes, 1);
	if (atomic_load(&f->ra))
		dfile_ra_void(f);
}

#endif /* CORE_DFILE_I_H */
