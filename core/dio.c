/*
 * dio.c - the per-thread io_uring O_DIRECT engine.
 *
 * A thread's context (ring, bounce buffer, retry slots) is created on its
 * first call and freed by a pthread key destructor when the thread exits.
 * Only the owning thread ever touches it, so the I/O path takes no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "align.h"
#include "dio.h"
#include "iomem.h"
#include "log.h"
#include "uring_i.h"

/*
 * One SQE moves at most this much; the kernel caps a read or write at
 * about 2 GiB anyway. A power of two, so it keeps every alignment.
 */
#define DIO_CHUNK_MAX	(1U << 30)

/* How often one dio_submit() retries -EAGAIN/-EINTR before giving up. */
#define DIO_AGAIN_MAX	1000

struct dio_ctx {
	struct io_uring ring;
	unsigned depth;		/* SQ entries: also the cap on ops in flight */
	void *buf;		/* bounce buffer, dio_buf_align() aligned */
	size_t buf_len;
	bool registered;	/* buf is the ring's fixed buffer 0 */
	int broken;		/* -errno once io_uring_enter failed for good */
	unsigned *retry;	/* indices of ops to resubmit, depth slots */
};

/* Written by dio_setup() before any I/O thread exists, then read only. */
static struct dio_params dio_params = {
	.queue_depth = 64,
	.max_io = 1 << 20,
	.max_align = 4096,
};

static pthread_once_t dio_once = PTHREAD_ONCE_INIT;
static pthread_key_t dio_key;
static int dio_key_err;
static int dio_unregistered_logged;
static __thread struct dio_ctx *dio_self;

int dio_setup(const struct dio_params *p)
{
	if (!p || !p->queue_depth || !p->max_io || !is_pow2(p->max_align))
		return -EINVAL;
	dio_params = *p;
	return 0;
}

static size_t dio_buf_align(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t align = page > 0 ? (size_t)page : 4096;

	return dio_params.max_align > align ? dio_params.max_align : align;
}

static void dio_ctx_free(struct dio_ctx *ctx)
{
	if (!ctx)
		return;
	/* Tearing the ring down drops the buffer registration with it. */
	io_uring_queue_exit(&ctx->ring);
	free(ctx->buf);
	free(ctx->retry);
	free(ctx);
}

static void dio_key_destroy(void *arg)
{
	dio_ctx_free(arg);
	dio_self = NULL;
}

/*
 * A forked child shares the parent's ring mappings, and a SINGLE_ISSUER
 * ring refuses it anyway: forget the inherited context (dropping only the
 * child's references) so the child builds its own on first use.
 */
static void dio_atfork_child(void)
{
	struct dio_ctx *ctx = dio_self;

	if (!ctx)
		return;
	dio_self = NULL;
	pthread_setspecific(dio_key, NULL);
	dio_ctx_free(ctx);
}

static void dio_init_once(void)
{
	dio_key_err = -pthread_key_create(&dio_key, dio_key_destroy);
	if (!dio_key_err)
		dio_key_err = -pthread_atfork(NULL, NULL, dio_atfork_child);
}

/* Newest setup flags first; older kernels reject unknown ones with EINVAL. */
static int dio_ring_init(struct io_uring *ring, unsigned depth)
{
	static const unsigned flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	size_t i;
	int rc = -EINVAL;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flags[i];
		rc = io_uring_queue_init_params(depth, ring, &p);
		if (rc != -EINVAL)
			break;
	}
	return rc;
}

/*
 * Swap in a fresh buffer of @len bytes and register it. The old buffer is
 * kept if allocation fails. Failing registration (RLIMIT_MEMLOCK, a buffer
 * over the kernel's 1 GiB limit) is not an error: ops then go unregistered.
 */
static int dio_buf_replace(struct dio_ctx *ctx, size_t len)
{
	struct iovec iov;
	void *mem;
	int rc;

	len = iomem_len(len);
	mem = iomem_alloc(len, dio_buf_align());
	if (!mem)
		return -errno;
	if (ctx->registered) {
		io_uring_unregister_buffers(&ctx->ring);
		ctx->registered = false;
	}
	free(ctx->buf);
	ctx->buf = mem;
	ctx->buf_len = len;

	iov.iov_base = mem;
	iov.iov_len = len;
	rc = io_uring_register_buffers(&ctx->ring, &iov, 1);
	if (!rc)
		ctx->registered = true;
	else if (!__atomic_exchange_n(&dio_unregistered_logged, 1,
				      __ATOMIC_RELAXED))
		log_debug("cannot register a %zu byte io_uring buffer, using unregistered I/O: %s",
			  len, strerror(-rc));
	return 0;
}

static int dio_ctx_new(struct dio_ctx **out)
{
	size_t align = dio_buf_align();
	struct dio_ctx *ctx;
	size_t len;
	int rc;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->depth = dio_params.queue_depth;
	ctx->retry = calloc(ctx->depth, sizeof(*ctx->retry));
	if (!ctx->retry) {
		rc = -ENOMEM;
		goto err_free_ctx;
	}
	rc = dio_ring_init(&ctx->ring, ctx->depth);
	if (rc)
		goto err_free_retry;

	/* Room for max_io starting mid-block plus both edge blocks. */
	len = align_up(dio_params.max_io + 2 * (size_t)dio_params.max_align,
		       align);
	rc = dio_buf_replace(ctx, len);
	if (rc)
		goto err_exit_ring;
	*out = ctx;
	return 0;

err_exit_ring:
	io_uring_queue_exit(&ctx->ring);
err_free_retry:
	free(ctx->retry);
err_free_ctx:
	free(ctx);
	return rc;
}

int dio_ctx_get(struct dio_ctx **out)
{
	struct dio_ctx *ctx = dio_self;
	int rc;

	if (ctx) {
		*out = ctx;
		return 0;
	}
	pthread_once(&dio_once, dio_init_once);
	if (dio_key_err)
		return dio_key_err;
	rc = dio_ctx_new(&ctx);
	if (rc)
		return rc;
	rc = -pthread_setspecific(dio_key, ctx);
	if (rc) {
		dio_ctx_free(ctx);
		return rc;
	}
	dio_self = ctx;
	*out = ctx;
	return 0;
}

void *dio_buf(struct dio_ctx *ctx, size_t len)
{
	size_t align;

	if (len <= ctx->buf_len)
		return ctx->buf;
	align = dio_buf_align();
	if (len > SIZE_MAX - align)
		return NULL;
	if (dio_buf_replace(ctx, align_up(len, align)))
		return NULL;
	return ctx->buf;
}

/* Queue the part of @op not done yet (op->res bytes are). */
static void dio_prep(struct dio_ctx *ctx, struct io_uring_sqe *sqe,
		     const struct dio_op *op, unsigned idx)
{
	size_t done = (size_t)op->res;
	char *buf = (char *)op->buf + done;
	size_t left = op->len - done;
	unsigned len = left > DIO_CHUNK_MAX ? DIO_CHUNK_MAX : (unsigned)left;
	uint64_t off = op->off + done;
	uintptr_t lo = (uintptr_t)ctx->buf;
	uintptr_t p = (uintptr_t)buf;
	bool fixed;

	fixed = ctx->registered && p >= lo && p - lo <= ctx->buf_len &&
		len <= ctx->buf_len - (p - lo);
	uring_prep_rw(sqe, op->write, fixed, op->fd, buf, len, off);
	io_uring_sqe_set_data64(sqe, idx);
}

/*
 * Account one completion. Returns true when the op must be queued again:
 * a short transfer (except a read hitting end of file) or -EAGAIN/-EINTR.
 */
static bool dio_complete(struct dio_op *op, int res, unsigned *again)
{
	size_t done = (size_t)op->res;
	ssize_t result;

	if ((res == -EAGAIN || res == -EINTR) && ++*again > DIO_AGAIN_MAX) {
		op->res = res;
		return false;
	}
	if (uring_account(op->write, op->len, &done, res, &result)) {
		op->res = (ssize_t)done;
		return true;
	}
	op->res = result;
	return false;
}

/* Stop for good: a ring whose io_uring_enter fails this way is unusable. */
static int dio_break(struct dio_ctx *ctx, struct dio_op *ops, unsigned n,
		     unsigned next, int rc)
{
	log_err("io_uring failed, thread's I/O context disabled: %s",
		strerror(-rc));
	ctx->broken = rc;
	for (; next < n; next++)
		ops[next].res = rc;
	return rc;
}

int dio_submit(struct dio_ctx *ctx, struct dio_op *ops, unsigned n)
{
	unsigned next = 0, inflight = 0, nretry = 0, again = 0;
	struct io_uring_cqe *cqe;
	unsigned i, head, seen;
	int rc;

	if (ctx->broken) {
		for (i = 0; i < n; i++)
			ops[i].res = ctx->broken;
		return n ? ctx->broken : 0;
	}
	for (i = 0; i < n; i++)
		ops[i].res = 0;

	while (next < n || inflight || nretry) {
		/* Resubmissions first; never more than depth in flight. */
		while (inflight < ctx->depth && (nretry || next < n)) {
			struct io_uring_sqe *sqe;
			unsigned idx;

			if (!nretry && !ops[next].len) {
				next++;
				continue;
			}
			sqe = io_uring_get_sqe(&ctx->ring);
			if (!sqe)
				break;
			idx = nretry ? ctx->retry[--nretry] : next++;
			dio_prep(ctx, sqe, &ops[idx], idx);
			inflight++;
		}
		if (!inflight) {
			if (next < n || nretry)
				return dio_break(ctx, ops, n, next, -EIO);
			break;
		}

		rc = io_uring_submit_and_wait(&ctx->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return dio_break(ctx, ops, n, next, rc);

		seen = 0;
		io_uring_for_each_cqe(&ctx->ring, head, cqe) {
			unsigned idx = (unsigned)cqe->user_data;

			seen++;
			inflight--;
			if (dio_complete(&ops[idx], cqe->res, &again))
				ctx->retry[nretry++] = idx;
		}
		io_uring_cq_advance(&ctx->ring, seen);
	}

	for (i = 0; i < n; i++)
		if (ops[i].res < 0)
			return (int)ops[i].res;
	return 0;
}
