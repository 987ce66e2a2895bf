/*
 * ucmd.c - per-thread rings for IORING_OP_URING_CMD.
 *
 * Single-issuer and deferred task work when the kernel has them (6.1):
 * the driver's completion work then runs inside our own io_uring_enter()
 * instead of interrupting the thread while it does something else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "ucmd.h"

struct ucmd {
	struct io_uring ring;
};

int ucmd_new(unsigned depth, struct ucmd **out)
{
	static const unsigned try[] = {
		IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_SQE128,
	};
	struct ucmd *u = calloc(1, sizeof(*u));
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(try) / sizeof(try[0]); i++) {
		rc = io_uring_queue_init(depth, &u->ring, try[i]);
		if (rc != -EINVAL)
			break;
	}
	if (rc) {
		free(u);
		return rc;
	}
	*out = u;
	return 0;
}

void ucmd_free(struct ucmd *u)
{
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	free(u);
}

int ucmd_queue(struct ucmd *u, int fd, uint32_t op, const void *blk,
	       size_t blk_len, const struct iovec *iov, unsigned iovcnt,
	       uint64_t tag)
{
	struct io_uring_sqe *sqe;

	if (blk_len > UCMD_BLOCK_MAX)
		return -EINVAL;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -EBUSY;
	/* a 128-byte SQE: the command block follows the first 48 bytes */
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	sqe->addr = (uintptr_t)iov;
	sqe->len = iovcnt;
	sqe->user_data = tag;
	if (blk_len)
		memcpy(sqe->cmd, blk, blk_len);
	return 0;
}

int ucmd_wait(struct ucmd *u, unsigned timeout_ms, int32_t *res,
	      uint64_t *tag)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	struct io_uring_cqe *cqe = NULL;
	int rc;

	do
		rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts,
						      NULL);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	/* some liburing versions return the count submitted instead */
	if (!cqe && io_uring_peek_cqe(&u->ring, &cqe))
		return -ETIME;
	*res = cqe->res;
	*tag = cqe->user_data;
	io_uring_cqe_seen(&u->ring, cqe);
	return 0;
}
