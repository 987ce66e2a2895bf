/*
 * test_slots.c - per-device slots: take up to the count, park past it, a
 * finishing request runs the parked ones with its slot, the queue's
 * bounds, waiting in the thread, failure answers everything parked,
 * timeouts and the slow flag on the test's own clock, and no job lost
 * under many threads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "slots.h"

static _Atomic uint64_t t_now = 1000;

static uint64_t t_clock(void)
{
	return atomic_load(&t_now);
}

struct t_job {
	struct slots_job job;
	struct slots *s;
	unsigned dev;
	int err;		/* as run was told, or 1 while not run */
	pthread_t thread;	/* which thread ran it */
	unsigned busy;		/* slots held while it ran */
};

static void t_run(struct slots_job *job, int err)
{
	struct t_job *j = (struct t_job *)job;
	struct slots_stat st;

	j->err = err;
	j->thread = pthread_self();
	slots_stat(j->s, j->dev, &st);
	j->busy = st.busy;
}

static struct slots *mk(unsigned slots, unsigned qmax, size_t qbytes)
{
	struct slots *s = NULL;

	atomic_store(&t_now, 1000);
	cr_assert_eq(slots_new(&(struct slots_params){
				   .count = 2, .slots = slots,
				   .queue_max = qmax, .queue_bytes = qbytes,
				   .timeout_ms = 3000, .now_ms = t_clock,
			   }, &s), 0);
	return s;
}

static void t_job_init(struct t_job *j, struct slots *s, unsigned dev,
		       size_t bytes)
{
	*j = (struct t_job){
		.job = { .run = t_run, .op = "write", .bytes = bytes },
		.s = s, .dev = dev, .err = 1,
	};
}

Test(slots, refuses_bad_params)
{
	struct slots *s = NULL;

	cr_assert_eq(slots_new(&(struct slots_params){ .count = 0,
				   .slots = 1 }, &s), -EINVAL);
	cr_assert_eq(slots_new(&(struct slots_params){ .count = 1,
				   .slots = SLOTS_MAX + 1 }, &s), -EINVAL);
	cr_assert_eq(slots_new(&(struct slots_params){ .count = 1,
				   .slots = 0 }, &s), -EINVAL);
	cr_assert_eq(slots_new(&(struct slots_params){ .count = 1,
				   .slots = SLOTS_MAX }, &s), 0);
	cr_assert_eq(slots_per_device(s), SLOTS_MAX);
	for (int i = 0; i < SLOTS_MAX; i++)
		cr_assert_geq(slots_try(s, 0, "read"), 0);
	cr_assert_eq(slots_try(s, 0, "read"), -EBUSY);
	slots_free(s);
	slots_free(NULL);
}

Test(slots, take_up_to_the_count_per_device)
{
	struct slots *s = mk(3, 4, 1 << 20);
	int a = slots_try(s, 0, "read"), b = slots_try(s, 0, "read"),
	    c = slots_try(s, 0, "read");
	struct slots_stat st;

	cr_assert(a >= 0 && b >= 0 && c >= 0);
	cr_assert(a != b && b != c && a != c);
	cr_assert_eq(slots_try(s, 0, "read"), -EBUSY);
	/* the other device has its own */
	cr_assert_geq(slots_try(s, 1, "read"), 0);
	slots_stat(s, 0, &st);
	cr_assert_eq(st.busy, 3);
	slots_put(s, 0, b);
	cr_assert_eq(slots_try(s, 0, "read"), b);
	slots_stat(s, 0, &st);
	cr_assert_eq(st.done, 1);
	slots_free(s);
}

Test(slots, a_finishing_request_runs_the_parked_ones)
{
	struct slots *s = mk(1, 4, 1 << 20);
	struct t_job j[3];
	struct slots_stat st;
	int a = slots_try(s, 0, "read");

	cr_assert_geq(a, 0);
	for (int i = 0; i < 3; i++) {
		t_job_init(&j[i], s, 0, 1000);
		cr_assert_eq(slots_park(s, 0, &j[i].job), -EINPROGRESS);
	}
	slots_stat(s, 0, &st);
	cr_assert_eq(st.parked, 3);
	cr_assert_eq(j[0].err, 1);
	slots_put(s, 0, a);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(j[i].err, 0, "job %d ran with %d", i, j[i].err);
		cr_assert(pthread_equal(j[i].thread, pthread_self()));
		cr_assert_eq(j[i].busy, 1, "job %d ran holding the slot", i);
	}
	slots_stat(s, 0, &st);
	cr_assert_eq(st.busy, 0);
	cr_assert_eq(st.parked, 0);
	cr_assert_eq(st.done, 4);
	slots_free(s);
}

Test(slots, park_takes_a_slot_that_came_free)
{
	struct slots *s = mk(1, 4, 1 << 20);
	struct t_job j;
	int a = slots_try(s, 0, "read");

	slots_put(s, 0, a);
	t_job_init(&j, s, 0, 10);
	cr_assert_eq(slots_park(s, 0, &j.job), a);
	cr_assert_eq(j.err, 1, "not parked, not run");
	cr_assert_eq(slots_try(s, 0, "read"), -EBUSY);
	slots_free(s);
}

Test(slots, the_queue_is_bounded_in_requests_and_bytes)
{
	struct slots *s = mk(1, 2, 3000);
	struct t_job j[4];
	int a = slots_try(s, 0, "read"), b = slots_try(s, 1, "read");

	cr_assert(a >= 0 && b >= 0);
	for (int i = 0; i < 4; i++)
		t_job_init(&j[i], s, i < 3 ? 0 : 1, 1000);
	cr_assert_eq(slots_park(s, 0, &j[0].job), -EINPROGRESS);
	cr_assert_eq(slots_park(s, 0, &j[1].job), -EINPROGRESS);
	cr_assert_eq(slots_park(s, 0, &j[2].job), -ENOBUFS, "requests");
	/* the bytes are shared: device 1 gets the last 1000 */
	cr_assert_eq(slots_park(s, 1, &j[3].job), -EINPROGRESS);
	j[2].dev = 1;
	cr_assert_eq(slots_park(s, 1, &j[2].job), -ENOBUFS, "bytes");
	slots_put(s, 0, a);
	cr_assert_eq(j[0].err, 0);
	cr_assert_eq(j[1].err, 0);
	cr_assert_eq(slots_park(s, 1, &j[2].job), -EINPROGRESS);
	slots_put(s, 1, b);
	cr_assert_eq(j[2].err, 0);
	cr_assert_eq(j[3].err, 0);
	slots_free(s);
}

static void *t_waiter(void *arg)
{
	struct slots *s = arg;

	return (void *)(intptr_t)slots_wait(s, 0, "fsync");
}

static unsigned t_sleepers(struct slots *s)
{
	struct slots_stat st;

	for (int i = 0; i < 2000; i++) {
		slots_stat(s, 0, &st);
		if (st.waiting)
			return st.waiting;
		usleep(1000);
	}
	return 0;
}

Test(slots, a_waiting_thread_gets_the_slot_before_parked_jobs)
{
	struct slots *s = mk(1, 4, 1 << 20);
	struct t_job j;
	pthread_t th;
	void *ret;
	int a = slots_try(s, 0, "read");

	t_job_init(&j, s, 0, 0);
	cr_assert_eq(slots_park(s, 0, &j.job), -EINPROGRESS);
	pthread_create(&th, NULL, t_waiter, s);
	cr_assert_eq(t_sleepers(s), 1);
	slots_put(s, 0, a);
	pthread_join(th, &ret);
	cr_assert_eq((intptr_t)ret, a);
	cr_assert_eq(j.err, 1, "the job waits for the next put");
	slots_put(s, 0, a);	/* the waiter's request is done */
	cr_assert_eq(j.err, 0);
	slots_free(s);
}

Test(slots, failing_answers_parked_and_waiting)
{
	struct slots *s = mk(1, 4, 1 << 20);
	struct t_job j[2];
	pthread_t th;
	void *ret;
	int a = slots_try(s, 0, "write");

	for (int i = 0; i < 2; i++) {
		t_job_init(&j[i], s, 0, 100);
		cr_assert_eq(slots_park(s, 0, &j[i].job), -EINPROGRESS);
	}
	pthread_create(&th, NULL, t_waiter, s);
	cr_assert_eq(t_sleepers(s), 1);
	cr_assert_eq(slots_fail(s, 0), 2);
	cr_assert(slots_failed(s, 0));
	cr_assert_eq(j[0].err, -EIO);
	cr_assert_eq(j[1].err, -EIO);
	pthread_join(th, &ret);
	cr_assert_eq((intptr_t)ret, -EIO);
	t_job_init(&j[0], s, 0, 100);
	cr_assert_eq(slots_park(s, 0, &j[0].job), -EIO);
	cr_assert_eq(slots_wait(s, 0, "read"), -EIO);
	/* the request that held the slot still finishes */
	slots_put(s, 0, a);
	slots_unfail(s, 0);
	cr_assert_not(slots_failed(s, 0));
	cr_assert_geq(slots_wait(s, 0, "read"), 0);
	slots_free(s);
}

Test(slots, free_answers_what_is_parked)
{
	struct slots *s = mk(1, 4, 1 << 20);
	struct t_job j;

	cr_assert_geq(slots_try(s, 1, "read"), 0);
	t_job_init(&j, s, 1, 0);
	cr_assert_eq(slots_park(s, 1, &j.job), -EINPROGRESS);
	slots_free(s);
	cr_assert_eq(j.err, -EIO);
}

Test(slots, a_request_past_the_timeout_is_told_with_its_op)
{
	struct slots *s = mk(2, 4, 1 << 20);
	const char *op = NULL;
	int a, b;

	cr_assert_eq(slots_oldest_ms(s, 0), 0);
	a = slots_try(s, 0, "read");
	atomic_fetch_add(&t_now, 1000);
	b = slots_try(s, 0, "fsync");
	cr_assert_eq(slots_oldest_ms(s, 0), 1000);
	cr_assert_eq(slots_tick(s, 0, &op) & SLOTS_TIMEOUT, 0);
	atomic_fetch_add(&t_now, 2500);
	cr_assert(slots_tick(s, 0, &op) & SLOTS_TIMEOUT);
	cr_assert_str_eq(op, "read");
	cr_assert_eq(slots_tick(s, 1, &op) & SLOTS_TIMEOUT, 0);
	slots_put(s, 0, a);
	cr_assert_eq(slots_tick(s, 0, &op) & SLOTS_TIMEOUT, 0);
	atomic_fetch_add(&t_now, 600);
	/* fsync began 3100 ms ago */
	cr_assert(slots_tick(s, 0, &op) & SLOTS_TIMEOUT);
	cr_assert_str_eq(op, "fsync");
	/* back in service: counted from then */
	slots_fail(s, 0);
	slots_unfail(s, 0);
	cr_assert_eq(slots_tick(s, 0, &op) & SLOTS_TIMEOUT, 0);
	atomic_fetch_add(&t_now, 3001);
	cr_assert(slots_tick(s, 0, &op) & SLOTS_TIMEOUT);
	slots_put(s, 0, b);
	cr_assert_eq(slots_tick(s, 0, &op) & SLOTS_TIMEOUT, 0);
	slots_free(s);
}

/* One request on device 0 that takes @ms, then a tick @step ms later. */
static unsigned t_request(struct slots *s, uint64_t ms, uint64_t step)
{
	int a = slots_try(s, 0, "write");

	atomic_fetch_add(&t_now, ms);
	slots_put(s, 0, a);
	atomic_fetch_add(&t_now, step);
	return slots_tick(s, 0, NULL) & (SLOTS_SLOW | SLOTS_FAST);
}

Test(slots, slow_once_it_stays_slow_and_fast_once_it_stays_fast)
{
	struct slots *s = mk(2, 4, 1 << 20);
	struct slots_stat st;
	unsigned ev = 0;
	int i;

	/* one slow request is no trend */
	cr_assert_eq(t_request(s, 1500, 0), 0);
	cr_assert_eq(t_request(s, 10, 0), 0);
	for (i = 0; i < 10 && !ev; i++)
		ev = t_request(s, SLOTS_SLOW_MS + 200, 0);
	cr_assert_eq(ev, SLOTS_SLOW);
	cr_assert_geq(i, 2, "not before %d ms", SLOTS_SLOW_FOR_MS);
	slots_stat(s, 0, &st);
	cr_assert(st.is_slow);
	cr_assert_eq(slots_tick(s, 0, NULL), 0, "idle: no change, told once");
	ev = 0;
	for (i = 0; i < 1000 && !ev; i++)
		ev = t_request(s, 5, 50);
	cr_assert_eq(ev, SLOTS_FAST);
	cr_assert_geq(i, SLOTS_SLOW_FOR_MS / 55);
	/* a request running long with none finishing is slow too */
	ev = 0;
	cr_assert_geq(slots_try(s, 0, "read"), 0);
	for (i = 0; i < 10 && !ev; i++) {
		atomic_fetch_add(&t_now, 500);
		ev = slots_tick(s, 0, NULL) & SLOTS_SLOW;
	}
	cr_assert_eq(ev, SLOTS_SLOW);
	slots_free(s);
}

struct t_storm {
	struct slots *s;
	_Atomic unsigned ran, running, max_running;
};

struct t_sjob {
	struct slots_job job;
	struct t_storm *st;
};

static void t_storm_work(struct t_storm *st)
{
	unsigned n = atomic_fetch_add(&st->running, 1) + 1, m;

	m = atomic_load(&st->max_running);
	while (n > m && !atomic_compare_exchange_weak(&st->max_running, &m, n))
		;
	sched_yield();
	atomic_fetch_sub(&st->running, 1);
	atomic_fetch_add(&st->ran, 1);
}

static void t_storm_run(struct slots_job *job, int err)
{
	struct t_sjob *j = (struct t_sjob *)job;

	cr_assert_eq(err, 0);
	t_storm_work(j->st);
	free(j);
}

static void *t_storm_thread(void *arg)
{
	struct t_storm *st = arg;

	for (int i = 0; i < 3000; i++) {
		int slot = slots_try(st->s, 0, "write");

		if (slot < 0) {
			struct t_sjob *j = malloc(sizeof(*j));

			*j = (struct t_sjob){ .job = { .run = t_storm_run,
						       .op = "write" },
					      .st = st };
			slot = slots_park(st->s, 0, &j->job);
			if (slot == -EINPROGRESS)
				continue;
			free(j);
			if (slot == -ENOBUFS)
				slot = slots_wait(st->s, 0, "write");
			cr_assert_geq(slot, 0);
		}
		t_storm_work(st);
		slots_put(st->s, 0, slot);
	}
	return NULL;
}

Test(slots, no_job_is_lost_and_the_count_holds_under_threads)
{
	struct t_storm st = { 0 };
	pthread_t th[8];

	cr_assert_eq(slots_new(&(struct slots_params){
				   .count = 1, .slots = 3, .queue_max = 4,
				   .queue_bytes = 1 << 20,
			   }, &st.s), 0);
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, t_storm_thread, &st);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&st.ran), 8 * 3000);
	cr_assert_leq(atomic_load(&st.max_running), 3);
	slots_free(st.s);
}

Test(slots, a_bounded_wait_times_out_or_gets_the_slot)
{
	struct slots *s = mk(1, 4, 1 << 20);
	pthread_t th;
	void *ret;
	int a = slots_try(s, 0, "write");

	cr_assert_eq(slots_wait_ms(s, 0, "write", 20), -ETIMEDOUT);
	pthread_create(&th, NULL, t_waiter, s);
	cr_assert_eq(t_sleepers(s), 1);
	cr_assert_eq(slots_wait_ms(s, 1, "write", 20), 0, "device 1's own");
	slots_put(s, 0, a);
	pthread_join(th, &ret);
	cr_assert_eq((intptr_t)ret, a);
	slots_fail(s, 0);
	cr_assert_eq(slots_wait_ms(s, 0, "write", 20), -EIO);
	slots_free(s);
}
