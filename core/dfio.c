/*
 * dfio.c - the bottom of the dfile module: the primitives dfile.c and the
 * policies below it (dfile_wb.c, dfile_ra.c) build on. Each does one
 * thing to the backing file with the file's lock held as its caller
 * arranged; none takes that lock, drains, or calls out of this file
 * except into dio.h, deverr.h and the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "align.h"
#include "dfile_i.h"
#include "dio.h"

/* Reopening through /proc also works once the file is unlinked. */
int dfio_page_fd(struct dfile *f)
{
	char proc[64];
	int fd = atomic_load(&f->page_fd), expect = -1;

	if (fd >= 0)
		return fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	fd = open(proc, f->page_acc | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;

		/* told here: its callers return it as their read's or write's */
		dfile_note(f, DEVERR_OPEN, NULL, rc, false);
		return rc;
	}
	if (!atomic_compare_exchange_strong(&f->page_fd, &expect, fd)) {
		close(fd);	/* another thread was first */
		fd = expect;
	}
	return fd;
}

/*
 * Serve [@off, @end) from the page cache if the kernel has all of it
 * there: only inside the range written through it, and without waiting
 * for the device. Lock held. Returns whether @buf was filled.
 */
static bool read_cached(struct dfile *f, char *buf, uint64_t off,
			uint64_t end)
{
	int fd = atomic_load(&f->page_fd);
	struct iovec iov = { .iov_base = buf, .iov_len = end - off };

	if (fd < 0 || off < f->cached_lo || end > f->cached_hi)
		return false;
	return preadv2(fd, &iov, 1, (off_t)off, RWF_NOWAIT) ==
	       (ssize_t)(end - off);
}

/*
 * On a page-cache device (tmpfs) the bytes are copied out of the cache
 * with pread(2): an O_DIRECT read there is the same copy, made by an
 * io_uring worker thread, since tmpfs cannot read without blocking.
 * Returns the count (short only at the backing file's end) or -errno.
 */
static ssize_t read_paged(struct dfile *f, char *buf, size_t len,
			  uint64_t off)
{
	int fd = dfio_page_fd(f);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* dfio_read() as the file's bytes are, unchecked. */
static ssize_t read_raw(struct dfile *f, struct dio_ctx *ctx, size_t len,
			uint64_t off, void *dst, size_t cap, const void **data)
{
	uint64_t size, end, a0, a1;
	struct dio_op op;
	char *buf;
	int rc;

	size = atomic_load(&f->size);
	if (off >= size || !len) {
		/* Still a valid pointer, for callers that memcpy 0 bytes. */
		*data = dio_buf(ctx, 0);
		return 0;
	}
	end = len > size - off ? size : off + len;
	a0 = align_down(off, f->align);
	a1 = align_up(end, f->align);
	/* straight into the caller's buffer if the device can fill it */
	if (dst && a0 == off && a1 - a0 <= cap &&
	    !((uintptr_t)dst % f->align))
		buf = dst;
	else
		buf = dio_buf(ctx, a1 - a0);
	if (!buf)
		return -ENOMEM;
	if (read_cached(f, buf, off, end)) {
		*data = buf;
		return (ssize_t)(end - off);
	}
	if (f->page_cache) {
		ssize_t n = read_paged(f, buf, end - off, off);

		if (n < 0) {
			dfile_note(f, DEVERR_READ, NULL, (int)n, false);
			return n;
		}
		/* past the backing file's end the file is zero */
		memset(buf + n, 0, end - off - (size_t)n);
		*data = buf;
		return (ssize_t)(end - off);
	}

	/*
	 * Pages the page cache still has to write back are written first by
	 * the kernel: an O_DIRECT read sees every write.
	 */
	op = (struct dio_op){
		.fd = f->fd, .buf = buf, .len = a1 - a0, .off = a0,
	};
	rc = dio_submit(ctx, &op, 1);
	if (rc) {
		dfile_note(f, DEVERR_READ, NULL, rc, false);
		return rc;
	}
	/* Past the backing file's end the file is zero. */
	if ((size_t)op.res < op.len)
		memset(buf + op.res, 0, op.len - op.res);
	*data = buf + (off - a0);
	return (ssize_t)(end - off);
}

/*
 * A file with checksums is read in whole units, each checked before any
 * of its bytes are returned: a READ of the kernel's (aligned, at most a
 * unit) fetches just itself; any other fetches the units around it
 * into the bounce buffer.
 */
ssize_t dfio_read(struct dfile *f, struct dio_ctx *ctx, size_t len,
		  uint64_t off, void *dst, size_t cap, const void **data)
{
	uint64_t size = atomic_load(&f->size), end, lo, hi;
	const void *p;
	ssize_t n;
	int rc;

	if (off >= size || !len || atomic_load(&f->sum_state) == SUM_NONE ||
	    atomic_load(&f->sum_state) == SUM_CHANGED)
		return read_raw(f, ctx, len, off, dst, cap, data);
	end = len > size - off ? size : off + len;
	rc = dfile_sum_span(f, off, end - off, &lo, &hi);
	if (rc)
		return rc;
	if (lo == off && hi == end) {
		n = read_raw(f, ctx, len, off, dst, cap, &p);
	} else {
		n = read_raw(f, ctx, hi - lo, lo, NULL, 0, &p);
		if (n >= 0 && (uint64_t)n != hi - lo)
			n = -EIO;	/* the size moved under a shared lock */
	}
	if (n < 0)
		return n;
	rc = dfile_sum_check(f, lo, p, (size_t)(hi - lo));
	if (rc)
		return rc;
	*data = (const char *)p + (off - lo);
	return (ssize_t)(end - off);
}

/* A failed write may have grown the backing file: the file keeps its size. */
void dfio_repair(struct dfile *f, uint64_t end)
{
	uint64_t size = atomic_load(&f->size);

	if (end <= size)
		return;
	if (ftruncate(f->fd, (off_t)size) < 0) {
		/* per failed write: the log sums the repeats */
		dfile_note(f, DEVERR_META, "trim after a failed write", -errno,
			   true);
		return;
	}
	if (f->alloc_hi > size)
		f->alloc_hi = size;
	if (f->grown > size)	/* raised ahead of pieces: no longer */
		f->grown = size;
	/* a stream's claim past the end went with it: claim again */
	if (f->claimed > size)
		f->claimed = size > f->claim_lo ? size : f->claim_lo;
}

int dfio_write_cached(struct dfile *f, const void *data, size_t len,
		      uint64_t off)
{
	const char *p = data;
	uint64_t pos = off, end = off + len;
	ssize_t n;
	int fd = dfio_page_fd(f);

	if (fd < 0)
		return fd;
	while (pos < end) {
		n = pwrite(fd, p, end - pos, (off_t)pos);
		if (n <= 0) {
			int rc = n < 0 ? -errno : -EIO;

			dfile_note(f, DEVERR_WRITE, NULL, rc, false);
			dfio_repair(f, pos);
			return rc;
		}
		p += n;
		pos += (uint64_t)n;
	}
	atomic_store(&f->unsynced, true);
	if (off < f->cached_lo)
		f->cached_lo = off;
	if (end > f->cached_hi)
		f->cached_hi = end;
	dfile_raise(&f->size, end);
	return 0;
}

int dfio_write_direct(struct dfile *f, struct dio_ctx *ctx, const void *data,
		      size_t len, uint64_t off)
{
	struct dio_op op;
	char *buf;
	int rc;

	if (ptr_is_aligned(data, f->align)) {
		/* Already a valid O_DIRECT buffer: no copy. */
		buf = (char *)data;
	} else {
		buf = dio_buf(ctx, len);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, data, len);
	}
	op = (struct dio_op){
		.fd = f->fd, .write = true, .buf = buf, .len = len, .off = off,
	};
	rc = dio_submit(ctx, &op, 1);
	if (rc) {
		dfile_note(f, DEVERR_WRITE, NULL, rc, false);
		return rc;
	}
	dfile_raise(&f->size, off + len);
	return 0;
}

int dfio_write_paged(struct dfile *f, const void *data, size_t len,
		     uint64_t off)
{
	const char *p = data;
	uint64_t pos = off, end = off + len;
	int fd = dfio_page_fd(f);
	ssize_t n;

	if (fd < 0)
		return fd;
	atomic_store(&f->unsynced, true);
	for (; pos < end; p += n, pos += (uint64_t)n) {
		n = pwrite(fd, p, end - pos, (off_t)pos);
		if (n <= 0) {
			int rc = n < 0 ? -errno : -EIO;

			dfile_note(f, DEVERR_WRITE, NULL, rc, false);
			return rc;
		}
	}
	dfile_raise(&f->size, end);
	return 0;
}
