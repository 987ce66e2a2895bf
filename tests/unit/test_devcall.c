/*
 * test_devcall.c - calls with a deadline: an answer in time, a hung call
 * given up and its device failed, a failed device not asked, calls on
 * several devices waited for together, a hung device's queue bounded.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "devcall.h"
#include "health.h"
#include "log.h"

struct tcall {
	struct devcall c;	/* first */
	int sleep_ms;		/* how long the call takes */
	int gate;		/* or: read one byte from it (a hang) */
	int answer;
	int result;		/* written by the call */
};

static atomic_int released, ran;

static int t_run(struct devcall *c)
{
	struct tcall *t = (struct tcall *)c;
	char b;

	atomic_fetch_add(&ran, 1);
	if (t->gate >= 0 && read(t->gate, &b, 1) != 1)
		return -EBADF;
	if (t->sleep_ms)
		usleep((useconds_t)t->sleep_ms * 1000);
	t->result = 42;
	return t->answer;
}

static void t_release(struct devcall *c)
{
	memset(c, 0x5a, sizeof(struct tcall));	/* ASan sees any reuse */
	free(c);
	atomic_fetch_add(&released, 1);
}

static struct tcall *mkcall(unsigned dev, int sleep_ms, int gate)
{
	struct tcall *t = calloc(1, sizeof(*t));

	cr_assert(t);
	t->c.run = t_run;
	t->c.release = t_release;
	t->c.op = "test";
	t->c.dev = dev;
	t->sleep_ms = sleep_ms;
	t->gate = gate;
	return t;
}

static void quiet(enum log_level level, const char *line)
{
	(void)level;
	(void)line;
}

static struct health *h;
static struct devcalls *dc;

static void setup(void)
{
	static const char *const roots[] = { "/d0", "/d1", "/d2" };

	log_setup(quiet, LOG_LVL_DEBUG);
	atomic_store(&released, 0);
	atomic_store(&ran, 0);
	cr_assert_eq(health_new(&(struct health_params){
				    .count = 3, .roots = roots,
				    .timeout_ms = 200,
			    }, &h), 0);
	cr_assert_eq(devcall_new(3, h, &dc), 0);
}

static void teardown(void)
{
	devcall_free(dc);
	health_free(h);	/* no longer used by the workers */
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void wait_released(int n)
{
	for (int i = 0; i < 200 && atomic_load(&released) < n; i++)
		usleep(10 * 1000);
	cr_assert_eq(atomic_load(&released), n);
}

TestSuite(devcall, .init = setup, .fini = teardown);

Test(devcall, answer_in_time)
{
	struct tcall *t = mkcall(1, 0, -1);
	struct devcall *c = &t->c;

	t->answer = -ENOENT;
	devcall_run(dc, &c, 1);
	cr_assert_eq(c->rc, -ENOENT);
	cr_assert_not(c->out);
	cr_assert_eq(t->result, 42);
	devcall_put(dc, c);
	wait_released(1);
	cr_assert_eq(health_state(h, 1), HEALTH_OK);
}

Test(devcall, hung_call_given_up_device_failed_and_stays)
{
	int p[2];
	struct timespec t0;
	struct tcall *t;
	struct devcall *c;

	cr_assert_eq(pipe(p), 0);
	t = mkcall(2, 0, p[0]);
	c = &t->c;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	devcall_run(dc, &c, 1);
	cr_assert_geq(ms_since(&t0), 190);
	cr_assert_lt(ms_since(&t0), 1000);
	cr_assert_eq(c->rc, -ETIMEDOUT);
	cr_assert(c->out);
	cr_assert(health_failed(h, 2));
	cr_assert_eq(devcall_timeouts(dc), 1);
	devcall_put(dc, c);	/* the worker still holds it */
	cr_assert_eq(atomic_load(&released), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);	/* the device answers */
	wait_released(1);
	/* only the device's probe brings it back (core/hprobe.h) */
	cr_assert(health_failed(h, 2));
	close(p[0]);
	close(p[1]);
}

Test(devcall, failed_device_not_asked)
{
	struct tcall *t = mkcall(0, 0, -1);
	struct devcall *c = &t->c;

	health_note_timeout(h, 0, "test");
	devcall_run(dc, &c, 1);
	cr_assert_eq(c->rc, -EIO);
	cr_assert(c->out);
	cr_assert_eq(atomic_load(&ran), 0);
	cr_assert_eq(devcall_threads(dc, 0), 0);
	devcall_put(dc, c);
	cr_assert_eq(atomic_load(&released), 1);
}

Test(devcall, several_devices_cost_the_slowest)
{
	struct devcall *c[3];
	struct timespec t0;

	for (unsigned d = 0; d < 3; d++)
		c[d] = &mkcall(d, 100, -1)->c;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	devcall_run(dc, c, 3);
	cr_assert_lt(ms_since(&t0), 190);	/* not 300 */
	for (unsigned d = 0; d < 3; d++) {
		cr_assert_eq(c[d]->rc, 0);
		devcall_put(dc, c[d]);
	}
	wait_released(3);
}

Test(devcall, hung_device_holds_at_most_its_workers)
{
	enum { N = DEVCALL_WORKERS + 3 };
	struct devcall *c[N], *ok;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	for (unsigned i = 0; i < N; i++)
		c[i] = &mkcall(1, 0, p[0])->c;
	ok = &mkcall(0, 0, -1)->c;
	devcall_run(dc, c, N);
	cr_assert_eq(devcall_threads(dc, 1), DEVCALL_WORKERS);
	cr_assert_eq(atomic_load(&ran), DEVCALL_WORKERS);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(c[i]->rc, -ETIMEDOUT);
		devcall_put(dc, c[i]);
	}
	/* the queued ones were taken off and released unrun */
	cr_assert_eq(atomic_load(&released), N - DEVCALL_WORKERS);
	/* the other devices still answer, device 1 is not asked */
	devcall_run(dc, &ok, 1);
	cr_assert_eq(ok->rc, 0);
	devcall_put(dc, ok);
	ok = &mkcall(1, 0, -1)->c;
	devcall_run(dc, &ok, 1);
	cr_assert_eq(ok->rc, -EIO);
	devcall_put(dc, ok);
	cr_assert_eq(write(p[1], "xxxxxxx", DEVCALL_WORKERS),
		     DEVCALL_WORKERS);
	wait_released(N + 2);
	cr_assert_eq(atomic_load(&ran), DEVCALL_WORKERS + 1);
	close(p[0]);
	close(p[1]);
}

static bool dev0_done(void *ctx, struct devcall *const *calls, unsigned n)
{
	(void)ctx;
	for (unsigned i = 0; i < n; i++)
		if (calls[i]->dev == 0)
			return calls[i]->done && calls[i]->res == 0;
	return false;
}

Test(devcall, enough_ends_the_wait_without_failing)
{
	struct devcall *c[2];
	struct timespec t0;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	c[0] = &mkcall(0, 0, -1)->c;
	c[1] = &mkcall(1, 0, p[0])->c;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	devcall_run_until(dc, c, 2, dev0_done, NULL);
	cr_assert_lt(ms_since(&t0), 150);	/* not the 200 ms timeout */
	cr_assert_eq(c[0]->rc, 0);
	cr_assert_eq(c[1]->rc, -ECANCELED);
	cr_assert(c[1]->out);
	cr_assert_eq(health_state(h, 1), HEALTH_OK);
	cr_assert_eq(devcall_timeouts(dc), 0);
	devcall_put(dc, c[0]);
	devcall_put(dc, c[1]);
	cr_assert_eq(write(p[1], "x", 1), 1);
	wait_released(2);
	close(p[0]);
	close(p[1]);
}
