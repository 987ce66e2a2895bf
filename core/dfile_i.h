/*
 * dfile_i.h - what dfile.c and wback.c share: the dfile itself.
 *
 * Lock order: f->lock, then f->wb_mu. The write-behind fields are the
 * subject of wback.c; dfile.c only asks it to drain.
 */
#ifndef CORE_DFILE_I_H
#define CORE_DFILE_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

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
	_Atomic unsigned wb_pending;	/* staged + in-flight buffers */
	pthread_mutex_t wb_mu;
	pthread_cond_t wb_done;		/* an in-flight write completed */
	struct wbio *inflight;		/* protected by wb_mu */
	int wb_err;			/* first failure not yet reported */
	bool no_reserve;		/* the backing filesystem has no fallocate */
	bool page_cache;		/* dfile_set_page_cache(): never ahead */
	/*
	 * A long stream claims ahead of itself (wback.c): while over is
	 * set, [claim_lo, claimed) is allocated and the backing file's size
	 * may be past the logical size; draining trims it back.
	 */
	uint64_t claim_lo, claimed;
	_Atomic bool over;
	/*
	 * [alloc_lo, alloc_hi) held data when a write-behind write found it
	 * so (SEEK_HOLE): an overwrite there needs no claim. Lock exclusive;
	 * a truncate, a failed write's trim and fallocate shrink or forget it.
	 */
	uint64_t alloc_lo, alloc_hi;

	/*
	 * Read-ahead (rahead.c): changes counts every change to the file's
	 * bytes (a write counts at its start and again at its end), so a
	 * piece read ahead is served only while it still matches; ra is
	 * made on a sequential reader's first read.
	 */
	_Atomic unsigned changes;
	struct rastream *_Atomic ra;
};

/* rahead.c: give back what was read ahead of @f, now void. */
void ra_void(struct dfile *f);

/* The file's bytes change (or did): what was read ahead is void. */
static inline void dfile_changed(struct dfile *f)
{
	atomic_fetch_add(&f->changes, 1);
	if (atomic_load(&f->ra))
		ra_void(f);
}

/*
 * The backing file's path for a log line, as the kernel names its
 * descriptor (device directory included), in @buf of @n bytes.
 */
const char *dfile_name(const struct dfile *f, char *buf, size_t n);

/* Raise *@v to @x unless it is already larger. */
static inline void dfile_raise(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load(v);

	while (cur < x && !atomic_compare_exchange_weak(v, &cur, x))
		;
}

/*
 * The synchronous write: @f->lock is held, exclusively if @excl (required
 * when @off or @len is unaligned). An aligned write goes to the device
 * with O_DIRECT, any other through the page cache. Returns 0 or -errno.
 */
int dfile_write_sync(struct dfile *f, struct dio_ctx *ctx, const void *data,
		     size_t len, uint64_t off, bool excl);

/*
 * Write [@off, @off + @len) through the backing file's page cache, as is:
 * the kernel merges partial blocks, so nothing is read back here. It first
 * waits for device writes in flight on the range's pages. The caller
 * holds the lock exclusively. Returns 0 or -errno.
 */
int dfile_write_cached(struct dfile *f, const void *data, size_t len,
		       uint64_t off);

/*
 * dfile_read_to() with @f->lock held (shared at least), the writes in
 * flight drained, @ctx the calling thread's context.
 */
ssize_t dfile_read_locked(struct dfile *f, struct dio_ctx *ctx, size_t len,
			  uint64_t off, void *dst, size_t cap,
			  const void **data);

/*
 * dfio.c: the backing file reopened without O_DIRECT, with the access the
 * O_DIRECT descriptor has. Returns the descriptor or -errno.
 */
int page_fd(struct dfile *f);

/*
 * dfio.c: after a failed write that ended at @end, trim the backing file
 * back to the logical size. Lock held exclusively.
 */
void dfile_repair_locked(struct dfile *f, uint64_t end);

/* rahead.c: wait for the file's pieces in flight, give back its buffers. */
void ra_destroy(struct dfile *f);

/* wback.c */
int wb_init(struct dfile *f);
void wb_destroy(struct dfile *f);
/* Stage or start a write; lock held exclusively. Returns 0 or -errno. */
int wb_write(struct dfile *f, struct dio_ctx *ctx, const void *data,
	     size_t len, uint64_t off);
/*
 * Write out the stage, wait for every write in flight and trim what the
 * stream claimed past the logical end; lock held exclusively. A failure
 * is kept for wb_take_error(), not returned: only write, flush, fsync and
 * close report write-behind errors.
 */
void wb_drain(struct dfile *f);
/*
 * Wait until no write in flight touches a page of [@off, @end): a page
 * the page cache changes under a device write would go stale (the kernel
 * drops it when the write completes, and flags the file with -EIO when it
 * cannot). Lock held exclusively. A no-op without write-behind.
 */
void wb_wait_pages(struct dfile *f, uint64_t off, uint64_t end);
/* The first error not yet reported, forgotten once returned; or 0. */
int wb_take_error(struct dfile *f);

#endif /* CORE_DFILE_I_H */
