/*
 * health.h - each device's health: what the request paths saw of it, what
 * an operator set, and what follows from both.
 *
 * A device is in one state, the worst that applies, in this order:
 *
 *   failed     a request met a device error the device's probe confirmed,
 *              or a call on it got no answer within the device timeout:
 *              its files get EIO at once, lookups and listings leave it
 *              out, new files go elsewhere
 *   read-only  it said EROFS: its files still read, new files go elsewhere
 *   full       below its minfree: new files go elsewhere
 *   slow       requests took longer than the slow bound: still used
 *   ok
 *
 * Besides the state, a device may be drained by hand: its files are served
 * as its state allows, but no new file is placed on it.
 *
 * Each change of state is logged once, naming the device and why. Every
 * query is one atomic load: the request paths may ask on every request.
 * Thread-safe.
 */
#ifndef CORE_HEALTH_H
#define CORE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum health_state {
	HEALTH_OK,
	HEALTH_SLOW,
	HEALTH_FULL,
	HEALTH_RO,
	HEALTH_FAILED,
};

/* Default of health_params.timeout_ms: the device_timeout setting. */
#define HEALTH_TIMEOUT_MS	3000

struct health_params {
	unsigned count;			/* devices, 1..DEV_MAX */
	const char *const *roots;	/* each device's directory, for lines */
	unsigned timeout_ms;		/* no answer past it: failed; 0: default */
	uint64_t (*now_ms)(void);	/* NULL: CLOCK_MONOTONIC_COARSE */
};

struct health;

/*
 * Make the health of @p->count devices, all ok and none drained (@p and
 * its roots are copied). Returns 0 and the object in *@out, -EINVAL for a
 * count of 0 or over DEV_MAX, or -ENOMEM.
 */
int health_new(const struct health_params *p, struct health **out);

/* NULL is a no-op. */
void health_free(struct health *h);

/* The device timeout, milliseconds. */
unsigned health_timeout_ms(const struct health *h);

/* Device @dev's state. */
enum health_state health_state(const struct health *h, unsigned dev);

/* Its name as logged and shown: "ok", "slow", "full", "read-only",
 * "failed". */
const char *health_state_name(enum health_state s);

/* Whether device @dev is failed: its files get EIO, lookups skip it. */
bool health_failed(const struct health *h, unsigned dev);

/* Whether device @dev may take a new file: neither failed, read-only,
 * full nor drained. */
bool health_takes_new(const struct health *h, unsigned dev);

/*
 * Drain device @dev (@on) or return it to placement. Logged once per
 * change. Returns whether it changed.
 */
bool health_set_drain(struct health *h, unsigned dev, bool on);
bool health_drained(const struct health *h, unsigned dev);

/*
 * A call @op ("lookup", "read", ...: a literal) on device @dev got no
 * answer within health_timeout_ms(): the device is failed.
 */
void health_note_timeout(struct health *h, unsigned dev, const char *op);

/*
 * A request met device error @err (a negative errno for which
 * deverr_is_device() holds) on device @dev: -EROFS marks it read-only;
 * any other marks it failed.
 */
void health_note_error(struct health *h, unsigned dev, int err);

/* Device @dev's requests take longer than the slow bound (@slow), or no
 * longer do. */
void health_note_slow(struct health *h, unsigned dev, bool slow);

/* Device @dev is below (@full) or back above its minfree. */
void health_note_full(struct health *h, unsigned dev, bool full);

/*
 * Device @dev answered a probe: failed and read-only are lifted (the
 * device is ok, or what else still applies).
 */
void health_note_ok(struct health *h, unsigned dev);

/*
 * Device @dev's probe (core/hprobe.h) ended with @rc: 0 or an error that
 * is not the device's (the device answers) lifts failed and read-only;
 * -EROFS, or -EUCLEAN (its filesystem found itself corrupt and refuses
 * to allocate, while its files may still read), lifts failed and marks
 * it read-only; any other device error (deverr_is_device()) marks it
 * failed. One line at most, for the whole
 * change.
 */
void health_note_probe(struct health *h, unsigned dev, int rc);

/*
 * Write device @dev's state into @buf (@len bytes, NUL-terminated,
 * truncated): the state's name, then ",drain" if drained. Returns the
 * length it needed without the NUL, as snprintf().
 */
int health_describe(const struct health *h, unsigned dev, char *buf,
		    size_t len);

#endif /* CORE_HEALTH_H */
