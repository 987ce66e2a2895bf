/*
 * devq.h - requests on a file's data go through its device's slots
 * (core/slots.h): at most device_slots of them run per device, so a device
 * that is slow or hung holds at most that many worker threads; the rest
 * are parked on the device's queue and the worker goes back to /dev/fuse.
 * A watchdog thread fails a device whose oldest request ran past
 * device_timeout (its files then get EIO at once, its parked requests
 * too) and marks a device slow while its requests stay slow.
 *
 * A handler fills a struct devq_req with its arguments and the function
 * that does the work (@run), and calls devq_submit(): @run is called with
 * a slot of the file's device held, now on this thread or later on another
 * one, and must answer the request. Requests from an io_uring entry
 * (fs/transport/) are never parked: their reply goes into the entry of the
 * thread that took them, so they wait for a slot in their thread.
 */
#ifndef FS_DEVQ_H
#define FS_DEVQ_H

#include "fs_i.h"
#include "slots.h"
#include "stats.h"

/* Default of the queue's bytes: payload parked, over all devices. */
#define DEVQ_QUEUE_BYTES	(64u << 20)
/*
 * A parked request with a payload of at most DEVQ_SPARE_PAYLOAD bytes (a
 * FUSE WRITE on libfuse 3.14) is copied into a block kept for reuse: up
 * to DEVQ_SPARES of them stay once their requests ran, so a device that
 * keeps parking does not pay for fresh pages (faults and zeroing) on each
 * copy; they are given back after DEVQ_SPARE_IDLE_MS without parking.
 */
#define DEVQ_SPARE_PAYLOAD	(1u << 20)
#define DEVQ_SPARES		16
#define DEVQ_SPARE_IDLE_MS	10000

struct devq_req {
	struct slots_job job;	/* devq's */
	fuse_req_t req;
	fuse_ino_t ino;		/* set by the handler */
	struct inode *in;	/* devq_submit() sets the rest of these */
	unsigned dev;
	/* does the work and answers; @r lives until it returns */
	void (*run)(struct kvfs *fs, struct devq_req *r);
	/* answers -@err instead when the device failed; NULL: just that */
	void (*fail)(struct kvfs *fs, struct devq_req *r, int err);
	const char *op;		/* "read", "write", ...: for time-outs */
	/* counted in fs->stats as this (READ, WRITE), with @result: the
	 * bytes @run answered with, or the -errno; set by @run */
	enum stats_op stat;
	ssize_t result;
	bool parked;		/* runs on another thread than it came on */
	/* the handler's arguments, as it needs them */
	struct fuse_file_info fi;
	bool has_fi;
	size_t size;
	off_t off, len;
	int mode;		/* fallocate's mode, fsync's datasync, whence */
	const char *buf;	/* WRITE's payload (copied if parked,
				 * unless the transport lent it) */
	void *lent;		/* parked: transport_lend()'s token */
	bool kill_suidgid;	/* WRITE: transport_kill_suidgid() on arrival */
	struct stat attr;	/* SETATTR */
	int valid;
};

/*
 * Make fs->slots: @slots per device (0: the default, half of @threads, at
 * least 1), the queue bounded to @queue_max requests per device and
 * DEVQ_QUEUE_BYTES of payload; and fs->stats, where every request with a
 * @stat is counted: its device, bytes or error, and the time @run took
 * (a slot held; the time parked is not in it). A request failed without
 * running (its device failed) counts as an error. Returns 0 or -errno.
 */
int devq_new(struct kvfs *fs, unsigned slots, unsigned threads,
	     unsigned queue_max);
/* Free fs->slots and fs->stats (NULL: no-op); parked requests are
 * answered EIO. */
void devq_free(struct kvfs *fs);

/*
 * Start the watchdog thread (every DEVQ_TICK_MS); devq_stop() ends it and
 * answers every parked request EIO. Returns 0 or -errno.
 */
int devq_start(struct kvfs *fs);
void devq_stop(struct kvfs *fs);

/*
 * Run @r (on stack, filled by a handler) under a slot of @r->in's device:
 * EIO at once if the device is failed (core/health.h); else now, or
 * parked (copied, with its WRITE payload) until a slot is free, or, past
 * the queue's bound or from a ring entry, after waiting in this thread
 * (one with a payload first waits DEVQ_PARK_COPY_MS at most in its
 * thread while the device's oldest request is younger than that). A failed request is answered by @r->fail if
 * set.
 * A file with no device (a directory) runs at once.
 */
void devq_submit(struct kvfs *fs, struct devq_req *r);

/*
 * The root's user.kvstripe.slots into @buf (@size bytes): per device
 * "BUSY/PARKED/WAITING", space-separated. Returns the length, as
 * snprintf().
 */
int devq_describe(struct kvfs *fs, char *buf, size_t size);

#endif /* FS_DEVQ_H */
