/*
 * uring_i.h - io_uring helpers shared by dio.c (per-thread rings) and
 * aring.c (the shared async ring): preparing an SQE and accounting a
 * completion. Internal to core/.
 */
#ifndef CORE_URING_I_H
#define CORE_URING_I_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <liburing.h>

/*
 * Fill @sqe with a read or write of @len bytes at @off; @fixed uses the
 * ring's registered buffer 0, which @buf must lie inside.
 */
static inline void uring_prep_rw(struct io_uring_sqe *sqe, bool write,
				 bool fixed, int fd, void *buf, unsigned len,
				 uint64_t off)
{
	if (write && fixed)
		io_uring_prep_write_fixed(sqe, fd, buf, len, off, 0);
	else if (write)
		io_uring_prep_write(sqe, fd, buf, len, off);
	else if (fixed)
		io_uring_prep_read_fixed(sqe, fd, buf, len, off, 0);
	else
		io_uring_prep_read(sqe, fd, buf, len, off);
}

/*
 * Account one completion of a read or write (@write) of @len bytes, of
 * which *@done were done before; @res is the CQE's result. Returns true
 * when the rest must be queued again: a short transfer (*@done grown), or
 * -EAGAIN/-EINTR (*@done unchanged; the caller decides how often). Returns
 * false when the op is finished, with *@result the bytes done (a read is
 * short only at end of file) or -errno (-EIO for a write that moved
 * nothing: a write must never stall).
 */
static inline bool uring_account(bool write, size_t len, size_t *done,
				 int res, ssize_t *result)
{
	if (res == -EAGAIN || res == -EINTR)
		return true;
	if (res < 0) {
		*result = res;
		return false;
	}
	if (res == 0) {
		*result = write ? -EIO : (ssize_t)*done;
		return false;
	}
	*done += (size_t)res;
	*result = (ssize_t)*done;
	return *done < len;
}

#endif /* CORE_URING_I_H */
