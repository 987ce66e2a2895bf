/*
 * dfile.c - a backing file opened O_DIRECT, read and written at any offset:
 * the entry of the dfile module (dfile_i.h): with dfile_read.c, which has
 * the read entries, the only file that takes the file's lock and drains
 * write-behind; it picks a policy (dfile_wb.c, dfile_ra.c) or a primitive
 * (dfio.c, dfile_sum.c) below it for the rest.
 *
 * Aligned requests go to the device through the calling thread's dio
 * context; unaligned writes go through the backing file's page cache,
 * where the kernel merges partial blocks, and reads of what was written
 * that way are served from there while it is cached. Invariant: once the
 * writes in flight have landed, the backing file's size is the logical
 * size.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "align.h"
#include "beneath.h"
#include "dfile_i.h"
#include "dio.h"
#include "kvio_i.h"

int dfile_open(struct kvio *io, int dirfd, const char *relpath, int flags,
	       mode_t mode, unsigned align, struct dfile **out)
{
	pthread_rwlockattr_t attr;
	int acc = flags & O_ACCMODE;
	struct dfile *f;
	struct stat st;
	int rc, fd;

	if (!is_pow2(align))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->io = io;
	f->dio = io->dio;
	f->page_fd = -1;
	f->cached_lo = UINT64_MAX;

	/* Writers prefer: a stream of aligned I/O must not starve RMW. */
	rc = -pthread_rwlockattr_init(&attr);
	if (rc)
		goto err_free;
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = -pthread_rwlock_init(&f->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc)
		goto err_free;
	rc = dfile_wb_init(f);
	if (rc)
		goto err_destroy_lock;
	rc = dfile_sum_init(f);
	if (rc)
		goto err_destroy_wb;

	/*
	 * Bytes written through the page cache are read back from there, so
	 * a write-only open asks for read access too, and settles for
	 * write-only if the file's mode forbids reading.
	 */
	flags = (flags & ~(O_APPEND | O_ACCMODE)) | O_DIRECT | O_CLOEXEC;
	f->page_acc = acc == O_WRONLY ? O_RDWR : acc;
	fd = beneath_open(dirfd, relpath, flags | f->page_acc, mode);
	if (fd == -EACCES && acc == O_WRONLY) {
		f->page_acc = O_WRONLY;
		fd = beneath_open(dirfd, relpath, flags | O_WRONLY, mode);
	}
	if (fd < 0) {
		rc = fd;
		goto err_destroy_sum;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto err_close;
	}

	f->fd = fd;
	f->align = align;
	f->write_err = acc == O_WRONLY || acc == O_RDWR ? 0 : -EBADF;
	atomic_init(&f->size, (uint64_t)st.st_size);
	*out = f;
	return 0;

err_close:
	close(fd);
err_destroy_sum:
	dfile_sum_destroy(f);
err_destroy_wb:
	dfile_wb_destroy(f);
err_destroy_lock:
	pthread_rwlock_destroy(&f->lock);
err_free:
	free(f);
	return rc;
}

/*
 * Everything written is on its way (on the device or in the page cache);
 * reports a write-behind failure not reported yet. Lock exclusive.
 */
static int dfile_settle_locked(struct dfile *f)
{
	dfile_wb_drain(f);
	return dfile_wb_take_error(f);
}

void dfile_drain(struct dfile *f)
{
	if (!atomic_load(&f->wb_pending) && !atomic_load(&f->over))
		return;
	pthread_rwlock_wrlock(&f->lock);
	dfile_wb_drain(f);
	pthread_rwlock_unlock(&f->lock);
}

int dfile_settle(struct dfile *f)
{
	int rc;

	pthread_rwlock_wrlock(&f->lock);
	rc = dfile_settle_locked(f);
	pthread_rwlock_unlock(&f->lock);
	return rc;
}

int dfile_close(struct dfile *f)
{
	int rc;

	if (!f)
		return 0;
	rc = dfile_settle(f);
	dfile_ra_destroy(f);	/* its reads use the descriptor */
	if (close(f->fd) < 0 && !rc)
		rc = -errno;
	if (f->page_fd >= 0)
		close(f->page_fd);
	dfile_wb_destroy(f);
	dfile_sum_destroy(f);
	pthread_rwlock_destroy(&f->lock);
	free(f);
	return rc;
}

/* Read back, for sealing: the bytes as the device has them. */
static long seal_read(void *arg, uint64_t off, size_t len, const void **p)
{
	struct dfile *f = arg;
	struct dio_ctx *ctx;
	int rc = dio_ctx_get(f->dio, &ctx);

	return rc ? rc : (long)dfio_read(f, ctx, len, off, NULL, 0, p);
}

int dfile_seal(struct dfile *f)
{
	int rc;

	pthread_rwlock_wrlock(&f->lock);
	rc = dfile_settle_locked(f);
	if (!rc)
		rc = dfile_sum_seal(f, seal_read, f);
	if (rc)
		dfile_note(f, DEVERR_META, "storing checksums", rc, false);
	pthread_rwlock_unlock(&f->lock);
	return rc;
}

/*
 * Before a change of the file's bytes: a record it has goes (it could
 * only go stale). Returns 0 or -errno of removing it.
 */
static int sum_change(struct dfile *f)
{
	int rc;

	if (atomic_load(&f->sum_state) == SUM_CHANGED)
		return 0;
	pthread_rwlock_wrlock(&f->lock);
	rc = dfile_sum_change(f);
	pthread_rwlock_unlock(&f->lock);
	if (rc)
		dfile_note(f, DEVERR_META, "removing checksums", rc, false);
	return rc;
}

int dfile_fd(const struct dfile *f)
{
	return f->fd;
}

bool dfile_unsynced(struct dfile *f)
{
	return atomic_load(&f->unsynced);
}

bool dfile_writable(const struct dfile *f)
{
	return !f->write_err;
}

int dfile_write_error(const struct dfile *f)
{
	return f->write_err;
}

void dfile_refuse_writes(struct dfile *f, int err)
{
	if (f->write_err)
		f->write_err = err;
}

void dfile_set_page_cache(struct dfile *f)
{
	f->page_cache = true;
}

void dfile_set_errors(struct dfile *f, struct deverr *errs, unsigned dev)
{
	f->errs = errs;
	f->dev = dev;
}

uint64_t dfile_size(struct dfile *f)
{
	return atomic_load(&f->size);
}

/*
 * On a device that is the page cache (tmpfs) a write is a copy into that
 * cache, made here with pwrite(2) beside the file's other writers (lock
 * shared; the kernel merges partial pages). Write-behind would copy into
 * a stage first and hand the write to an io_uring worker (tmpfs cannot
 * write without blocking), for nothing: once copied the bytes are stored.
 * A write that fits only in part (a full tmpfs) fails whole, what it
 * added past the logical end trimmed away, as a failed claim does on
 * other devices: a short count would reach an O_DIRECT client as EIO
 * (the kernel fails a split direct write whose piece comes back short).
 */
static int write_paged(struct dfile *f, const void *data, size_t len,
		       uint64_t off)
{
	int rc = dfio_page_fd(f);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&f->lock);
	rc = dfio_write_paged(f, data, len, off);
	if (rc) {
		/* the trim needs every other writer out of the way */
		pthread_rwlock_unlock(&f->lock);
		pthread_rwlock_wrlock(&f->lock);
		dfio_repair(f, off + len);
	}
	pthread_rwlock_unlock(&f->lock);
	return rc;
}

/*
 * A write without write-behind, the lock held (exclusive if @excl, which
 * an unaligned write needs): an aligned one to the device, any other
 * through the page cache.
 */
static int write_sync(struct dfile *f, struct dio_ctx *ctx, const void *data,
		      size_t len, uint64_t off, bool excl)
{
	int rc;

	if (!is_aligned(off, f->align) || !is_aligned(len, f->align))
		return dfio_write_cached(f, data, len, off);
	rc = dfio_write_direct(f, ctx, data, len, off);
	if (rc) {
		if (!excl) {
			/* Repair needs every other writer out of the way. */
			pthread_rwlock_unlock(&f->lock);
			pthread_rwlock_wrlock(&f->lock);
		}
		dfio_repair(f, off + len);
	}
	return rc;
}

static ssize_t write_any(struct dfile *f, const void *data, size_t len,
			 uint64_t off, struct dfile_lend *lend);

ssize_t dfile_write(struct dfile *f, const void *data, size_t len,
		    uint64_t off)
{
	return write_any(f, data, len, off, NULL);
}

ssize_t dfile_write_lent(struct dfile *f, const void *data, size_t len,
			 uint64_t off, struct dfile_lend *lend)
{
	lend->kept = false;
	return write_any(f, data, len, off, lend);
}

static ssize_t write_any(struct dfile *f, const void *data, size_t len,
			 uint64_t off, struct dfile_lend *lend)
{
	uint64_t bs = f->align;
	struct dio_ctx *ctx;
	bool wb, excl;
	int rc;

	if (f->write_err)
		return f->write_err;
	if (!len)
		return 0;
	/* Keep align_up() of the end inside off_t. */
	if (off > (uint64_t)INT64_MAX - bs || len > (uint64_t)INT64_MAX - bs - off)
		return -EFBIG;
	rc = sum_change(f);
	if (rc)
		return rc;
	dfile_changed(f);
	if (f->page_cache) {
		rc = write_paged(f, data, len, off);
		dfile_sum_wrote(f, data, len, off, rc);
		return rc ? rc : (ssize_t)len;
	}
	rc = dio_ctx_get(f->dio, &ctx);
	if (rc)
		return rc;
	wb = f->io->wb.ring != NULL;
	excl = wb || !is_aligned(off, bs) || !is_aligned(len, bs);
	if (excl)
		pthread_rwlock_wrlock(&f->lock);
	else
		pthread_rwlock_rdlock(&f->lock);
	if (wb) {
		rc = dfile_wb_take_error(f);
		if (!rc)
			rc = dfile_wb_write(f, ctx, data, len, off, lend);
	} else {
		rc = write_sync(f, ctx, data, len, off, excl);
	}
	dfile_sum_wrote(f, data, len, off, rc);
	dfile_changed(f);	/* what was read ahead meanwhile is old */
	pthread_rwlock_unlock(&f->lock);
	return rc ? rc : (ssize_t)len;
}

int dfile_truncate(struct dfile *f, uint64_t size)
{
	uint64_t old;
	int rc;

	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	/* with the writes landed, the backing file has the logical size */
	pthread_rwlock_wrlock(&f->lock);
	dfile_changed(f);
	dfile_wb_drain(f);
	old = atomic_load(&f->size);
	rc = dfile_sum_change(f);
	if (rc) {
		dfile_note(f, DEVERR_META, "removing checksums", rc, false);
	} else if (ftruncate(f->fd, (off_t)size) < 0) {
		rc = -errno;
		dfile_note(f, DEVERR_META, "truncate", rc, false);
	} else {
		atomic_store(&f->size, size);
		dfile_sum_truncated(f, old);
		if (f->cached_hi > size)
			f->cached_hi = size;
		if (f->alloc_hi > size)
			f->alloc_hi = size;
		/* a claim the drain could not give back went with the trim */
		f->claim_lo = f->claimed = 0;
		atomic_store(&f->over, false);
	}
	pthread_rwlock_unlock(&f->lock);
	return rc;
}

int dfile_fsync(struct dfile *f, bool datasync)
{
	int rc;

	rc = dfile_settle(f);
	if (rc)
		return rc;
	/* a page-cache write after this point sets it again */
	atomic_store(&f->unsynced, false);
	if ((datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0) {
		rc = -errno;
		atomic_store(&f->unsynced, true);
		dfile_note(f, DEVERR_FSYNC, NULL, rc, false);
		return rc;
	}
	return 0;
}

/*
 * After an fallocate at @off of a file @old bytes long: what changed for
 * the checksums. Allocating changes no byte, but may add zeros at the
 * end; punching, zeroing, collapsing or inserting changes every byte
 * from @off on, as far as the longer of the two sizes.
 */
static void fallocated(struct dfile *f, int mode, uint64_t off, uint64_t old)
{
	uint64_t size = atomic_load(&f->size);
	uint64_t end = size > old ? size : old;

	if (!(mode & ~FALLOC_FL_KEEP_SIZE))
		dfile_sum_truncated(f, old);
	else if (end > off)
		dfile_sum_touched(f, off, end - off);
}

int dfile_fallocate(struct dfile *f, int mode, uint64_t off, uint64_t len)
{
	struct stat st;
	uint64_t old;
	int rc;

	if (f->write_err)
		return f->write_err;
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX)
		return -EFBIG;
	pthread_rwlock_wrlock(&f->lock);
	dfile_changed(f);
	/* with the writes landed, the backing file has the logical size */
	dfile_wb_drain(f);
	old = atomic_load(&f->size);
	rc = dfile_sum_change(f);
	/* not while a claim is held: its trim would take these blocks too */
	if (!rc && atomic_load(&f->over))
		rc = dfile_wb_take_error(f) ?: -EIO;
	if (!rc && fallocate(f->fd, mode, (off_t)off, (off_t)len) < 0) {
		rc = -errno;
		dfile_note(f, DEVERR_META, "fallocate", rc, false);
	}
	f->alloc_lo = f->alloc_hi = 0;	/* a punch or collapse moved data */
	if (!rc && fstat(f->fd, &st) < 0)
		rc = -errno;
	if (!rc) {
		atomic_store(&f->size, (uint64_t)st.st_size);
		fallocated(f, mode, off, old);
	}
	pthread_rwlock_unlock(&f->lock);
	return rc;
}

