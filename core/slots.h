/*
 * slots.h - each device's bounded set of requests in flight, and its queue
 * of parked requests.
 *
 * A device has a fixed number of slots. A request on the device takes one
 * (slots_try: one compare-and-swap when one is free) and gives it back when
 * done (slots_put). With none free, the caller parks it (slots_park): the
 * request, with whatever it needs copied, waits on the device's queue and
 * the caller's thread is free for other work; the next thread to finish one
 * of the device's requests runs the parked ones before it lets the slot go.
 * So a device never has more requests running, and never holds more
 * threads, than its slots, plus the threads waiting in slots_wait() (past
 * the queue's bound, or where parking does not fit the caller).
 *
 * The queue is bounded per device (requests) and over all devices (bytes
 * of parked payload). A failed device (slots_fail) answers its parked
 * requests with -EIO at once and parks or waits nothing more.
 *
 * slots_tick(), called periodically by one thread, tells when a device's
 * oldest request has run past the timeout, and when its requests have been
 * slow for a while, or fast again. Thread-safe.
 */
#ifndef CORE_SLOTS_H
#define CORE_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots a device may have at most. */
#define SLOTS_MAX	64

/* Defaults of slots_params.slow_ms and slow_for_ms. */
#define SLOTS_SLOW_MS		1000
#define SLOTS_SLOW_FOR_MS	2000

struct slots_params {
	unsigned count;		/* devices, 1..64 */
	unsigned slots;		/* per device, 1..SLOTS_MAX */
	unsigned queue_max;	/* parked requests per device; 0: none */
	size_t queue_bytes;	/* parked payload bytes, all devices */
	unsigned timeout_ms;	/* a request running longer: timed out */
	unsigned slow_ms;	/* a request taking longer is slow; 0: default */
	unsigned slow_for_ms;	/* for this long before the device is (no
				   longer) slow; 0: default */
	uint64_t (*now_ms)(void); /* NULL: CLOCK_MONOTONIC_COARSE */
};

/*
 * A parked request: the caller embeds it in its own record, sets @run,
 * @op and @bytes, and hands it to slots_park(). @run is called once, on
 * some thread: with @err 0 while a slot of the device is held for it (the
 * slot is given back when @run returns), or with -EIO when the device
 * failed, or it is freed before being run; either way @run answers the
 * request and frees the record.
 */
struct slots_job {
	struct slots_job *next;		/* the queue's, while parked */
	void (*run)(struct slots_job *job, int err);
	const char *op;			/* "read", "write", ...: a literal */
	size_t bytes;			/* payload copied for it */
};

struct slots;

/*
 * Make the slots of @p->count devices, each with @p->slots free. Returns
 * 0 and the object in *@out, -EINVAL for a count or slots out of range,
 * or -ENOMEM.
 */
int slots_new(const struct slots_params *p, struct slots **out);

/*
 * Free; every job still parked is run with -EIO first. NULL is a no-op.
 */
void slots_free(struct slots *s);

/* Slots per device. */
unsigned slots_per_device(const struct slots *s);

/*
 * Take a free slot of device @dev for a request @op (a literal, named if it
 * times out). Returns the slot (0..SLOTS_MAX-1), to be given to
 * slots_put(), or -EBUSY when none is free.
 */
int slots_try(struct slots *s, unsigned dev, const char *op);

/*
 * After slots_try() said -EBUSY: park @job on @dev's queue. Returns
 * -EINPROGRESS: parked, @job is now the queue's (its @run will be called);
 * a slot (>= 0): one came free meanwhile, @job is not parked and the
 * caller runs the request itself; -ENOBUFS: the queue is at its bound
 * (requests of the device, or bytes of all), call slots_wait(); -EIO:
 * the device is failed.
 */
int slots_park(struct slots *s, unsigned dev, struct slots_job *job);

/*
 * Wait in the calling thread until a slot of @dev is free and take it for
 * @op. Returns the slot, or -EIO if the device is failed or fails while
 * waiting.
 */
int slots_wait(struct slots *s, unsigned dev, const char *op);

/*
 * slots_wait() for at most @ms milliseconds: also -ETIMEDOUT when no slot
 * came free by then (the caller may park after all).
 */
int slots_wait_ms(struct slots *s, unsigned dev, const char *op,
		  unsigned ms);

/*
 * The request holding @slot of @dev is done. Parked jobs of @dev are run
 * on the calling thread, one after another with the same slot, while there
 * are any; then the slot is free again, for a thread in slots_wait() if
 * there is one.
 */
void slots_put(struct slots *s, unsigned dev, int slot);

/*
 * Device @dev failed: its parked jobs are run with -EIO on the calling
 * thread, threads in slots_wait() for it return -EIO, and slots_park()
 * and slots_wait() say -EIO until slots_unfail(). Requests already
 * holding slots run on. Returns how many parked jobs were answered.
 */
unsigned slots_fail(struct slots *s, unsigned dev);

/*
 * Device @dev serves again; a timeout is counted afresh from now, and
 * whether it is slow is judged afresh (not slow until shown).
 */
void slots_unfail(struct slots *s, unsigned dev);
bool slots_failed(const struct slots *s, unsigned dev);

/* What slots_tick() found; several may be set. */
enum slots_event {
	SLOTS_TIMEOUT = 1 << 0,	/* a request ran past timeout_ms */
	SLOTS_SLOW = 1 << 1,	/* the device just became slow */
	SLOTS_FAST = 1 << 2,	/* the device is no longer slow */
};

/*
 * Look at device @dev (one thread only, every 100-500 ms): SLOTS_TIMEOUT
 * while its oldest request (counted from the later of its start and the
 * last slots_unfail()) has run longer than timeout_ms, with that
 * request's op in *@op; SLOTS_SLOW once the device has been slow for
 * slow_for_ms (at each tick, a request still running had taken longer
 * than slow_ms, or most of the requests that finished since the last tick
 * had), SLOTS_FAST once it has not been for as long (an idle device, with
 * nothing running or finished, counts as neither). Returns the
 * events, 0 for none.
 */
unsigned slots_tick(struct slots *s, unsigned dev, const char **op);

/*
 * How long device @dev's oldest running request has run, ms (0: none
 * running). A few loads; any thread.
 */
uint64_t slots_oldest_ms(const struct slots *s, unsigned dev);

/* A device's counts, for the operator. */
struct slots_stat {
	unsigned busy;		/* slots held */
	unsigned parked;	/* requests parked */
	unsigned waiting;	/* threads in slots_wait() */
	uint64_t done;		/* requests finished */
	uint64_t slow;		/* of which took longer than slow_ms */
	uint64_t oldest_ms;	/* age of the oldest running request */
	bool is_slow;		/* as slots_tick() last said */
};

void slots_stat(const struct slots *s, unsigned dev, struct slots_stat *st);

#endif /* CORE_SLOTS_H */
