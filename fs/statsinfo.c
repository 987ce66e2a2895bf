/*
 * statsinfo.c - the mount's statistics as text (kvfs_stats() in kvfs.h):
 * the root's user.kvstripe.stats and what -o stats_file writes, one
 * "NAME VALUE" line per counter, names as runtime.md lists them.
 *
 * Nothing here waits for a device but the fstatvfs() of a device that is
 * not failed: a failed one is not asked, its space shows as 0.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "devq.h"
#include "kvio.h"
#include "reclaim.h"
#include "stats.h"
#include "usage.h"

/* The format's version: the first line, raised when a name changes. */
#define STATS_TEXT_VERSION	1

struct out {
	char *buf;
	size_t size, n;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + (o->n < o->size ? o->n : o->size),
		      o->n < o->size ? o->size - o->n : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->n += (size_t)n;
}

static void put_u(struct out *o, const char *name, uint64_t v)
{
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void put_dev(struct out *o, unsigned d, const char *name, uint64_t v)
{
	put(o, "device.%u.%s %llu\n", d, name, (unsigned long long)v);
}

/* Seconds with ns precision, as text. */
static void put_dev_sec(struct out *o, unsigned d, const char *name,
			uint64_t ns)
{
	put(o, "device.%u.%s %llu.%09llu\n", d, name,
	    (unsigned long long)(ns / 1000000000u),
	    (unsigned long long)(ns % 1000000000u));
}

static void mount_lines(struct kvfs *fs, struct out *o)
{
	struct kvio_sum_stats sum = { 0 };
	struct kvio_buffers b = { 0 };
	uint64_t files, bytes;
	struct kvio *io = fs->io;
	size_t inodes;

	if (io) {
		kvio_sum_stats(io, &sum);
		kvio_buffers(io, &b);
	}
	reclaim_stats(fs, &files, &bytes);
	pthread_mutex_lock(&fs->lock);
	inodes = fs->count;
	pthread_mutex_unlock(&fs->lock);
	put(o, "version %d\n", STATS_TEXT_VERSION);
	put(o, "uptime_seconds %.3f\n", stats_uptime(fs->stats));
	put_u(o, "devices", fs->ndev);
	put_u(o, "inodes", inodes);
	put_u(o, "torn_files", atomic_load(&fs->torn_found));
	put_u(o, "checksum_bad_files", sum.bad_files);
	put_u(o, "checksum_bad_reads", sum.bad_reads);
	put_u(o, "spilled", atomic_load(&fs->spilled));
	put_u(o, "evicted_files", files);
	put_u(o, "evicted_bytes", bytes);
	put_u(o, "write_buffers", b.wb);
	put_u(o, "write_buffers_busy", b.wb_busy);
	put_u(o, "read_buffers", b.ra);
	put_u(o, "read_buffers_busy", b.ra_busy);
	put_u(o, "limit_bytes", fs->usage ? usage_limit(fs->usage) : 0);
	if (fs->usage)
		put_u(o, "used_bytes", usage_total(fs->usage));
}

static void space_lines(struct kvfs *fs, unsigned d, struct out *o)
{
	struct statvfs sv = { 0 };

	/* a failed device may not answer */
	if (!health_failed(fs->health, d) && fstatvfs(kv_rootfd(fs, d), &sv))
		sv = (struct statvfs){ 0 };
	put_dev(o, d, "fs_size_bytes", (uint64_t)sv.f_blocks * sv.f_frsize);
	put_dev(o, d, "fs_free_bytes", (uint64_t)sv.f_bavail * sv.f_frsize);
	put_dev(o, d, "fs_used_bytes",
		(uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize);
	put_dev(o, d, "fs_files_used", (uint64_t)(sv.f_files - sv.f_ffree));
	put_dev(o, d, "limit_bytes",
		fs->usage ? usage_dev_limit(fs->usage, d) : 0);
	if (fs->usage)
		put_dev(o, d, "used_bytes", usage_dev(fs->usage, d));
}

static void device_lines(struct kvfs *fs, unsigned d, struct out *o)
{
	struct slots_stat sl = { 0 };
	struct stats_snap st;
	char state[32];

	health_describe(fs->health, d, state, sizeof(state));
	stats_snapshot(fs->stats, d, &st);
	if (fs->slots)
		slots_stat(fs->slots, d, &sl);
	put(o, "device.%u.path %s\n", d, kv_dev(fs, d)->path);
	put(o, "device.%u.state %s\n", d,
	    health_state_name(health_state(fs->health, d)));
	put_dev(o, d, "drained", health_drained(fs->health, d));
	put_dev(o, d, "reads", st.c[STATS_READS]);
	put_dev(o, d, "read_bytes", st.c[STATS_READ_BYTES]);
	put_dev(o, d, "writes", st.c[STATS_WRITES]);
	put_dev(o, d, "write_bytes", st.c[STATS_WRITE_BYTES]);
	put_dev(o, d, "errors_eio", st.c[STATS_ERR_EIO]);
	put_dev(o, d, "errors_enospc", st.c[STATS_ERR_ENOSPC]);
	put_dev(o, d, "errors_other", st.c[STATS_ERR_OTHER]);
	put_dev(o, d, "spilled_out", st.c[STATS_SPILLED_OUT]);
	put_dev(o, d, "spilled_in", st.c[STATS_SPILLED_IN]);
	put_dev(o, d, "evicted_files", st.c[STATS_EVICTED_FILES]);
	put_dev(o, d, "evicted_bytes", st.c[STATS_EVICTED_BYTES]);
	put_dev(o, d, "slots", fs->slots ? slots_per_device(fs->slots) : 0);
	put_dev(o, d, "requests_running", sl.busy);
	put_dev(o, d, "requests_parked", sl.parked);
	put_dev(o, d, "requests_waiting", sl.waiting);
	put_dev(o, d, "writers", atomic_load(&fs->writers[d]));
	put_dev(o, d, "read_latency_samples", st.lat_count[STATS_READ - 1]);
	put_dev_sec(o, d, "read_latency_p50_seconds",
		    st.p50_ns[STATS_READ - 1]);
	put_dev_sec(o, d, "read_latency_p99_seconds",
		    st.p99_ns[STATS_READ - 1]);
	put_dev(o, d, "write_latency_samples", st.lat_count[STATS_WRITE - 1]);
	put_dev_sec(o, d, "write_latency_p50_seconds",
		    st.p50_ns[STATS_WRITE - 1]);
	put_dev_sec(o, d, "write_latency_p99_seconds",
		    st.p99_ns[STATS_WRITE - 1]);
	space_lines(fs, d, o);
}

int kvfs_stats(struct kvfs *fs, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size };

	if (size)
		buf[0] = '\0';
	mount_lines(fs, &o);
	for (unsigned d = 0; d < fs->ndev; d++)
		device_lines(fs, d, &o);
	return (int)o.n;
}
