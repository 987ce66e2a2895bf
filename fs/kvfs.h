/*
 * kvfs.h - the kvstripe filesystem as a libfuse low-level operations table.
 *
 * mount/ opens the devices, creates a kvfs over them and hands kvfs_ops()
 * with the kvfs as userdata to fuse_session_new(). The kvfs borrows the
 * device set: free the kvfs first, then the devices.
 */
#ifndef FS_KVFS_H
#define FS_KVFS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

struct devset;
struct kvio;
struct place_rules;

struct kvfs_params {
	struct devset *devs;
	unsigned gpus;		/* placement: 0 = off (see core/place.h) */
	/* placement rules tried first, NULL: none; borrowed, they must
	   outlive the kvfs */
	const struct place_rules *rules;
	double entry_timeout;	/* seconds the kernel may cache a name */
	double attr_timeout;	/* seconds the kernel may cache attributes */
	unsigned max_background; /* async requests the kernel may queue */
	unsigned max_write;	/* bytes per WRITE request */
	unsigned max_readahead;	/* bytes the kernel may read ahead, 0: its own */
	unsigned max_read;	/* max_read mount option, 0: none given */
	bool read_cache;	/* buffered readers read through the kernel's
				   page cache; else past it (fs/file.c) */
	unsigned max_inodes;	/* inodes to keep before asking the kernel to
				   drop names; 0: no limit */
	unsigned listing_window; /* directory entries a listing holds at a
				    time, 0: the default */
	unsigned ring_threads;	/* threads serving requests through io_uring
				   (fs/transport/), 0: /dev/fuse only */
	const uint64_t *minfree; /* per device: bytes below which it takes no
				    new files (core/place.h place_spill());
				    NULL: all 0, never */
	const uint64_t *max_size; /* per device: bytes its files may take,
				     0: no limit of its own; NULL: none */
	uint64_t max_size_all;	/* bytes the mount's files may take, 0: none */
	unsigned evict_high;	/* % of the limit that starts eviction, 0: off */
	unsigned evict_low;	/* % of it eviction goes down to */
	unsigned device_timeout_ms; /* a device that does not answer a call
				       within it is failed (core/health.h);
				       0: HEALTH_TIMEOUT_MS */
	unsigned threads;	/* FUSE worker threads at most */
	unsigned device_slots;	/* data requests running per device
				   (fs/devq.h); 0: threads / 2 */
};

/* Default of kvfs_params.listing_window: some 5 MiB of memory. */
#define KVFS_LISTING_WINDOW	65536

struct kvfs;

/*
 * Build the filesystem state: inode table with the root, placement policy.
 * Returns 0 and the object in *@out, or -errno (-ENOMEM, or -errno from
 * stat'ing the devices' roots).
 */
int kvfs_new(const struct kvfs_params *p, struct kvfs **out);

/* Release every inode and open file; NULL is a no-op. */
void kvfs_free(struct kvfs *fs);

/*
 * Start what needs the session, once mounted and daemonized and before the
 * session loop: the filesystem's own reads and writes of /dev/fuse, the
 * inode evictor and the devices' watchdog (fs/devq.h); backing files do their I/O through @io (core/kvio.h,
 * made after daemonizing too), which must outlive kvfs_free(). Returns 0
 * or -errno (one failed to start). kvfs_stop() ends them; call it
 * after the session loop returned, before kvfs_free().
 */
int kvfs_start(struct kvfs *fs, struct fuse_session *se, struct kvio *io);
void kvfs_stop(struct kvfs *fs);

/*
 * Serve the session on @threads threads, between kvfs_start() and
 * kvfs_stop(), until it is unmounted or fuse_session_exit() is called
 * (from a signal handler of the calling thread). Returns 0 or -errno
 * (transport_serve() in fs/transport/transport.h).
 */
int kvfs_serve(struct kvfs *fs, unsigned threads);

/*
 * What the mount did since kvfs_new(): files made by CREATE, bytes
 * answered to READs and taken by WRITEs, READs and WRITEs answered with
 * an error. Relaxed counters, for the daemon's line at unmount.
 */
struct kvfs_tally {
	uint64_t created;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t errors;
};

/* Fill @out with @fs's counters so far. */
void kvfs_tally(struct kvfs *fs, struct kvfs_tally *out);

/*
 * The mount's statistics into @buf (@size bytes, NUL-terminated,
 * truncated): one "NAME VALUE" line per counter, as docs/runtime.md
 * lists them (the root's user.kvstripe.stats). Returns the length it
 * needed without the NUL, as snprintf(). Thread-safe; call between
 * kvfs_new() and kvfs_free().
 */
int kvfs_stats(struct kvfs *fs, char *buf, size_t size);

/* The operations table; pass the kvfs as userdata. */
const struct fuse_lowlevel_ops *kvfs_ops(void);

#endif /* FS_KVFS_H */
