/*
 * usage.h - the bytes the mount's files occupy on each device, against the
 * max_size limits, and the choice of files to evict.
 *
 * A device's usage is the sum of st_blocks * 512 of the regular files in
 * its backing tree (a file with N links counts 1/N per name). It is a scan
 * (usage_scan()) plus the changes reported since (usage_add(),
 * usage_charge()): used = base + delta, where a scan that found S bytes
 * while delta went from d0 to d1 sets base = S - d0, so the changes made
 * while it ran stay counted. A change to a file the scan had not reached
 * yet is counted twice (or, for a removal, dropped): the error is at most
 * the bytes changed during the scan, and the next scan corrects it. Until
 * a device's first scan ends, its usage is what that scan counted so far
 * plus the changes. No FUSE here; thread-safe except where noted.
 */
#ifndef CORE_USAGE_H
#define CORE_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct usage;

struct usage_params {
	unsigned ndev;			/* devices, 1..64 */
	const uint64_t *dev_limit;	/* ndev bytes, 0: none; NULL: none */
	uint64_t limit;			/* the whole mount's, 0: none */
};

/* Build the counters, all 0. Returns 0, -EINVAL (ndev) or -ENOMEM. */
int usage_new(const struct usage_params *p, struct usage **out);
/* NULL is a no-op. */
void usage_free(struct usage *u);

/* The mount's limit, or 0; device @dev's own, or 0. */
uint64_t usage_limit(const struct usage *u);
uint64_t usage_dev_limit(const struct usage *u, unsigned dev);

/* Bytes counted on device @dev (never below 0), and on every device. */
uint64_t usage_dev(const struct usage *u, unsigned dev);
uint64_t usage_total(const struct usage *u);

/* Whether every device's first scan has ended. */
bool usage_counted(const struct usage *u);

/* Count @delta bytes more (less, if negative) on device @dev. */
void usage_add(struct usage *u, unsigned dev, int64_t delta);

/*
 * The bytes of every change counted so far, added up either way: what
 * it grew by while a scan ran bounds that scan's error.
 */
uint64_t usage_churn(const struct usage *u);

/*
 * Count @bytes more on device @dev if they fit: device @dev stays within
 * its limit and the mount within its own. Returns 0 (counted), or -ENOSPC
 * (nothing counted). Concurrent charges near a limit may both be refused
 * where one alone would fit; none is counted past a limit.
 */
int usage_charge(struct usage *u, unsigned dev, uint64_t bytes);

/* Whether device @dev is at or over its own limit (false without one). */
bool usage_dev_full(const struct usage *u, unsigned dev);

/* A regular file a scan found. */
struct usage_file {
	char *path;		/* relative to the device root */
	unsigned dev;
	uint64_t ino;		/* backing st_ino */
	int64_t atime_ns;	/* st_atim, ns since the epoch */
	uint64_t bytes;		/* st_blocks * 512 */
};

/*
 * The least recently read files that free at least a target of bytes:
 * offered files are kept in a heap, newest atime on top, and the newest is
 * dropped while the others still make the target. At most @cap files are
 * kept (a pass then frees less than its target; the next goes on). Not
 * thread-safe: one scanner fills it.
 */
struct usage_victims;

/* Returns 0, -EINVAL (@cap 0) or -ENOMEM. */
int usage_victims_new(size_t cap, uint64_t target,
		      struct usage_victims **out);
void usage_victims_free(struct usage_victims *v);

/*
 * Offer @f (its path is copied). A file of 0 bytes frees nothing and is
 * not kept. Returns 0 or -ENOMEM (@f not kept).
 */
int usage_victims_offer(struct usage_victims *v, const struct usage_file *f);

/*
 * Sort the kept files, least recently read first (equal times: lower
 * device, then lower st_ino). Returns their count, *@out their array,
 * owned by @v. Offer nothing after it.
 */
size_t usage_victims_sort(struct usage_victims *v,
			  const struct usage_file **out);

/* The bytes of the kept files. */
uint64_t usage_victims_bytes(const struct usage_victims *v);

/*
 * Count device @dev's tree below @rootfd again: regular files, without
 * following symlinks, without entering other filesystems (st_dev) or
 * going deeper than USAGE_SCAN_DEPTH. The device's base is set so that
 * usage_dev() is the count plus the changes made meanwhile; during the
 * device's first scan it is updated as the scan goes. Files with one link
 * are offered to @v (may be NULL). One scan per device at a time.
 * Returns 0, -ECANCELED after usage_cancel() (the base stays as the scan
 * left it), or -errno of opening the root (nothing changed); a directory
 * that cannot be read is skipped.
 */
#define USAGE_SCAN_DEPTH 64
int usage_scan(struct usage *u, unsigned dev, int rootfd,
	       struct usage_victims *v);

/* Make scans under way, and every later one, stop at once (at unmount). */
void usage_cancel(struct usage *u);

#endif /* CORE_USAGE_H */
