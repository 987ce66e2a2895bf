/*
 * uring_i.h - io_uring helpers shared by dio.c (per-thread rings) and
 * aring.c (the shared async ring). Internal to core/.
 */
#ifndef CORE_URING_I_H
#define CORE_URING_I_H

#include <stdbool.h>
#include <stdint.h>

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

#endif /* CORE_URING_I_H */
