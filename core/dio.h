/*
 * dio.h - the io_uring O_DIRECT engine.
 *
 * An engine is a set of parameters; every thread that does I/O through it
 * owns one context for it: an io_uring and one aligned bounce buffer
 * registered with it. A context is created on the thread's first call and
 * destroyed when the thread exits, so no lock is ever taken on the I/O
 * path. All offsets, lengths and buffers handed to dio_submit() must
 * already be aligned for the file's device; dfile.h does the aligning.
 */
#ifndef CORE_DIO_H
#define CORE_DIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dio_params {
	unsigned queue_depth;	/* SQ entries per thread ring, e.g. 64 */
	size_t max_io;		/* largest single client request, e.g. 1 MiB */
	unsigned max_align;	/* largest device alignment in use */
};

struct dio;

/*
 * Make an engine with the parameters @p (copied). Returns 0 and the engine
 * in *@out, -EINVAL for a NULL @p, a zero field or an alignment that is
 * not a power of two, or -ENOMEM.
 */
int dio_new(const struct dio_params *p, struct dio **out);

/*
 * Free @d and the calling thread's context for it. Every other thread
 * that did I/O through @d must be done with it; its context stays (unused)
 * until that thread exits. NULL is a no-op.
 */
void dio_free(struct dio *d);

struct dio_ctx;

/*
 * This thread's context for @d, created on first use (ring set up with
 * SINGLE_ISSUER/DEFER_TASKRUN where the kernel has them, buffer registered).
 * The context belongs to the calling thread: never hand it to another one.
 * It is freed when the thread exits or frees @d; a fork()ed child starts
 * afresh. A thread may use several engines, one context each; asking for
 * the engine it used last costs one comparison.
 * Returns 0 and the context in *@out, or -errno (-ENOMEM, or what
 * io_uring_queue_init returned, e.g. -EPERM when io_uring is disabled).
 */
int dio_ctx_get(struct dio *d, struct dio_ctx **out);

/*
 * The context's bounce buffer, page aligned (max_align aligned if that is
 * larger), at least @len bytes: grows (and is re-registered) when @len
 * exceeds its size. It starts at max_io + 2 * max_align, rounded up by
 * iomem_len() (whole huge pages from 1 MiB up). The contents are
 * kept only until the next dio_buf() on this context, and a growing call
 * moves the buffer. Returns NULL on -ENOMEM (the old buffer stays valid).
 */
void *dio_buf(struct dio_ctx *ctx, size_t len);

struct dio_op {
	int fd;
	bool write;
	void *buf;
	size_t len;
	uint64_t off;
	ssize_t res;		/* out: bytes done, or -errno */
};

/*
 * Submit all @n ops at once and wait for every one. A read stops early
 * only at end of file; a short write is retried until done or an error.
 * More ops than the queue depth are fed through the ring as slots free up.
 * Ops whose buf lies inside the bounce buffer use the registered (fixed)
 * buffer; any other aligned buffer works too. A zero-length op completes
 * at once with res 0. Each op's res is filled in. Returns 0 when every op
 * succeeded, else the -errno of the failing op with the lowest index.
 * Should io_uring_enter itself fail (never seen in practice), the context
 * is disabled and this and every later call return that -errno.
 */
int dio_submit(struct dio_ctx *ctx, struct dio_op *ops, unsigned n);

#endif /* CORE_DIO_H */
