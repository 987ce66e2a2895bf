/*
 * space.h - free space per device: the minfree setting (bytes or a
 * percentage of the device's size), and a device's free space sampled at
 * most every SPACE_TTL_MS, so a create may ask for it cheaply.
 */
#ifndef CORE_SPACE_H
#define CORE_SPACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SPACE_TTL_MS		200	/* a sample's age before it is taken again */
#define SPACE_DEFAULT_BYTES	(4ull << 30)	/* default minfree: at most 4 GiB, */
#define SPACE_DEFAULT_BP	500		/* and at most 5 % of the device */

/* A space setting as given: bytes, or hundredths of a percent. */
struct space_setting {
	bool set;		/* false: the default */
	bool percent;		/* value is in hundredths of a percent */
	uint64_t value;		/* bytes, or 0..10000 */
};

/*
 * Parse @s: decimal bytes with an optional binary suffix K, M, G or T (any
 * case: 4G is 4 GiB), or a percentage, decimal with at most two places
 * then '%' ("5%", "2.5%", 0 to 100). No sign, blanks or other suffixes.
 * Returns 0 with *@out set, or -EINVAL (also for a byte count past
 * UINT64_MAX).
 */
int space_parse(const char *s, struct space_setting *out);

/*
 * The bytes @s means on a device of @capacity bytes: its bytes, its
 * percentage of @capacity, or when not set the smaller of
 * SPACE_DEFAULT_BYTES and SPACE_DEFAULT_BP of @capacity.
 */
uint64_t space_bytes(const struct space_setting *s, uint64_t capacity);

/* One device's last sample; zero-initialised means none yet. */
struct space_avail {
	_Atomic uint64_t bytes;	/* f_bavail * f_frsize */
	_Atomic uint64_t at_ms;	/* CLOCK_MONOTONIC ms of the sample, 0: none */
};

/*
 * The free space (for unprivileged users: f_bavail * f_frsize) of the
 * filesystem holding @fd, from @c if sampled less than SPACE_TTL_MS ago,
 * else from fstatvfs(), stored in @c. Threads may race to sample; any
 * one's result stands. If fstatvfs() fails, the last sample, or
 * UINT64_MAX if there is none (a device that cannot say is not full).
 */
uint64_t space_avail(struct space_avail *c, int fd);

#endif /* CORE_SPACE_H */
