/*
 * devcall.c - per-device worker threads that run calls with a deadline;
 * see devcall.h.
 *
 * One mutex guards every queue, every call's state and the links from a
 * call to the waiter on its caller's stack. A waiter is unlinked from its
 * calls under that mutex before the caller returns, so a worker that ends
 * a given-up call later never touches the caller's stack. Each call has
 * two references while queued or running (caller and worker); the worker's
 * goes when the call ends or is taken off the queue unstarted.
 */
#include "devcall.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "dev.h"
#include "health.h"
#include "log.h"

/* Workers need little stack: paths and a few descriptors. */
#define DEVCALL_STACK	(256 * 1024)

struct devcall_wait {
	pthread_cond_t cond;
	unsigned left;		/* calls linked to this waiter, not ended */
};

struct devq {
	struct devcalls *dc;
	unsigned dev;
	struct devcall *head, *tail;
	pthread_cond_t cond;	/* a call was queued, or stop */
	unsigned threads, idle;
};

struct devcalls {
	pthread_mutex_t mu;
	struct health *h;
	unsigned ndev;
	unsigned refs;		/* the owner's and one per live worker */
	bool stop;
	unsigned long timeouts;
	struct devq q[];
};

static void q_push(struct devq *q, struct devcall *c)
{
	c->next = NULL;
	c->prev = q->tail;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

static void q_unlink(struct devq *q, struct devcall *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		q->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		q->tail = c->prev;
	c->next = c->prev = NULL;
}

static void dc_destroy(struct devcalls *dc)
{
	for (unsigned d = 0; d < dc->ndev; d++)
		pthread_cond_destroy(&dc->q[d].cond);
	pthread_mutex_destroy(&dc->mu);
	free(dc);
}

/* A call ended in its worker: tell its waiter, drop the worker's ref. */
static void call_ended(struct devcalls *dc, struct devcall *c, int res)
{
	bool drop;

	c->res = res;
	c->done = true;
	if (c->wait) {
		/* the caller may have enough before the last one */
		c->wait->left--;
		pthread_cond_signal(&c->wait->cond);
	}
	drop = !--c->refs;
	if (!drop)
		return;
	pthread_mutex_unlock(&dc->mu);
	c->release(c);
	pthread_mutex_lock(&dc->mu);
}

static void *worker(void *arg)
{
	struct devq *q = arg;
	struct devcalls *dc = q->dc;
	bool last;

	pthread_mutex_lock(&dc->mu);
	for (;;) {
		struct devcall *c;
		int res;

		while (!q->head && !dc->stop) {
			q->idle++;
			pthread_cond_wait(&q->cond, &dc->mu);
			q->idle--;
		}
		c = q->head;
		if (!c)
			break;
		q_unlink(q, c);
		c->started = true;
		pthread_mutex_unlock(&dc->mu);
		res = c->run(c);
		pthread_mutex_lock(&dc->mu);
		call_ended(dc, c, res);
	}
	q->threads--;
	last = !--dc->refs;
	pthread_mutex_unlock(&dc->mu);
	if (last)
		dc_destroy(dc);
	return NULL;
}

/* Start one more worker for @q, signals blocked in it; under mu. */
static void q_start(struct devcalls *dc, struct devq *q)
{
	sigset_t all, saved;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (pthread_attr_init(&attr))
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, DEVCALL_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	rc = pthread_create(&t, &attr, worker, q);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	pthread_attr_destroy(&attr);
	if (rc) {
		/* the queued call waits for a worker, or times out */
		log_msg(LOG_LVL_ERR, "device %u: no worker thread: errno %d",
			q->dev, rc);
		return;
	}
	q->threads++;
	dc->refs++;
}

int devcall_new(unsigned ndev, struct health *h, struct devcalls **out)
{
	pthread_condattr_t ca;
	struct devcalls *dc;

	if (!ndev || ndev > DEV_MAX || !h)
		return -EINVAL;
	dc = calloc(1, sizeof(*dc) + ndev * sizeof(dc->q[0]));
	if (!dc)
		return -ENOMEM;
	pthread_mutex_init(&dc->mu, NULL);
	pthread_condattr_init(&ca);
	for (unsigned d = 0; d < ndev; d++) {
		dc->q[d].dc = dc;
		dc->q[d].dev = d;
		pthread_cond_init(&dc->q[d].cond, &ca);
	}
	pthread_condattr_destroy(&ca);
	dc->h = h;
	dc->ndev = ndev;
	dc->refs = 1;
	*out = dc;
	return 0;
}

void devcall_free(struct devcalls *dc)
{
	bool last;

	if (!dc)
		return;
	pthread_mutex_lock(&dc->mu);
	dc->stop = true;
	dc->h = NULL;	/* the caller may free it now */
	for (unsigned d = 0; d < dc->ndev; d++)
		pthread_cond_broadcast(&dc->q[d].cond);
	last = !--dc->refs;
	pthread_mutex_unlock(&dc->mu);
	if (last)
		dc_destroy(dc);
}

/* Queue @c for its device, linked to waiter @w; under mu. */
static void call_queue(struct devcalls *dc, struct devcall *c,
		       struct devcall_wait *w)
{
	struct devq *q = &dc->q[c->dev];

	c->refs = 2;
	c->wait = w;
	w->left++;
	q_push(q, c);
	if (!q->idle && q->threads < DEVCALL_WORKERS)
		q_start(dc, q);
	else
		pthread_cond_signal(&q->cond);
}

/*
 * After the wait: each call of @w ended, or is given up (taken off its
 * queue if it never started). Returns the devices given up; under mu.
 */
static uint64_t calls_settle(struct devcalls *dc, struct devcall *const *calls,
			     unsigned n, struct devcall_wait *w, bool early)
{
	uint64_t late = 0;

	for (unsigned i = 0; i < n; i++) {
		struct devcall *c = calls[i];

		if (c->wait != w)
			continue;	/* not asked: failed device */
		c->wait = NULL;
		if (c->done) {
			c->rc = c->res;
			continue;
		}
		c->rc = early ? -ECANCELED : -ETIMEDOUT;
		c->out = true;
		c->abandoned = true;
		if (!early) {
			dc->timeouts++;
			late |= (uint64_t)1 << c->dev;
		}
		if (!c->started) {
			q_unlink(&dc->q[c->dev], c);
			c->refs--;
		}
	}
	return late;
}

void devcall_run(struct devcalls *dc, struct devcall *const *calls,
		 unsigned n)
{
	devcall_run_until(dc, calls, n, NULL, NULL);
}

void devcall_run_until(struct devcalls *dc, struct devcall *const *calls,
		       unsigned n, devcall_enough_fn *enough, void *ctx)
{
	struct timespec until = clock_deadline_ms(health_timeout_ms(dc->h));
	struct devcall_wait w = { .left = 0 };
	bool early = false;
	uint64_t late;

	clock_cond_init(&w.cond);
	pthread_mutex_lock(&dc->mu);
	for (unsigned i = 0; i < n; i++) {
		struct devcall *c = calls[i];

		c->started = c->done = c->abandoned = false;
		c->wait = NULL;
		c->out = false;
		c->rc = 0;
		if (c->dev >= dc->ndev || health_failed(dc->h, c->dev)) {
			c->refs = 1;
			c->rc = -EIO;
			c->out = true;
			continue;
		}
		call_queue(dc, c, &w);
	}
	while (w.left) {
		if (enough && enough(ctx, calls, n)) {
			early = true;
			break;
		}
		if (pthread_cond_timedwait(&w.cond, &dc->mu, &until) ==
		    ETIMEDOUT)
			break;
	}
	late = calls_settle(dc, calls, n, &w, early);
	pthread_mutex_unlock(&dc->mu);
	pthread_cond_destroy(&w.cond);
	for (unsigned i = 0; i < n && late; i++) {
		uint64_t bit = (uint64_t)1 << calls[i]->dev;

		if (calls[i]->rc == -ETIMEDOUT && (late & bit)) {
			late &= ~bit;
			health_note_timeout(dc->h, calls[i]->dev,
					    calls[i]->op);
		}
	}
}

void devcall_put(struct devcalls *dc, struct devcall *c)
{
	bool drop;

	pthread_mutex_lock(&dc->mu);
	drop = !--c->refs;
	pthread_mutex_unlock(&dc->mu);
	if (drop)
		c->release(c);
}

unsigned long devcall_timeouts(struct devcalls *dc)
{
	unsigned long n;

	pthread_mutex_lock(&dc->mu);
	n = dc->timeouts;
	pthread_mutex_unlock(&dc->mu);
	return n;
}

unsigned devcall_threads(struct devcalls *dc, unsigned dev)
{
	unsigned n;

	pthread_mutex_lock(&dc->mu);
	n = dev < dc->ndev ? dc->q[dev].threads : 0;
	pthread_mutex_unlock(&dc->mu);
	return n;
}
