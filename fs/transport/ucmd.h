/*
 * ucmd.h - a thread's own io_uring for driver commands
 * (IORING_OP_URING_CMD): submit a command to a file, wait for its answer.
 *
 * The ring is 128-byte-SQE (the command block is up to 80 bytes), created
 * single-issuer with deferred task work: only the thread that created it
 * may use it, and the kernel's work for it runs when that thread waits.
 * No FUSE here: the command numbers and blocks are the caller's (fring.c).
 */
#ifndef FS_TRANSPORT_UCMD_H
#define FS_TRANSPORT_UCMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define UCMD_BLOCK_MAX 80	/* bytes of command block an SQE carries */

struct ucmd;

/*
 * A ring for @depth commands outstanding at once, owned by the calling
 * thread. Returns 0 or -errno (-ENOMEM, or io_uring's own refusal).
 */
int ucmd_new(unsigned depth, struct ucmd **out);

/* Free the ring; its outstanding commands are cancelled. NULL: no-op. */
void ucmd_free(struct ucmd *u);

/*
 * Queue command @op on @fd with block @blk (@blk_len <= UCMD_BLOCK_MAX,
 * the rest zeroed) and buffers @iov/@iovcnt (passed as addr/len; the
 * array must outlive the command). @tag comes back with its completion.
 * Nothing is sent before ucmd_wait(). Returns 0, -EBUSY if the queue is
 * full, or -EINVAL.
 */
int ucmd_queue(struct ucmd *u, int fd, uint32_t op, const void *blk,
	       size_t blk_len, const struct iovec *iov, unsigned iovcnt,
	       uint64_t tag);

/*
 * Send what is queued and wait up to @timeout_ms for one completion: the
 * command's result (>= 0, or -errno from the driver) in *@res, its tag in
 * *@tag. Returns 0, -ETIME if none came in time, or -errno if waiting
 * itself failed.
 */
int ucmd_wait(struct ucmd *u, unsigned timeout_ms, int32_t *res,
	      uint64_t *tag);

#endif /* FS_TRANSPORT_UCMD_H */
