/*
 * stats.h - per-device statistics of the data requests: counters since
 * the start (reads and writes, ops and bytes, errors by kind, spills,
 * evictions) and the latency of reads and writes over the last
 * STATS_WINDOW seconds, as log2 histograms in per-second slots.
 *
 * The hot path (stats_op_done()) is one clock read and a few relaxed
 * atomic adds; nothing locks. A snapshot reads the counters one by one,
 * so counters moved by concurrent requests may be a request apart. No
 * FUSE here; thread-safe.
 */
#ifndef CORE_STATS_H
#define CORE_STATS_H

#include <stdint.h>

#define STATS_WINDOW	60	/* seconds of latency kept */
/*
 * Latency buckets: 0 holds [0, 1024) ns, bucket b >= 1 holds
 * [2^(b+9), 2^(b+10)) ns; the last one everything above (about 37 min).
 */
#define STATS_BUCKETS	32

/* What a data request was, for stats_op_done(); 0: not counted. */
enum stats_op {
	STATS_NONE,
	STATS_READ,
	STATS_WRITE,
};

/* The counters of a device, all since stats_new(). */
enum stats_counter {
	STATS_READS,		/* reads answered without error */
	STATS_READ_BYTES,	/* bytes they returned */
	STATS_WRITES,		/* writes answered as done */
	STATS_WRITE_BYTES,	/* bytes they took */
	STATS_ERR_EIO,		/* reads and writes answered EIO */
	STATS_ERR_ENOSPC,	/* ... ENOSPC or EDQUOT */
	STATS_ERR_OTHER,	/* ... any other error */
	STATS_SPILLED_OUT,	/* new files the policy gave it, put elsewhere */
	STATS_SPILLED_IN,	/* new files put on it instead of elsewhere */
	STATS_EVICTED_FILES,	/* files eviction removed from it */
	STATS_EVICTED_BYTES,	/* bytes they took */
	STATS_COUNTERS
};

struct stats_params {
	unsigned ndev;			/* devices, 1..64 */
	uint64_t (*now_ns)(void);	/* NULL: CLOCK_MONOTONIC */
};

struct stats;

/* Make the statistics of @p->ndev devices, all 0. Returns 0, -EINVAL
 * (ndev 0 or past 64) or -ENOMEM. */
int stats_new(const struct stats_params *p, struct stats **out);

/* NULL is a no-op. */
void stats_free(struct stats *s);

/* The clock of @s in ns: take it before a request, for stats_op_done().
 * @s NULL: 0. */
uint64_t stats_now(const struct stats *s);

/*
 * A request @op on device @dev that began at @start_ns (stats_now())
 * ended with @result: bytes (>= 0) or a negative errno. Counts its op and
 * bytes or its error, and its latency in the current second's slot. An
 * error is counted by kind and not as an op; its latency is not kept.
 * @s NULL, @op STATS_NONE or @dev past the count: nothing.
 */
void stats_op_done(struct stats *s, unsigned dev, enum stats_op op,
		   uint64_t start_ns, int64_t result);

/* Add @n to counter @c of device @dev (@s NULL or @dev past: nothing). */
void stats_add(struct stats *s, unsigned dev, enum stats_counter c,
	       uint64_t n);

/* One device's counters and last minute's latency. */
struct stats_snap {
	uint64_t c[STATS_COUNTERS];
	/* [STATS_READ - 1], [STATS_WRITE - 1]: requests of the window,
	 * and their median and 99th percentile, ns (0 without requests) */
	uint64_t lat_count[2];
	uint64_t p50_ns[2], p99_ns[2];
};

/* Device @dev's statistics now into @out (zeros for @dev past). */
void stats_snapshot(const struct stats *s, unsigned dev,
		    struct stats_snap *out);

/*
 * The @q quantile (0 < @q <= 1) of histogram @hist (STATS_BUCKETS
 * counts), ns, interpolated linearly inside its bucket; 0 if all are 0.
 * Exposed for the tests.
 */
uint64_t stats_quantile(const uint64_t *hist, double q);

/* The bucket of a latency of @ns nanoseconds. */
unsigned stats_bucket(uint64_t ns);

/* Seconds since stats_new(), by its clock; 0 for NULL. */
double stats_uptime(const struct stats *s);

#endif /* CORE_STATS_H */
