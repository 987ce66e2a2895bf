/*
 * dio.c - the per-thread io_uring O_DIRECT engine.
 *
 * An engine (struct dio) is its parameters. A thread's context for it
 * (ring, bounce buffer, retry slots) is created on the thread's first call
 * and freed when the thread exits (a pthread key destructor) or when the
 * thread frees the engine. Only the owning thread ever touches a context,
 * so the I/O path takes no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

struct dio {
	struct dio_params p;	/* read only once made */
	uint64_t id;		/* unique in the process, never reused */
	size_t buf_align;	/* of bounce buffers: page, or max_align */
	atomic_bool unregistered_logged;
};

struct dio_ctx {
	struct io_uring ring;
	uint64_t owner;		/* the id of the engine it was made for */
	struct dio *dio;	/* that engine: read only while in use, which
				 * is while the engine lives */
	struct dio_ctx *next;	/* the thread's other contexts */
	unsigned depth;		/* SQ entries: also the cap on ops in flight */
	size_t buf_align;	/* the engine's, for growing the buffer */
	void *buf;		/* bounce buffer, buf_align aligned */
	size_t buf_len;
	bool registered;	/* buf is the ring's fixed buffer 0 */
	int broken;		/* -errno once io_uring_enter failed for good */
	unsigned *retry;	/* indices of ops to resubmit, depth slots */
};

/*
 * No I/O setting is kept here, only identities and per-thread caches:
 * engine ids come from a counter, so a context is matched to its engine
 * by id and a freed engine's address reused by a new one never finds the
 * old engine's contexts. Each thread keeps a list of its contexts, one
 * per engine it did I/O through (the value of dio_key, whose destructor
 * frees them), and the one it used last, so that with one engine (or a
 * thread that stays on one device) dio_ctx_get() is one comparison.
 */
static atomic_uint_fast64_t dio_ids;
static pthread_once_t dio_once = PTHREAD_ONCE_INIT;
static pthread_key_t dio_key;
static int dio_key_err;
static __thread struct dio_ctx *dio_mine;	/* the list */
static __thread struct dio_ctx *dio_last;	/* the one used last */

int dio_new(const struct dio_params *p, struct dio **out)
{
	long page = sysconf(_SC_PAGESIZE);
	struct dio *d;

	if (!p || !p->queue_depth || !p->max_io || !is_pow2(p->max_align))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->p = *p;
	d->id = atomic_fetch_add(&dio_ids, 1) + 1;
	d->buf_align = page > 0 ? (size_t)page : 4096;
	if (p->max_align > d->buf_align)
		d->buf_align = p->max_align;
	*out = d;
	return 0;
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

/* Free every context of the list @arg (the thread's, at its exit). */
static void dio_key_destroy(void *arg)
{
	struct dio_ctx *ctx = arg, *next;

	for (; ctx; ctx = next) {
		next = ctx->next;
		dio_ctx_free(ctx);
	}
	dio_mine = NULL;
	dio_last = NULL;
}

/*
 * A forked child shares the parent's ring mappings, and a SINGLE_ISSUER
 * ring refuses it anyway: forget the inherited contexts (dropping only the
 * child's references) so the child builds its own on first use.
 */
static void dio_atfork_child(void)
{
	struct dio_ctx *list = dio_mine;

	if (!list)
		return;
	pthread_setspecific(dio_key, NULL);
	dio_key_destroy(list);
}

static void dio_init_once(void)
{
	dio_key_err = -pthread_key_create(&dio_key, dio_key_destroy);
	if (!dio_key_err)
		dio_key_err = -pthread_atfork(NULL, NULL, dio_atfork_child);
}

void dio_free(struct dio *d)
{
	struct dio_ctx **pp;

	if (!d)
		return;
	/* the calling thread's context; other threads free theirs at exit */
	for (pp = &dio_mine; *pp; pp = &(*pp)->next) {
		struct dio_ctx *ctx = *pp;

		if (ctx->owner != d->id)
			continue;
		*pp = ctx->next;
		if (dio_last == ctx)
			dio_last = NULL;
		pthread_setspecific(dio_key, dio_mine);
		dio_ctx_free(ctx);
		break;
	}
	free(d);
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
 * over the kernel's 1 GiB limit) is not an error: ops then go unregistered
 * (said once per engine).
 */
static int dio_buf_replace(struct dio_ctx *ctx, size_t len)
{
	struct dio *d = ctx->dio;
	struct iovec iov;
	void *mem;
	int rc;

	len = iomem_len(len);
	mem = iomem_alloc(len, ctx->buf_align);
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
	else if (!atomic_exchange(&d->unregistered_logged, true))
		log_debug("cannot register a %zu byte io_uring buffer, using unregistered I/O: %s",
			  len, strerror(-rc));
	return 0;
}

static int dio_ctx_new(struct dio *d, struct dio_ctx **out)
{
	struct dio_ctx *ctx;
	size_t len;
	int rc;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->owner = d->id;
	ctx->dio = d;
	ctx->buf_align = d->buf_align;
	ctx->depth = d->p.queue_depth;
	ctx->retry = calloc(ctx->depth, sizeof(*ctx->retry));
	if (!ctx->retry) {
		rc = -ENOMEM;
		goto err_free_ctx;
	}
	rc = dio_ring_init(&ctx->ring, ctx->depth);
	if (rc)
		goto err_free_retry;

	/* Room for max_io starting mid-block plus both edge blocks. */
	len = align_up(d->p.max_io + 2 * (size_t)d->p.max_align,
		       d->buf_align);
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

/* Not the context used last: another of the thread's, or a new one. */
static int dio_ctx_find(struct dio *d, struct dio_ctx **out)
{
	struct dio_ctx *ctx;
	int rc;

	for (ctx = dio_mine; ctx; ctx = ctx->next) {
		if (ctx->owner == d->id) {
			dio_last = *out = ctx;
			return 0;
		}
	}
	pthread_once(&dio_once, dio_init_once);
	if (dio_key_err)
		return dio_key_err;
	rc = dio_ctx_new(d, &ctx);
	if (rc)
		return rc;
	ctx->next = dio_mine;
	rc = -pthread_setspecific(dio_key, ctx);
	if (rc) {
		dio_ctx_free(ctx);
		return rc;
	}
	dio_mine = dio_last = *out = ctx;
	return 0;
}

int dio_ctx_get(struct dio *d, struct dio_ctx **out)
{
	struct dio_ctx *ctx = dio_last;

	if (ctx && ctx->owner == d->id) {
		*out = ctx;
		return 0;
	}
	return dio_ctx_find(d, out);
}

void *dio_buf(struct dio_ctx *ctx, size_t len)
{
	size_t align = ctx->buf_align;

	if (len <= ctx->buf_len)
		return ctx->buf;
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
