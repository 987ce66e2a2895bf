/*
 * aring.c - the shared asynchronous ring and its reaper thread.
 *
 * Submitters take the ring's lock only to fill an SQE and enter the kernel.
 * The reaper is the only thread reading the completion queue, so callbacks
 * run in completion order with no lock held. An op's slot index is its
 * user_data; slots return to the free list after the callback ran.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "aring.h"
#include "caller.h"
#include "log.h"
#include "uring_i.h"

#define STOP_TAG UINT64_MAX	/* the NOP that tells the reaper to leave */

struct aop {
	int fd;
	bool write;
	char *buf;
	size_t len;
	uint64_t off;
	size_t done;		/* bytes transferred so far */
	aring_cb cb;
	void *arg;
	struct caller who;	/* its submitter's identity (caller.h) */
	struct aop *next_free;
};

struct aring {
	struct io_uring ring;
	pthread_mutex_t lock;	/* the SQ, the slots, the fields below */
	pthread_cond_t changed;	/* a slot came free, or inflight dropped */
	struct aop *slots;
	unsigned nslots;
	struct aop *free;
	unsigned inflight;
	char *fixed;
	size_t fixed_len;
	bool registered;
	bool started;
	pthread_t reaper;
};

/* Queue the rest of @op. Caller holds ar->lock. */
static int queue_locked(struct aring *ar, struct aop *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ar->ring);
	char *buf = op->buf + op->done;
	unsigned len = (unsigned)(op->len - op->done);
	uint64_t off = op->off + op->done;
	bool fixed;
	int rc;

	if (!sqe) {
		/* the SQ holds only what was queued but not yet entered */
		io_uring_submit(&ar->ring);
		sqe = io_uring_get_sqe(&ar->ring);
		if (!sqe)
			return -EBUSY;
	}
	fixed = ar->registered && buf >= ar->fixed &&
		buf + len <= ar->fixed + ar->fixed_len;
	uring_prep_rw(sqe, op->write, fixed, op->fd, buf, len, off);
	io_uring_sqe_set_data64(sqe, (uint64_t)(op - ar->slots));
	/*
	 * The SQE is in the ring now, and an enter that fails leaves it
	 * there to go with the next one: returning that failure would let
	 * the caller reuse the slot and the buffer under an I/O still to
	 * come. The kernel refuses an enter only for want of memory (EAGAIN)
	 * or a full completion queue (EBUSY, which the reaper empties
	 * without this lock), so those are retried; anything else means the
	 * ring itself is unusable and nothing it holds will run.
	 */
	while ((rc = io_uring_submit(&ar->ring)) == -EAGAIN || rc == -EBUSY ||
	       rc == -EINTR)
		sched_yield();
	return rc < 0 ? rc : 0;
}

static void *reaper_main(void *arg)
{
	struct aring *ar = arg;

	for (;;) {
		struct io_uring_cqe *cqe;
		struct aop *op;
		ssize_t result;
		uint64_t tag;
		int rc, res;

		rc = io_uring_wait_cqe(&ar->ring, &cqe);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc) {
			log_err("async ring failed: %s", strerror(-rc));
			return NULL;
		}
		tag = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&ar->ring, cqe);
		if (tag == STOP_TAG)
			return NULL;
		op = &ar->slots[tag];
		if (uring_account(op->write, op->len, &op->done, res, &result)) {
			/* the rest runs with the credentials of the reaper */
			rc = caller_enter(op->who);
			pthread_mutex_lock(&ar->lock);
			if (!rc)
				rc = queue_locked(ar, op);
			pthread_mutex_unlock(&ar->lock);
			if (!rc)
				continue;
			result = rc;
		}
		op->cb(op->arg, result);
		pthread_mutex_lock(&ar->lock);
		op->next_free = ar->free;
		ar->free = op;
		ar->inflight--;
		pthread_cond_broadcast(&ar->changed);
		pthread_mutex_unlock(&ar->lock);
	}
}

int aring_new(unsigned slots, void *fixed, size_t fixed_len,
	      struct aring **out)
{
	struct aring *ar;
	int rc;

	ar = calloc(1, sizeof(*ar));
	if (!ar)
		return -ENOMEM;
	ar->slots = calloc(slots, sizeof(*ar->slots));
	if (!ar->slots) {
		rc = -ENOMEM;
		goto err_free;
	}
	ar->nslots = slots;
	for (unsigned i = 0; i < slots; i++) {
		ar->slots[i].next_free = ar->free;
		ar->free = &ar->slots[i];
	}
	/* each op has one SQE at a time, plus the stop NOP */
	rc = io_uring_queue_init(slots + 1, &ar->ring, 0);
	if (rc)
		goto err_free_slots;
	if (fixed) {
		struct iovec iov = { .iov_base = fixed, .iov_len = fixed_len };

		ar->fixed = fixed;
		ar->fixed_len = fixed_len;
		ar->registered = !io_uring_register_buffers(&ar->ring, &iov, 1);
	}
	pthread_mutex_init(&ar->lock, NULL);
	pthread_cond_init(&ar->changed, NULL);
	*out = ar;
	return 0;

err_free_slots:
	free(ar->slots);
err_free:
	free(ar);
	return rc;
}

void aring_free(struct aring *ar)
{
	struct io_uring_sqe *sqe;

	if (!ar)
		return;
	pthread_mutex_lock(&ar->lock);
	while (ar->inflight)
		pthread_cond_wait(&ar->changed, &ar->lock);
	if (ar->started) {
		sqe = io_uring_get_sqe(&ar->ring);
		if (!sqe) {
			io_uring_submit(&ar->ring);
			sqe = io_uring_get_sqe(&ar->ring);
		}
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, STOP_TAG);
		io_uring_submit(&ar->ring);
	}
	pthread_mutex_unlock(&ar->lock);
	if (ar->started)
		pthread_join(ar->reaper, NULL);
	io_uring_queue_exit(&ar->ring);
	pthread_cond_destroy(&ar->changed);
	pthread_mutex_destroy(&ar->lock);
	free(ar->slots);
	free(ar);
}

static int submit(struct aring *ar, int fd, bool write, void *buf,
		  size_t len, uint64_t off, aring_cb cb, void *arg, bool wait)
{
	struct aop *op;
	int rc = 0;

	pthread_mutex_lock(&ar->lock);
	if (!ar->started) {
		rc = -pthread_create(&ar->reaper, NULL, reaper_main, ar);
		if (rc)
			goto out;
		ar->started = true;
	}
	if (!ar->free && !wait) {
		rc = -EAGAIN;
		goto out;
	}
	while (!ar->free)
		pthread_cond_wait(&ar->changed, &ar->lock);
	op = ar->free;
	ar->free = op->next_free;
	*op = (struct aop){
		.fd = fd, .write = write, .buf = buf, .len = len, .off = off,
		.cb = cb, .arg = arg, .who = caller_now(),
	};
	rc = queue_locked(ar, op);
	if (rc) {
		op->next_free = ar->free;
		ar->free = op;
		goto out;
	}
	ar->inflight++;
out:
	pthread_mutex_unlock(&ar->lock);
	return rc;
}

int aring_submit(struct aring *ar, int fd, bool write, void *buf, size_t len,
		 uint64_t off, aring_cb cb, void *arg)
{
	return submit(ar, fd, write, buf, len, off, cb, arg, true);
}

int aring_try_submit(struct aring *ar, int fd, bool write, void *buf,
		     size_t len, uint64_t off, aring_cb cb, void *arg)
{
	return submit(ar, fd, write, buf, len, off, cb, arg, false);
}
