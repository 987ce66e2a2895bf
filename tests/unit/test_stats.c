/*
 * test_stats.c - per-device counters and latency histograms: ops, bytes
 * and errors by kind, buckets and quantiles, the one-minute window on the
 * test's own clock, and no count lost under many threads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "stats.h"

#define SEC	1000000000ull

static _Atomic uint64_t t_now = 1000 * SEC;

static uint64_t t_clock(void)
{
	return atomic_load(&t_now);
}

static struct stats *s;

static void setup(void)
{
	atomic_store(&t_now, 1000 * SEC);
	cr_assert_eq(stats_new(&(struct stats_params){ .ndev = 3,
						       .now_ns = t_clock },
			       &s), 0);
}

static void teardown(void)
{
	stats_free(s);
}

TestSuite(stats, .init = setup, .fini = teardown);

/* One op of @ns nanoseconds on @dev, ending now. */
static void t_op(unsigned dev, enum stats_op op, uint64_t ns, int64_t res)
{
	stats_op_done(s, dev, op, t_clock() - ns, res);
}

Test(stats, new_refuses_bad_counts)
{
	struct stats *x;

	cr_assert_eq(stats_new(&(struct stats_params){ .ndev = 0 }, &x),
		     -EINVAL);
	cr_assert_eq(stats_new(&(struct stats_params){ .ndev = 65 }, &x),
		     -EINVAL);
	stats_free(NULL);
}

Test(stats, counts_ops_and_bytes_per_device)
{
	struct stats_snap a, b;

	t_op(0, STATS_READ, 1000, 4096);
	t_op(0, STATS_READ, 1000, 100);
	t_op(1, STATS_WRITE, 1000, 1 << 20);
	t_op(1, STATS_NONE, 1000, 7);		/* not counted */
	t_op(5, STATS_READ, 1000, 7);		/* no such device */
	stats_op_done(NULL, 0, STATS_READ, 0, 1);
	stats_snapshot(s, 0, &a);
	stats_snapshot(s, 1, &b);
	cr_assert_eq(a.c[STATS_READS], 2);
	cr_assert_eq(a.c[STATS_READ_BYTES], 4196);
	cr_assert_eq(a.c[STATS_WRITES], 0);
	cr_assert_eq(b.c[STATS_WRITES], 1);
	cr_assert_eq(b.c[STATS_WRITE_BYTES], 1 << 20);
	cr_assert_eq(b.c[STATS_READS], 0);
	cr_assert_eq(a.lat_count[STATS_READ - 1], 2);
	cr_assert_eq(b.lat_count[STATS_WRITE - 1], 1);
}

Test(stats, errors_by_kind_are_not_ops)
{
	struct stats_snap a;

	t_op(2, STATS_READ, 10, -EIO);
	t_op(2, STATS_WRITE, 10, -EIO);
	t_op(2, STATS_WRITE, 10, -ENOSPC);
	t_op(2, STATS_WRITE, 10, -EDQUOT);
	t_op(2, STATS_READ, 10, -EBADF);
	stats_snapshot(s, 2, &a);
	cr_assert_eq(a.c[STATS_ERR_EIO], 2);
	cr_assert_eq(a.c[STATS_ERR_ENOSPC], 2);
	cr_assert_eq(a.c[STATS_ERR_OTHER], 1);
	cr_assert_eq(a.c[STATS_READS] + a.c[STATS_WRITES], 0);
	cr_assert_eq(a.lat_count[0] + a.lat_count[1], 0);
}

Test(stats, add_counts_spills_and_evictions)
{
	struct stats_snap a;

	stats_add(s, 1, STATS_SPILLED_OUT, 2);
	stats_add(s, 1, STATS_EVICTED_BYTES, 12345);
	stats_add(s, 9, STATS_EVICTED_BYTES, 1);
	stats_add(NULL, 1, STATS_EVICTED_BYTES, 1);
	stats_snapshot(s, 1, &a);
	cr_assert_eq(a.c[STATS_SPILLED_OUT], 2);
	cr_assert_eq(a.c[STATS_EVICTED_BYTES], 12345);
	stats_snapshot(s, 9, &a);
	cr_assert_eq(a.c[STATS_EVICTED_BYTES], 0);
}

Test(stats, buckets_are_log2)
{
	cr_assert_eq(stats_bucket(0), 0);
	cr_assert_eq(stats_bucket(1023), 0);
	cr_assert_eq(stats_bucket(1024), 1);
	cr_assert_eq(stats_bucket(2047), 1);
	cr_assert_eq(stats_bucket(2048), 2);
	cr_assert_eq(stats_bucket(1000000), 10);	/* 2^19 .. 2^20 */
	cr_assert_eq(stats_bucket(UINT64_MAX), STATS_BUCKETS - 1);
}

Test(stats, quantiles_interpolate_in_their_bucket)
{
	uint64_t h[STATS_BUCKETS] = { 0 };

	cr_assert_eq(stats_quantile(h, 0.5), 0);
	h[1] = 100;	/* 1024 .. 2048 ns */
	cr_assert_eq(stats_quantile(h, 0.5), 1024 + 512);
	cr_assert_eq(stats_quantile(h, 1.0), 2048);
	h[11] = 100;	/* 2^20 .. 2^21 ns: the upper half */
	cr_assert_eq(stats_quantile(h, 0.5), 2048);
	cr_assert_geq(stats_quantile(h, 0.99), 1u << 20);
	cr_assert_leq(stats_quantile(h, 0.99), 1u << 21);
}

Test(stats, p50_and_p99_of_the_window)
{
	struct stats_snap a;

	/* 98 fast reads of ~10 us, 2 slow ones of ~50 ms */
	for (int i = 0; i < 98; i++)
		t_op(0, STATS_READ, 10000, 1);
	t_op(0, STATS_READ, 50000000, 1);
	t_op(0, STATS_READ, 50000000, 1);
	stats_snapshot(s, 0, &a);
	cr_assert_eq(a.lat_count[0], 100);
	/* within their log2 bucket: a factor of 2 */
	cr_assert(a.p50_ns[0] >= 8192 && a.p50_ns[0] <= 16384,
		  "p50 %llu", (unsigned long long)a.p50_ns[0]);
	cr_assert(a.p99_ns[0] >= 33554432 && a.p99_ns[0] <= 67108864,
		  "p99 %llu", (unsigned long long)a.p99_ns[0]);
	cr_assert_eq(a.p50_ns[1], 0);
}

Test(stats, window_forgets_after_a_minute)
{
	struct stats_snap a;

	t_op(0, STATS_WRITE, 5000, 1);
	atomic_fetch_add(&t_now, 30 * SEC);
	t_op(0, STATS_WRITE, 5000, 1);
	stats_snapshot(s, 0, &a);
	cr_assert_eq(a.lat_count[1], 2);
	atomic_fetch_add(&t_now, 40 * SEC);	/* the first is 70 s old */
	stats_snapshot(s, 0, &a);
	cr_assert_eq(a.lat_count[1], 1);
	cr_assert_eq(a.c[STATS_WRITES], 2);	/* counters stay */
	/* the slot of the first second is reused, cleared */
	atomic_fetch_add(&t_now, 50 * SEC);	/* 120 s: slot again */
	t_op(0, STATS_WRITE, 5000, 1);
	stats_snapshot(s, 0, &a);
	cr_assert_eq(a.lat_count[1], 1);
}

Test(stats, uptime_follows_the_clock)
{
	atomic_fetch_add(&t_now, 3 * SEC / 2);
	cr_assert_float_eq(stats_uptime(s), 1.5, 1e-9);
}

#define T_THREADS	8
#define T_OPS		20000

static void *t_hammer(void *arg)
{
	unsigned dev = (unsigned)(uintptr_t)arg % 2;

	for (int i = 0; i < T_OPS; i++)
		t_op(dev, i & 1 ? STATS_WRITE : STATS_READ, 3000, 512);
	return NULL;
}

Test(stats, no_count_lost_under_threads)
{
	pthread_t t[T_THREADS];
	struct stats_snap a, b;

	for (uintptr_t i = 0; i < T_THREADS; i++)
		pthread_create(&t[i], NULL, t_hammer, (void *)i);
	for (int i = 0; i < T_THREADS; i++)
		pthread_join(t[i], NULL);
	stats_snapshot(s, 0, &a);
	stats_snapshot(s, 1, &b);
	cr_assert_eq(a.c[STATS_READS] + a.c[STATS_WRITES],
		     T_THREADS / 2 * T_OPS);
	cr_assert_eq(b.c[STATS_READ_BYTES] + b.c[STATS_WRITE_BYTES],
		     (uint64_t)T_THREADS / 2 * T_OPS * 512);
	/* one second, no rotation: the histogram has them all */
	cr_assert_eq(a.lat_count[0] + a.lat_count[1], T_THREADS / 2 * T_OPS);
}
