/*
 * dfile_read.c - the read entries of the dfile module (dfile_i.h), moved
 * out of dfile.c: each takes the file's lock and drains as dfile.c does,
 * then calls read-ahead (dfile_ra.c) or the primitives (dfio.c,
 * dfile_sum.c) below.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "dfile_i.h"
#include "dio.h"
#include "kvio_i.h"

/*
 * Before a read: look for the file's checksums once. Returns -EAGAIN if
 * its reads are checked, -EIO if its record is bad, else 0.
 */
static int sum_ready(struct dfile *f)
{
	if (atomic_load(&f->sum_state) == SUM_UNKNOWN) {
		pthread_rwlock_wrlock(&f->lock);
		dfile_sum_load(f);
		pthread_rwlock_unlock(&f->lock);
	}
	switch (atomic_load(&f->sum_state)) {
	case SUM_LOADED:
		return -EAGAIN;
	case SUM_BAD:
		return -EIO;
	default:
		return 0;
	}
}

ssize_t dfile_read(struct dfile *f, size_t len, uint64_t off,
		   const void **data)
{
	return dfile_read_to(f, len, off, NULL, 0, data);
}

ssize_t dfile_read_to(struct dfile *f, size_t len, uint64_t off, void *dst,
		      size_t cap, const void **data)
{
	struct dio_ctx *ctx;
	ssize_t ret;
	int rc;

	rc = dio_ctx_get(f->dio, &ctx);
	if (rc)
		return rc;
	if (sum_ready(f) == -EIO)	/* else dfio_read() checks */
		return -EIO;
	dfile_drain(f);	/* the device must have what was written */
	pthread_rwlock_rdlock(&f->lock);
	ret = dfio_read(f, ctx, len, off, dst, cap, data);
	pthread_rwlock_unlock(&f->lock);
	return ret;
}

/*
 * The bytes of a checked file are hashed from the page cache before they
 * are spliced from it, in pieces small enough to stay in the CPU's cache:
 * one extra pass over them, where reading them out to reply would be a
 * copy and a pass.
 */
#define SPAN_PIECE	(256u << 10)

ssize_t dfile_span_begin(struct dfile *f, size_t len, uint64_t off, int *fd)
{
	uint64_t size, n, lo, hi;
	struct dio_ctx *ctx = NULL;
	void *buf = NULL;
	int rc = sum_ready(f);

	if (rc == -EIO)
		return rc;
	if (rc == -EAGAIN) {
		rc = dio_ctx_get(f->dio, &ctx);
		buf = rc ? NULL : dio_buf(ctx, SPAN_PIECE);
		if (!buf)
			return rc ? rc : -ENOMEM;
	}
	rc = dfio_page_fd(f);
	if (rc < 0)
		return rc;
	*fd = rc;
	dfile_drain(f);
	pthread_rwlock_rdlock(&f->lock);
	size = atomic_load(&f->size);
	if (off >= size)
		return 0;
	n = len < size - off ? len : size - off;
	if (buf) {
		rc = dfile_sum_span(f, off, n, &lo, &hi) ?:
		     dfile_sum_check_fd(f, *fd, buf, SPAN_PIECE, lo, hi);
		if (rc) {
			pthread_rwlock_unlock(&f->lock);
			return rc;
		}
	}
	return (ssize_t)n;
}

void dfile_span_end(struct dfile *f)
{
	pthread_rwlock_unlock(&f->lock);
}

/* dfile_read_to() into a view: without read-ahead, or when it cannot. */
static ssize_t read_plain(struct dfile *f, size_t len, uint64_t off,
			  void *dst, size_t cap, struct dfile_view *v)
{
	const void *data;
	ssize_t n = dfile_read_to(f, len, off, dst, cap, &data);

	if (n >= 0) {
		v->iov[0].iov_base = (void *)data;
		v->iov[0].iov_len = (size_t)n;
		v->cnt = 1;
	}
	return n;
}

ssize_t dfile_read_ahead(struct dfile *f, size_t len, uint64_t off,
			 void *dst, size_t cap, struct dfile_view *v)
{
	struct rastream *s;
	struct dio_ctx *ctx;
	ssize_t n;
	int rc;

	memset(v, 0, sizeof(*v));
	/* a bad record fails all; else pieces are checked (if they can be) */
	if (sum_ready(f) == -EIO)
		return -EIO;
	if (!dfile_ra_wants(f, len))
		return read_plain(f, len, off, dst, cap, v);
	s = dfile_ra_stream(f);
	rc = dio_ctx_get(f->dio, &ctx);
	if (!s || rc)
		return s ? rc : read_plain(f, len, off, dst, cap, v);

	dfile_drain(f);	/* the device must have what was written */
	pthread_rwlock_rdlock(&f->lock);
	n = dfile_ra_read(f, s, ctx, len, off, dst, cap, v);
	pthread_rwlock_unlock(&f->lock);
	return n;
}

void dfile_view_end(struct dfile *f, struct dfile_view *v)
{
	dfile_ra_view_end(f, v);
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
