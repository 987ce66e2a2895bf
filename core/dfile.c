/*
 * dfile.c - a backing file opened O_DIRECT, read and written at any offset.
 *
 * Unaligned requests become block-aligned device I/O through the calling
 * thread's dio bounce buffer. Invariant: the backing file is never shorter
 * than the logical size, and every byte between the two sizes is zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "align.h"
#include "dfile_i.h"
#include "dio.h"
#include "log.h"

int dfile_open(int dirfd, const char *relpath, int flags, mode_t mode,
	       unsigned align, struct dfile **out)
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
	f->page_fd = -1;

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
	rc = wb_init(f);
	if (rc)
		goto err_destroy_lock;

	/*
	 * Unaligned writes read their edge blocks back, so a write-only
	 * open asks for read access too, and settles for write-only if the
	 * file's mode forbids reading.
	 */
	flags = (flags & ~(O_APPEND | O_ACCMODE)) | O_DIRECT | O_CLOEXEC;
	fd = openat(dirfd, relpath, flags | (acc == O_WRONLY ? O_RDWR : acc),
		    mode);
	if (fd < 0 && errno == EACCES && acc == O_WRONLY)
		fd = openat(dirfd, relpath, flags | O_WRONLY, mode);
	if (fd < 0) {
		rc = -errno;
		goto err_destroy_wb;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto err_close;
	}

	f->fd = fd;
	f->align = align;
	f->writable = acc == O_WRONLY || acc == O_RDWR;
	atomic_init(&f->size, (uint64_t)st.st_size);
	atomic_init(&f->disk_size, (uint64_t)st.st_size);
	*out = f;
	return 0;

err_close:
	close(fd);
err_destroy_wb:
	wb_destroy(f);
err_destroy_lock:
	pthread_rwlock_destroy(&f->lock);
err_free:
	free(f);
	return rc;
}

/* Caller holds the lock exclusively. */
static int dfile_trim_locked(struct dfile *f)
{
	uint64_t size = atomic_load(&f->size);
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT } };
	struct stat st;

	if (atomic_load(&f->disk_size) <= size)
		return 0;
	/*
	 * Trimming the padding is no change of content: keep the mtime the
	 * last write or the client (cp -a, tar) gave the file.
	 */
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (ftruncate(f->fd, (off_t)size) < 0)
		return -errno;
	atomic_store(&f->disk_size, size);
	times[1] = st.st_mtim;
	if (futimens(f->fd, times) < 0)
		return -errno;
	return 0;
}

/*
 * Everything written is on the device and the backing file has the true
 * size. Reports a write-behind failure not reported yet. Lock exclusive.
 */
static int dfile_settle_locked(struct dfile *f)
{
	int err, rc;

	wb_drain(f);
	err = wb_take_error(f);
	rc = dfile_trim_locked(f);
	return err ? err : rc;
}

void dfile_drain(struct dfile *f)
{
	if (!atomic_load(&f->wb_pending))
		return;
	pthread_rwlock_wrlock(&f->lock);
	wb_drain(f);
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
	if (close(f->fd) < 0 && !rc)
		rc = -errno;
	if (f->page_fd >= 0)
		close(f->page_fd);
	wb_destroy(f);
	pthread_rwlock_destroy(&f->lock);
	free(f);
	return rc;
}

int dfile_fd(const struct dfile *f)
{
	return f->fd;
}

bool dfile_writable(const struct dfile *f)
{
	return f->writable;
}

uint64_t dfile_size(struct dfile *f)
{
	return atomic_load(&f->size);
}

ssize_t dfile_read(struct dfile *f, size_t len, uint64_t off,
		   const void **data)
{
	uint64_t size, end, a0, a1;
	struct dio_ctx *ctx;
	struct dio_op op;
	ssize_t ret;
	char *buf;
	int rc;

	rc = dio_ctx_get(&ctx);
	if (rc)
		return rc;

	dfile_drain(f);	/* the device must have what was written */
	pthread_rwlock_rdlock(&f->lock);
	size = atomic_load(&f->size);
	if (off >= size || !len) {
		/* Still a valid pointer, for callers that memcpy 0 bytes. */
		*data = dio_buf(ctx, 0);
		ret = 0;
		goto out_unlock;
	}
	end = len > size - off ? size : off + len;
	a0 = align_down(off, f->align);
	a1 = align_up(end, f->align);
	buf = dio_buf(ctx, a1 - a0);
	if (!buf) {
		ret = -ENOMEM;
		goto out_unlock;
	}

	op = (struct dio_op){
		.fd = f->fd, .buf = buf, .len = a1 - a0, .off = a0,
	};
	rc = dio_submit(ctx, &op, 1);
	if (rc) {
		ret = rc;
		goto out_unlock;
	}
	/* Past the backing file's end (padding trimmed) the file is zero. */
	if ((size_t)op.res < op.len)
		memset(buf + op.res, 0, op.len - op.res);
	*data = buf + (off - a0);
	ret = (ssize_t)(end - off);

out_unlock:
	pthread_rwlock_unlock(&f->lock);
	return ret;
}

/* Reopen the backing file without O_DIRECT (also works once unlinked). */
static int page_fd(struct dfile *f)
{
	char proc[64];
	int fd = atomic_load(&f->page_fd), expect = -1;

	if (fd >= 0)
		return fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!atomic_compare_exchange_strong(&f->page_fd, &expect, fd)) {
		close(fd);	/* another thread was first */
		fd = expect;
	}
	return fd;
}

ssize_t dfile_span_begin(struct dfile *f, size_t len, uint64_t off, int *fd)
{
	uint64_t size;
	int rc = page_fd(f);

	if (rc < 0)
		return rc;
	*fd = rc;
	dfile_drain(f);
	pthread_rwlock_rdlock(&f->lock);
	size = atomic_load(&f->size);
	if (off >= size)
		return 0;
	return (ssize_t)(len < size - off ? len : size - off);
}

void dfile_span_end(struct dfile *f)
{
	pthread_rwlock_unlock(&f->lock);
}

/*
 * Fill the unaligned edges of the image of [@a0, @a1) in @buf around the
 * payload [@off, @end): the head and tail blocks are read in one submit
 * where the backing file has them, zeros stand in for the rest. Caller
 * holds the lock exclusively, so disk_size is stable.
 */
static int dfile_load_edges(struct dfile *f, struct dio_ctx *ctx, char *buf,
			    uint64_t off, uint64_t end, uint64_t a0,
			    uint64_t a1)
{
	uint64_t disk = atomic_load(&f->disk_size);
	uint64_t bs = f->align, t0 = a1 - bs;
	bool head_need = off != a0, tail_need = end != a1;
	bool head_ok = false, tail_ok = false;
	struct dio_op ops[2];
	unsigned i, n = 0;
	int rc;

	if (head_need && a0 < disk) {
		ops[n++] = (struct dio_op){
			.fd = f->fd, .buf = buf, .len = bs, .off = a0,
		};
		head_ok = true;
		tail_ok = t0 == a0;
	}
	if (tail_need && !tail_ok && t0 < disk) {
		ops[n++] = (struct dio_op){
			.fd = f->fd, .buf = buf + (t0 - a0), .len = bs,
			.off = t0,
		};
		tail_ok = true;
	}
	if (n) {
		rc = dio_submit(ctx, ops, n);
		if (rc)
			return rc;
		for (i = 0; i < n; i++)
			if ((size_t)ops[i].res < bs)
				memset((char *)ops[i].buf + ops[i].res, 0,
				       bs - ops[i].res);
	}
	if (head_need && !head_ok)
		memset(buf, 0, off - a0);
	if (tail_need && !tail_ok)
		memset(buf + (end - a0), 0, a1 - end);
	return 0;
}

/*
 * A failed write may have left payload or padding past the logical size,
 * or grown the backing file beyond what disk_size says: trim the backing
 * file to the logical size, which restores the invariant (the kernel zeroes
 * the rest of the last block). Called with the lock exclusive.
 */
static void dfile_repair_locked(struct dfile *f, uint64_t a1)
{
	uint64_t size = atomic_load(&f->size);

	if (a1 <= size)
		return;
	if (ftruncate(f->fd, (off_t)size) < 0) {
		log_warn("cannot trim backing file after a failed write: %s",
			 strerror(errno));
		return;
	}
	atomic_store(&f->disk_size, size);
}

int dfile_write_sync(struct dfile *f, struct dio_ctx *ctx, const void *data,
		     size_t len, uint64_t off, bool excl)
{
	uint64_t bs = f->align, end = off + len;
	uint64_t a0 = align_down(off, bs), a1 = align_up(end, bs);
	struct dio_op op;
	char *buf;
	int rc;

	if (!excl && ptr_is_aligned(data, bs)) {
		/* Already a valid O_DIRECT buffer: no copy. */
		buf = (char *)data;
	} else {
		buf = dio_buf(ctx, a1 - a0);
		if (!buf)
			return -ENOMEM;
		if (a0 != off || a1 != end) {
			rc = dfile_load_edges(f, ctx, buf, off, end, a0, a1);
			if (rc)
				return rc;
		}
		memcpy(buf + (off - a0), data, len);
	}

	op = (struct dio_op){
		.fd = f->fd, .write = true, .buf = buf, .len = a1 - a0,
		.off = a0,
	};
	rc = dio_submit(ctx, &op, 1);
	if (rc) {
		if (!excl) {
			/* Repair needs every other writer out of the way. */
			pthread_rwlock_unlock(&f->lock);
			pthread_rwlock_wrlock(&f->lock);
		}
		dfile_repair_locked(f, a1);
		return rc;
	}
	/* disk_size first: no one may ever see it below size. */
	dfile_raise(&f->disk_size, a1);
	dfile_raise(&f->size, end);
	return 0;
}

ssize_t dfile_write(struct dfile *f, const void *data, size_t len,
		    uint64_t off)
{
	uint64_t bs = f->align;
	struct dio_ctx *ctx;
	bool excl;
	int rc;

	if (!f->writable)
		return -EBADF;
	if (!len)
		return 0;
	/* Keep align_up() of the end inside off_t. */
	if (off > (uint64_t)INT64_MAX - bs || len > (uint64_t)INT64_MAX - bs - off)
		return -EFBIG;
	rc = dio_ctx_get(&ctx);
	if (rc)
		return rc;
	excl = wb_enabled() || !is_aligned(off, bs) || !is_aligned(len, bs);
	if (excl)
		pthread_rwlock_wrlock(&f->lock);
	else
		pthread_rwlock_rdlock(&f->lock);
	if (wb_enabled()) {
		rc = wb_take_error(f);
		if (!rc)
			rc = wb_write(f, ctx, data, len, off);
	} else {
		rc = dfile_write_sync(f, ctx, data, len, off, excl);
	}
	pthread_rwlock_unlock(&f->lock);
	return rc ? rc : (ssize_t)len;
}

int dfile_truncate(struct dfile *f, uint64_t size)
{
	int rc = 0;

	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	/*
	 * By the invariant, [size, disk_size) is zero already and the
	 * kernel zeroes the tail of the last block when it shrinks a file,
	 * so one ftruncate() leaves everything past the new end zero.
	 */
	pthread_rwlock_wrlock(&f->lock);
	wb_drain(f);
	if (ftruncate(f->fd, (off_t)size) < 0) {
		rc = -errno;
	} else {
		atomic_store(&f->size, size);
		atomic_store(&f->disk_size, size);
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
	if ((datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		return -errno;
	return 0;
}

int dfile_fallocate(struct dfile *f, int mode, uint64_t off, uint64_t len)
{
	struct stat st;
	int rc;

	if (!f->writable)
		return -EBADF;
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX)
		return -EFBIG;
	pthread_rwlock_wrlock(&f->lock);
	/* with no padding the backing file's size is the logical size */
	wb_drain(f);
	rc = dfile_trim_locked(f);
	if (!rc && fallocate(f->fd, mode, (off_t)off, (off_t)len) < 0)
		rc = -errno;
	if (!rc && fstat(f->fd, &st) < 0)
		rc = -errno;
	if (!rc) {
		atomic_store(&f->size, (uint64_t)st.st_size);
		atomic_store(&f->disk_size, (uint64_t)st.st_size);
	}
	pthread_rwlock_unlock(&f->lock);
	return rc;
}

int64_t dfile_seek(struct dfile *f, uint64_t off, int whence)
{
	uint64_t size;
	off_t pos;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	dfile_drain(f);	/* the device must have what was written */
	pthread_rwlock_rdlock(&f->lock);
	size = atomic_load(&f->size);
	if (off >= size) {
		pthread_rwlock_unlock(&f->lock);
		return -ENXIO;
	}
	pos = lseek(f->fd, (off_t)off, whence);
	pthread_rwlock_unlock(&f->lock);
	if (pos < 0)
		return errno == ENXIO && whence == SEEK_HOLE ? (int64_t)size :
							       -errno;
	if ((uint64_t)pos >= size)
		return whence == SEEK_HOLE ? (int64_t)size : -ENXIO;
	return pos;
}
