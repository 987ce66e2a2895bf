/*
 * stats.c - per-device request counters and latency histograms; see
 * stats.h. A latency slot holds one second: the first request of a new
 * second that finds the slot holding an older one takes it over (a
 * compare-and-swap) and clears it; a sample counted by another thread
 * in that instant may be lost, never counted in the wrong second's
 * window for long.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"

#define NS_PER_SEC	1000000000ull
#define STATS_DEV_MAX	64

struct stats_sec {
	_Atomic uint64_t sec;		/* the second held, + 1; 0: none */
	_Atomic uint32_t n[STATS_BUCKETS];
};

struct stats_dev {
	_Atomic uint64_t c[STATS_COUNTERS];
	struct stats_sec lat[2][STATS_WINDOW];	/* [op - 1][sec % window] */
};

struct stats {
	unsigned ndev;
	uint64_t (*now_ns)(void);
	uint64_t start_ns;
	struct stats_dev dev[];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

int stats_new(const struct stats_params *p, struct stats **out)
{
	struct stats *s;

	if (!p->ndev || p->ndev > STATS_DEV_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s) + p->ndev * sizeof(s->dev[0]));
	if (!s)
		return -ENOMEM;
	s->ndev = p->ndev;
	s->now_ns = p->now_ns ? p->now_ns : mono_ns;
	s->start_ns = s->now_ns();
	*out = s;
	return 0;
}

void stats_free(struct stats *s)
{
	free(s);
}

uint64_t stats_now(const struct stats *s)
{
	return s ? s->now_ns() : 0;
}

double stats_uptime(const struct stats *s)
{
	if (!s)
		return 0;
	return (double)(s->now_ns() - s->start_ns) / (double)NS_PER_SEC;
}

unsigned stats_bucket(uint64_t ns)
{
	unsigned b;

	if (ns < 1024)
		return 0;
	b = 63u - (unsigned)__builtin_clzll(ns) - 9u;	/* floor(log2) - 9 */
	return b < STATS_BUCKETS ? b : STATS_BUCKETS - 1;
}

/* Bucket @b's bounds, ns. */
static void bucket_bounds(unsigned b, uint64_t *lo, uint64_t *hi)
{
	*lo = b ? 1ull << (b + 9) : 0;
	*hi = 1ull << (b + 10);
}

static inline void count(struct stats_dev *d, enum stats_counter c,
			 uint64_t n)
{
	atomic_fetch_add_explicit(&d->c[c], n, memory_order_relaxed);
}

void stats_add(struct stats *s, unsigned dev, enum stats_counter c,
	       uint64_t n)
{
	if (s && dev < s->ndev && c < STATS_COUNTERS)
		count(&s->dev[dev], c, n);
}

/* Count a latency of @ns in second @sec (+ 1) of @op's slots. */
static void latency(struct stats_dev *d, enum stats_op op, uint64_t sec,
		    uint64_t ns)
{
	struct stats_sec *sl = &d->lat[op - 1][sec % STATS_WINDOW];
	uint64_t seen = atomic_load_explicit(&sl->sec, memory_order_relaxed);

	if (seen != sec) {
		if (seen > sec)
			return;	/* a request slower than the window: late */
		if (atomic_compare_exchange_strong(&sl->sec, &seen, sec))
			for (unsigned b = 0; b < STATS_BUCKETS; b++)
				atomic_store_explicit(&sl->n[b], 0,
						      memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&sl->n[stats_bucket(ns)], 1,
				  memory_order_relaxed);
}

void stats_op_done(struct stats *s, unsigned dev, enum stats_op op,
		   uint64_t start_ns, int64_t result)
{
	struct stats_dev *d;
	uint64_t now;

	if (!s || dev >= s->ndev || (op != STATS_READ && op != STATS_WRITE))
		return;
	d = &s->dev[dev];
	if (result < 0) {
		if (result == -EIO)
			count(d, STATS_ERR_EIO, 1);
		else if (result == -ENOSPC || result == -EDQUOT)
			count(d, STATS_ERR_ENOSPC, 1);
		else
			count(d, STATS_ERR_OTHER, 1);
		return;
	}
	if (op == STATS_READ) {
		count(d, STATS_READS, 1);
		count(d, STATS_READ_BYTES, (uint64_t)result);
	} else {
		count(d, STATS_WRITES, 1);
		count(d, STATS_WRITE_BYTES, (uint64_t)result);
	}
	now = s->now_ns();
	latency(d, op, now / NS_PER_SEC + 1,
		now > start_ns ? now - start_ns : 0);
}

uint64_t stats_quantile(const uint64_t *hist, double q)
{
	uint64_t total = 0, before = 0, lo, hi;
	double rank;

	for (unsigned b = 0; b < STATS_BUCKETS; b++)
		total += hist[b];
	if (!total)
		return 0;
	rank = q * (double)total;	/* the rank-th sample, from 1 */
	if (rank < 1)
		rank = 1;
	for (unsigned b = 0; b < STATS_BUCKETS; b++) {
		if (!hist[b] || (double)(before + hist[b]) < rank) {
			before += hist[b];
			continue;
		}
		bucket_bounds(b, &lo, &hi);
		return lo + (uint64_t)((double)(hi - lo) *
				       (rank - (double)before) /
				       (double)hist[b]);
	}
	bucket_bounds(STATS_BUCKETS - 1, &lo, &hi);
	return hi;
}

void stats_snapshot(const struct stats *s, unsigned dev,
		    struct stats_snap *out)
{
	const struct stats_dev *d;
	uint64_t cur;

	memset(out, 0, sizeof(*out));
	if (!s || dev >= s->ndev)
		return;
	d = &s->dev[dev];
	for (unsigned c = 0; c < STATS_COUNTERS; c++)
		out->c[c] = atomic_load_explicit(&d->c[c],
						 memory_order_relaxed);
	cur = s->now_ns() / NS_PER_SEC + 1;
	for (unsigned op = 0; op < 2; op++) {
		uint64_t hist[STATS_BUCKETS] = { 0 };

		for (unsigned i = 0; i < STATS_WINDOW; i++) {
			const struct stats_sec *sl = &d->lat[op][i];
			uint64_t sec = atomic_load(&sl->sec);

			if (!sec || sec > cur || sec + STATS_WINDOW <= cur)
				continue;
			for (unsigned b = 0; b < STATS_BUCKETS; b++)
				hist[b] += atomic_load_explicit(
					&sl->n[b], memory_order_relaxed);
		}
		for (unsigned b = 0; b < STATS_BUCKETS; b++)
			out->lat_count[op] += hist[b];
		out->p50_ns[op] = stats_quantile(hist, 0.50);
		out->p99_ns[op] = stats_quantile(hist, 0.99);
	}
}
