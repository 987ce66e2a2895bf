/*
 * hprobe.h - the health probe: a background check that a device whose
 * requests met trouble still answers, and that one marked failed or
 * read-only answers again.
 *
 * A probe of a device writes one block to a file with no name (O_TMPFILE,
 * else a name removed at once) with O_DIRECT, syncs it, reads it back and
 * compares: it reaches the device itself, never only the kernel's caches,
 * and leaves nothing behind. Its result goes to the device's health
 * (health_note_probe()): an answer lifts failed and read-only, EROFS marks
 * the device read-only, any other device error fails it.
 *
 * A failed device only comes back through its probe: first the names
 * made elsewhere while it was failed are swept from it (core/shadow.h),
 * so no older file there shadows a newer one; a device whose sweep fails
 * stays failed.
 *
 * Which devices are probed:
 *   - a failed or read-only device, once every period, until it answers;
 *   - a device a request met a device error on (hprobe_suspect()), at
 *     once, then at most once a period: one bad file does not fail a
 *     device, a device that fails its probe too is failed.
 *
 * One probe per device runs at a time, in a thread of its own: a probe
 * that hangs in the device holds that one thread until the device
 * answers (a system call on a hung filesystem cannot be interrupted), and
 * no other probe of the device starts meanwhile. A probe still running
 * after the device timeout (health_timeout_ms()) fails the device.
 * Thread-safe.
 */
#ifndef CORE_HPROBE_H
#define CORE_HPROBE_H

struct health;
struct shadow;

/* Default of hprobe_params.period_ms. */
#define HPROBE_PERIOD_MS	1000

struct hprobe_params {
	unsigned count;		/* devices, 1..DEV_MAX */
	const int *root_fds;	/* each device's directory (duplicated) */
	const unsigned *align;	/* each device's O_DIRECT alignment */
	struct health *health;	/* must outlive hprobe_stop() */
	unsigned period_ms;	/* 0: HPROBE_PERIOD_MS */
	/*
	 * NULL, or the names made while a device was failed (core/shadow.h),
	 * owned by the prober from hprobe_start() on (also on failure):
	 * before a failed device that answers its probe is back, they are
	 * swept from it; if that fails, it stays failed.
	 */
	struct shadow *shadow;
};

struct hprobe;

/*
 * Start probing @p->count devices. Returns 0 and the prober in *@out,
 * -EINVAL for a bad count, or -errno (descriptors, memory, a thread).
 */
int hprobe_start(const struct hprobe_params *p, struct hprobe **out);

/*
 * Stop probing and let go of the health object: no probe notes anything
 * after this returns. A probe stuck in a hung device keeps its thread and
 * its own descriptor until the device answers, then ends. NULL is a
 * no-op.
 */
void hprobe_stop(struct hprobe *hp);

/*
 * A request met device error @err on device @dev (or an operator asked):
 * probe it soon. Cheap; safe from any thread, with @hp NULL too.
 */
void hprobe_suspect(struct hprobe *hp, unsigned dev);

/*
 * One probe of the directory @root_fd with I/O alignment @align (0: no
 * O_DIRECT), in the caller's thread: 0 if the device wrote, synced and
 * read back a block; else -errno (-EROFS read-only, -EIO a device error or
 * a block that read back wrong, -ENOSPC no room, ...).
 */
int hprobe_run(int root_fd, unsigned align);

#endif /* CORE_HPROBE_H */
