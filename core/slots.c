/*
 * slots.c - per-device slots and queues of parked requests (slots.h).
 *
 * A device's slots are the bits of one word: taking a free one is one
 * compare-and-swap. Invariant: a job parked on a device's queue always has
 * a thread that will run it: whoever parks counts itself in `waiting`
 * before it looks for a free bit, and whoever frees a bit looks at
 * `waiting` after (both sequentially consistent), so either the parker
 * finds the bit or the releaser finds the parker and serves the queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "slots.h"

#include "clock.h"

struct slots_dev {
	_Atomic uint64_t busy;		/* bit i: slot i held */
	_Atomic unsigned waiting;	/* parked jobs and sleepers */
	_Atomic bool failed;
	_Atomic uint64_t unfail_at;	/* ms of the last slots_unfail() */
	_Atomic uint64_t done, slow;	/* requests finished, slow ones */
	_Atomic uint64_t since[SLOTS_MAX];	/* ms slot i was taken, 0 */
	const char *_Atomic op[SLOTS_MAX];	/* what holds slot i */

	pthread_mutex_t mu;
	pthread_cond_t cond;		/* a slot came free, or failed */
	struct slots_job *head, *tail;	/* parked, oldest first; mu */
	unsigned parked, sleepers;	/* mu */

	/* slots_tick()'s own, one thread */
	uint64_t seen_done, seen_slow, streak_at;
	bool streak, streak_slow;
	_Atomic bool is_slow;
	_Atomic bool restart;		/* slots_unfail(): judge afresh */
} __attribute__((aligned(64)));

struct slots {
	unsigned count, per;
	uint64_t all;			/* the bits of `per` slots */
	unsigned queue_max;
	size_t queue_bytes;
	_Atomic size_t bytes;		/* parked payload, all devices */
	unsigned timeout_ms, slow_ms, slow_for_ms;
	uint64_t (*now_ms)(void);
	struct slots_dev dev[];
};

static uint64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int slots_new(const struct slots_params *p, struct slots **out)
{
	struct slots *s;

	if (!p->count || p->count > 64 || !p->slots || p->slots > SLOTS_MAX)
		return -EINVAL;
	/* both sizes are multiples of 64: dev[] is 64-aligned */
	s = aligned_alloc(64, sizeof(*s) + p->count * sizeof(s->dev[0]));
	if (!s)
		return -ENOMEM;
	*s = (struct slots){
		.count = p->count,
		.per = p->slots,
		.all = p->slots == 64 ? ~(uint64_t)0 :
			((uint64_t)1 << p->slots) - 1,
		.queue_max = p->queue_max,
		.queue_bytes = p->queue_bytes,
		.timeout_ms = p->timeout_ms,
		.slow_ms = p->slow_ms ? p->slow_ms : SLOTS_SLOW_MS,
		.slow_for_ms = p->slow_for_ms ? p->slow_for_ms :
			SLOTS_SLOW_FOR_MS,
		.now_ms = p->now_ms ? p->now_ms : coarse_ms,
	};
	for (unsigned d = 0; d < p->count; d++) {
		struct slots_dev *dv = &s->dev[d];

		*dv = (struct slots_dev){ 0 };
		pthread_mutex_init(&dv->mu, NULL);
		clock_cond_init(&dv->cond);
	}
	*out = s;
	return 0;
}

void slots_free(struct slots *s)
{
	if (!s)
		return;
	for (unsigned d = 0; d < s->count; d++) {
		slots_fail(s, d);
		pthread_mutex_destroy(&s->dev[d].mu);
		pthread_cond_destroy(&s->dev[d].cond);
	}
	free(s);
}

unsigned slots_per_device(const struct slots *s)
{
	return s->per;
}

/* A free bit of @dv, taken; or -EBUSY. */
static int take_bit(const struct slots *s, struct slots_dev *dv)
{
	uint64_t b = atomic_load(&dv->busy), bit;

	for (;;) {
		bit = ~b & s->all;
		if (!bit)
			return -EBUSY;
		bit &= -bit;
		if (atomic_compare_exchange_weak(&dv->busy, &b, b | bit))
			return __builtin_ctzll(bit);
	}
}

/* Slot @i now serves @op, from now. */
static void claim(struct slots *s, struct slots_dev *dv, int i, const char *op)
{
	uint64_t now = s->now_ms();

	atomic_store_explicit(&dv->op[i], op, memory_order_relaxed);
	atomic_store_explicit(&dv->since[i], now ? now : 1,
			      memory_order_release);
}

/* The request in slot @i is done: count it. */
static void account(struct slots *s, struct slots_dev *dv, int i)
{
	uint64_t t = atomic_load_explicit(&dv->since[i], memory_order_relaxed);

	atomic_fetch_add_explicit(&dv->done, 1, memory_order_relaxed);
	if (t && s->now_ms() - t > s->slow_ms)
		atomic_fetch_add_explicit(&dv->slow, 1, memory_order_relaxed);
}

/* Free slot @i; the caller then looks at `waiting`. */
static void release_bit(struct slots_dev *dv, int i)
{
	atomic_store_explicit(&dv->since[i], 0, memory_order_relaxed);
	atomic_fetch_and(&dv->busy, ~((uint64_t)1 << i));
}

int slots_try(struct slots *s, unsigned dev, const char *op)
{
	struct slots_dev *dv = &s->dev[dev];
	int i = take_bit(s, dv);

	if (i >= 0)
		claim(s, dv, i, op);
	return i;
}

/* Count @n bytes of parked payload in, if they fit. */
static bool bytes_take(struct slots *s, size_t n)
{
	size_t had;

	if (!n)
		return true;
	had = atomic_fetch_add(&s->bytes, n);
	if (had + n <= s->queue_bytes)
		return true;
	atomic_fetch_sub(&s->bytes, n);
	return false;
}

int slots_park(struct slots *s, unsigned dev, struct slots_job *job)
{
	struct slots_dev *dv = &s->dev[dev];
	int i;

	pthread_mutex_lock(&dv->mu);
	if (atomic_load(&dv->failed)) {
		pthread_mutex_unlock(&dv->mu);
		return -EIO;
	}
	if (dv->parked >= s->queue_max || !bytes_take(s, job->bytes)) {
		pthread_mutex_unlock(&dv->mu);
		return -ENOBUFS;
	}
	atomic_fetch_add(&dv->waiting, 1);
	i = take_bit(s, dv);	/* one may have come free since slots_try */
	if (i >= 0) {
		atomic_fetch_sub(&dv->waiting, 1);
		atomic_fetch_sub(&s->bytes, job->bytes);
		pthread_mutex_unlock(&dv->mu);
		claim(s, dv, i, job->op);
		return i;
	}
	job->next = NULL;
	if (dv->tail)
		dv->tail->next = job;
	else
		dv->head = job;
	dv->tail = job;
	dv->parked++;
	pthread_mutex_unlock(&dv->mu);
	return -EINPROGRESS;
}

/* slots_wait(), until @deadline (CLOCK_MONOTONIC) if not NULL. */
static int wait_until(struct slots *s, unsigned dev, const char *op,
		      const struct timespec *deadline)
{
	struct slots_dev *dv = &s->dev[dev];
	int i;

	pthread_mutex_lock(&dv->mu);
	atomic_fetch_add(&dv->waiting, 1);
	dv->sleepers++;
	for (;;) {
		if (atomic_load(&dv->failed)) {
			i = -EIO;
			break;
		}
		i = take_bit(s, dv);
		if (i >= 0)
			break;
		if (!deadline)
			pthread_cond_wait(&dv->cond, &dv->mu);
		else if (pthread_cond_timedwait(&dv->cond, &dv->mu,
						deadline) == ETIMEDOUT) {
			i = take_bit(s, dv);
			if (i < 0)
				i = -ETIMEDOUT;
			break;
		}
	}
	dv->sleepers--;
	atomic_fetch_sub(&dv->waiting, 1);
	pthread_mutex_unlock(&dv->mu);
	if (i >= 0)
		claim(s, dv, i, op);
	return i;
}

int slots_wait(struct slots *s, unsigned dev, const char *op)
{
	return wait_until(s, dev, op, NULL);
}

int slots_wait_ms(struct slots *s, unsigned dev, const char *op,
		  unsigned ms)
{
	struct timespec t = clock_deadline_ms(ms);

	return wait_until(s, dev, op, &t);
}

/* The oldest parked job of @dv, taken off the queue; under dv->mu. */
static struct slots_job *dequeue_locked(struct slots *s, struct slots_dev *dv)
{
	struct slots_job *job = dv->head;

	if (!job)
		return NULL;
	dv->head = job->next;
	if (!dv->head)
		dv->tail = NULL;
	dv->parked--;
	atomic_fetch_sub(&dv->waiting, 1);
	atomic_fetch_sub(&s->bytes, job->bytes);
	return job;
}

/*
 * Someone waits on @dv: hand slot @i (or, if @i < 0, a free one) to the
 * oldest parked job, returned with its slot in *@i, or wake a thread in
 * slots_wait(). A thread waiting holds a thread, so it goes first.
 * Returns NULL when the caller is done (no slot held).
 */
static struct slots_job *hand_over(struct slots *s, struct slots_dev *dv,
				   int *i)
{
	struct slots_job *job = NULL;

	pthread_mutex_lock(&dv->mu);
	if (dv->sleepers) {
		if (*i >= 0)
			release_bit(dv, *i);
		pthread_cond_signal(&dv->cond);
	} else if (dv->head) {
		if (*i < 0)
			*i = take_bit(s, dv);
		/* else every slot is held: their holders serve the queue */
		if (*i >= 0)
			job = dequeue_locked(s, dv);
	} else if (*i >= 0) {
		release_bit(dv, *i);
	}
	pthread_mutex_unlock(&dv->mu);
	return job;
}

void slots_put(struct slots *s, unsigned dev, int slot)
{
	struct slots_dev *dv = &s->dev[dev];
	struct slots_job *job;

	for (;;) {
		account(s, dv, slot);
		if (!atomic_load(&dv->waiting)) {
			release_bit(dv, slot);
			if (!atomic_load(&dv->waiting))
				return;
			slot = -1;	/* someone came meanwhile */
		}
		job = hand_over(s, dv, &slot);
		if (!job)
			return;
		claim(s, dv, slot, job->op);
		job->run(job, 0);
	}
}

unsigned slots_fail(struct slots *s, unsigned dev)
{
	struct slots_dev *dv = &s->dev[dev];
	struct slots_job *list = NULL, **tail = &list, *job;
	unsigned n = 0;

	pthread_mutex_lock(&dv->mu);
	atomic_store(&dv->failed, true);
	while ((job = dequeue_locked(s, dv))) {
		*tail = job;
		tail = &job->next;
		n++;
	}
	*tail = NULL;
	pthread_cond_broadcast(&dv->cond);
	pthread_mutex_unlock(&dv->mu);
	while ((job = list)) {
		list = job->next;
		job->run(job, -EIO);
	}
	return n;
}

void slots_unfail(struct slots *s, unsigned dev)
{
	struct slots_dev *dv = &s->dev[dev];

	pthread_mutex_lock(&dv->mu);
	atomic_store(&dv->unfail_at, s->now_ms());
	atomic_store(&dv->failed, false);
	atomic_store(&dv->is_slow, false);
	atomic_store(&dv->restart, true);
	pthread_mutex_unlock(&dv->mu);
}

bool slots_failed(const struct slots *s, unsigned dev)
{
	return atomic_load(&s->dev[dev].failed);
}

/*
 * The oldest running request of @dv: its age in ms since it started
 * (@from_unfail: or since the last slots_unfail(), if later), its op.
 */
static uint64_t oldest(struct slots_dev *dv, uint64_t now, bool from_unfail,
		       const char **op)
{
	uint64_t busy = atomic_load(&dv->busy), age, max = 0, t;
	uint64_t floor = from_unfail ? atomic_load(&dv->unfail_at) : 0;

	while (busy) {
		int i = __builtin_ctzll(busy);

		busy &= busy - 1;
		t = atomic_load_explicit(&dv->since[i], memory_order_acquire);
		if (!t)
			continue;	/* being taken or given back */
		if (t < floor)
			t = floor;
		age = now > t ? now - t : 0;
		if (age > max) {
			max = age;
			if (op)
				*op = atomic_load_explicit(&dv->op[i],
							   memory_order_relaxed);
		}
	}
	return max;
}

/*
 * Whether @dv was slow since the last tick: 1, 0, or -1 for no telling
 * (idle). Slow: a request still running has taken longer than slow_ms, or
 * most of those that finished did. Write-behind answers most WRITEs from
 * memory, so on a slow device the running requests tell more.
 */
static int slow_sample(struct slots *s, struct slots_dev *dv, uint64_t now)
{
	uint64_t done = atomic_load(&dv->done), slow = atomic_load(&dv->slow);
	uint64_t dd = done - dv->seen_done, ds = slow - dv->seen_slow;

	dv->seen_done = done;
	dv->seen_slow = slow;
	if (oldest(dv, now, false, NULL) > s->slow_ms)
		return 1;
	if (dd)
		return 2 * ds > dd;
	return atomic_load(&dv->busy) ? 0 : -1;
}

unsigned slots_tick(struct slots *s, unsigned dev, const char **op)
{
	struct slots_dev *dv = &s->dev[dev];
	uint64_t now = s->now_ms();
	const char *what = NULL;
	unsigned ev = 0;
	int sample;

	if (s->timeout_ms && oldest(dv, now, true, &what) > s->timeout_ms) {
		ev |= SLOTS_TIMEOUT;
		if (op)
			*op = what ? what : "request";
	}
	if (atomic_exchange(&dv->restart, false))
		dv->streak = false;
	sample = slow_sample(s, dv, now);
	if (sample < 0)
		return ev;
	if (!dv->streak || dv->streak_slow != (sample > 0)) {
		dv->streak = true;
		dv->streak_slow = sample > 0;
		dv->streak_at = now;
	}
	if (now - dv->streak_at < s->slow_for_ms ||
	    atomic_load(&dv->is_slow) == dv->streak_slow)
		return ev;
	atomic_store(&dv->is_slow, dv->streak_slow);
	return ev | (dv->streak_slow ? SLOTS_SLOW : SLOTS_FAST);
}

uint64_t slots_oldest_ms(const struct slots *s, unsigned dev)
{
	return oldest((struct slots_dev *)&s->dev[dev], s->now_ms(), false,
		      NULL);
}

void slots_stat(const struct slots *s, unsigned dev, struct slots_stat *st)
{
	struct slots_dev *dv = (struct slots_dev *)&s->dev[dev];

	pthread_mutex_lock(&dv->mu);
	st->parked = dv->parked;
	st->waiting = dv->sleepers;
	pthread_mutex_unlock(&dv->mu);
	st->busy = (unsigned)__builtin_popcountll(atomic_load(&dv->busy));
	st->done = atomic_load(&dv->done);
	st->slow = atomic_load(&dv->slow);
	st->oldest_ms = oldest(dv, s->now_ms(), false, NULL);
	st->is_slow = atomic_load(&dv->is_slow);
}
