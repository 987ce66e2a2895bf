/*
 * info.c - the mount's own attributes on its root; see info.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devq.h"
#include "hprobe.h"
#include "info.h"
#include "kvio.h"
#include "reclaim.h"
#include "transport/transport.h"

#define INFO_PREFIX	"user.kvstripe."
#define DEVICE_PREFIX	INFO_PREFIX "device."
#define STATE_SUFFIX	".state"

/* The read-only counters, in the order info_get() tries them. */
enum counter {
	C_INODES, C_WRITERS, C_RING, C_TORN, C_CORRUPT, C_SPILLED, C_EVICTED,
	C_SLOTS, C_DEVICES, C_STATS, C_COUNT
};

static const char *const counter_name[C_COUNT] = {
	[C_INODES] = "inodes", [C_WRITERS] = "writers", [C_RING] = "ring",
	[C_TORN] = "torn", [C_CORRUPT] = "corrupt", [C_SPILLED] = "spilled",
	[C_EVICTED] = "evicted", [C_SLOTS] = "slots", [C_DEVICES] = "devices",
	[C_STATS] = "stats",
};

/* Which counter @name is, or C_COUNT. */
static enum counter counter_of(const char *name)
{
	enum counter c;

	if (strncmp(name, INFO_PREFIX, sizeof(INFO_PREFIX) - 1))
		return C_COUNT;
	name += sizeof(INFO_PREFIX) - 1;
	for (c = 0; c < C_COUNT; c++)
		if (!strcmp(name, counter_name[c]))
			break;
	return c;
}

/*
 * The device "user.kvstripe.device.N.state" names: N, plain decimal
 * without leading zeros; -1 if @name is not of that form.
 */
static long state_device(const char *name)
{
	const char *p = name + sizeof(DEVICE_PREFIX) - 1;
	char *end;
	long n;

	if (strncmp(name, DEVICE_PREFIX, sizeof(DEVICE_PREFIX) - 1) ||
	    *p < '0' || *p > '9' || (*p == '0' && p[1] != '.'))
		return -1;
	n = strtol(p, &end, 10);
	if (strcmp(end, STATE_SUFFIX))
		return -1;
	return n > DEV_MAX ? DEV_MAX : n;	/* no such device */
}

bool info_is_ours(const char *name)
{
	return counter_of(name) != C_COUNT || state_device(name) >= 0;
}

/* The root's user.kvstripe.devices: "N STATE PATH" lines. */
static int describe_devices(struct kvfs *fs, char *val, size_t size)
{
	size_t n = 0;

	for (unsigned d = 0; d < fs->ndev; d++) {
		char state[32];

		health_describe(fs->health, d, state, sizeof(state));
		n += (size_t)snprintf(val + (n < size ? n : size),
				      n < size ? size - n : 0, "%u %s %s\n",
				      d, state, kv_dev(fs, d)->path);
	}
	return (int)n;
}

static int counter_value(struct kvfs *fs, enum counter c, char *val,
			 size_t size)
{
	uint64_t files, bytes;
	struct kvio_sum_stats st;
	size_t count, n = 0;

	switch (c) {
	case C_INODES:
		pthread_mutex_lock(&fs->lock);
		count = fs->count;
		pthread_mutex_unlock(&fs->lock);
		return snprintf(val, size, "%zu", count);
	case C_WRITERS:
		/* "N0 N1 ...": device d's count is the d-th */
		for (unsigned d = 0; d < fs->ndev; d++)
			n += (size_t)snprintf(val + (n < size ? n : size),
					      n < size ? size - n : 0, "%s%u",
					      d ? " " : "",
					      atomic_load(&fs->writers[d]));
		return (int)n;
	case C_RING:
		return snprintf(val, size, "%llu",
				transport_ring_served(fs->tp));
	case C_TORN:
		return snprintf(val, size, "%u", atomic_load(&fs->torn_found));
	case C_CORRUPT:
		/* "FILES READS": files with a mismatch found, reads refused */
		kvio_sum_stats(fs->io, &st);
		return snprintf(val, size, "%llu %llu",
				(unsigned long long)st.bad_files,
				(unsigned long long)st.bad_reads);
	case C_SPILLED:
		return snprintf(val, size, "%llu",
				(unsigned long long)atomic_load(&fs->spilled));
	case C_EVICTED:
		/* "FILES BYTES" removed by eviction since the mount */
		reclaim_stats(fs, &files, &bytes);
		return snprintf(val, size, "%llu %llu",
				(unsigned long long)files,
				(unsigned long long)bytes);
	case C_SLOTS:
		return devq_describe(fs, val, size);
	case C_DEVICES:
		return describe_devices(fs, val, size);
	case C_STATS:
		return kvfs_stats(fs, val, size);
	case C_COUNT:
		break;
	}
	return -ENODATA;
}

int info_get(struct kvfs *fs, struct inode *in, const char *name,
	     char *val, size_t size)
{
	long d = state_device(name);

	if (in != fs->root)
		return -ENODATA;
	if (d < 0)
		return counter_value(fs, counter_of(name), val, size);
	if ((unsigned long)d >= fs->ndev)
		return -ENODATA;
	return health_describe(fs->health, (unsigned)d, val, size);
}

/* Whether the @size bytes of @value spell @word. */
static bool value_is(const char *value, size_t size, const char *word)
{
	return size == strlen(word) && !memcmp(value, word, size);
}

int info_set(struct kvfs *fs, fuse_req_t req, struct inode *in,
	     const char *name, const char *value, size_t size)
{
	long d = state_device(name);
	unsigned dev;

	if (d < 0 || !value || in != fs->root || fuse_req_ctx(req)->uid != 0)
		return -EPERM;
	if ((unsigned long)d >= fs->ndev)
		return -ENODATA;
	dev = (unsigned)d;
	if (value_is(value, size, "drain"))
		health_set_drain(fs->health, dev, true);
	else if (value_is(value, size, "resume"))
		health_set_drain(fs->health, dev, false);
	else if (value_is(value, size, "probe"))
		hprobe_suspect(atomic_load(&fs->probe), dev);
	else
		return -EINVAL;
	return 0;
}
