/*
 * devcall.h - calls on a device with a deadline: a system call that may
 * block on the device (fstatat, a directory read, mkdirat, ...) runs in
 * one of the device's own worker threads while its caller waits at most
 * the device timeout (health_timeout_ms()).
 *
 * Each device has its own queue and at most DEVCALL_WORKERS workers,
 * started when first needed. A caller hands over one call per device it
 * needs, all at once, and waits for all of them together: asking three
 * devices costs the slowest one, not the sum. A call that has no answer
 * by the deadline is given up (rc -ETIMEDOUT) and its device is failed
 * (health_note_timeout()); a failed device is not asked at all (rc -EIO).
 *
 * A call given up while still queued is taken off the queue and never
 * runs. One that had started cannot be stopped (a thread in a system call
 * on a hung filesystem cannot be interrupted): it ends in its worker
 * whenever the device answers, and whoever lets go of the call last, the
 * caller (devcall_put()) or the worker, releases it. So a call's memory
 * (its arguments and results) must be the call's own, never the caller's
 * stack. A failed device comes back through its health probe alone
 * (core/hprobe.h), which first sweeps what it must (core/shadow.h).
 *
 * A hung device thus holds at most DEVCALL_WORKERS threads: once they are
 * all stuck, further calls queue, time out, are taken off the queue, and
 * (the device being failed by then) are not even queued; no thread is
 * added. Thread-safe.
 */
#ifndef CORE_DEVCALL_H
#define CORE_DEVCALL_H

#include <stdbool.h>

struct health;

/* Workers per device: the most threads a hung device can hold. */
#define DEVCALL_WORKERS	4

struct devcall_wait;

struct devcall {
	/* Set by the caller before devcall_run(). */
	int (*run)(struct devcall *c);	/* the call, in a worker: 0/-errno */
	void (*release)(struct devcall *c);	/* frees the call */
	const char *op;		/* "lookup", "listing", ...: a literal */
	unsigned dev;

	/*
	 * Set by devcall_run(): run()'s result; -ETIMEDOUT if it did not
	 * end by the deadline; -EIO if the device is failed and was not
	 * asked. @out: one of the last two; the call's results must then
	 * not be read (a worker may still be writing them).
	 */
	int rc;
	bool out;

	/* devcall.c's own */
	struct devcall *next, *prev;
	struct devcall_wait *wait;
	unsigned refs;
	bool started, done, abandoned;
	int res;
};

struct devcalls;

/*
 * Make the queues of @ndev devices (1..64), their health in @h (used until
 * devcall_free()). No thread is started yet. Returns 0 and the object in *@out, -EINVAL or
 * -ENOMEM.
 */
int devcall_new(unsigned ndev, struct health *h, struct devcalls **out);

/*
 * Stop the workers. Idle ones end; one stuck on a device ends when the
 * device answers, and the last to end frees the object. The health object
 * is no longer used once this returns. No call may be running in
 * devcall_run(). NULL is a no-op.
 */
void devcall_free(struct devcalls *dc);

/*
 * Run the @n calls @calls (each with run, release, op and dev set; at
 * most one call per device is usual, several are allowed) and wait until
 * all have ended or the device timeout has passed. Sets each call's rc
 * and out. The caller then reads the results of those not out, and hands
 * every call back with devcall_put(). A device with a call given up is
 * failed (health_note_timeout(), naming the call's op).
 */
void devcall_run(struct devcalls *dc, struct devcall *const *calls,
		 unsigned n);

/*
 * Whether the caller has what it needs from @calls, though some have not
 * ended: called with devcall's lock held each time one of them ends. A
 * call has ended if c->done; then c->res is run()'s result and what run()
 * wrote is readable. Must not block or call into devcall.
 */
typedef bool devcall_enough_fn(void *ctx, struct devcall *const *calls,
			       unsigned n);

/*
 * devcall_run(), but the wait also ends once @enough says so. Calls not
 * ended then are let go (rc -ECANCELED, out): taken off their queue if
 * not started, else left to end in their worker; their devices are not
 * failed for it.
 */
void devcall_run_until(struct devcalls *dc, struct devcall *const *calls,
		       unsigned n, devcall_enough_fn *enough, void *ctx);

/* The caller is done with @c: released now, or by its worker when the
 * call ends. */
void devcall_put(struct devcalls *dc, struct devcall *c);

/* Calls given up since devcall_new(), and threads started (for tests). */
unsigned long devcall_timeouts(struct devcalls *dc);
unsigned devcall_threads(struct devcalls *dc, unsigned dev);

#endif /* CORE_DEVCALL_H */
