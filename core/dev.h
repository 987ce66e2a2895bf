/*
 * dev.h - the device registry: backing directories, parsed, opened, probed.
 *
 * Devices are numbered 0..count-1 in the order the user listed them. Once
 * devset_open() returns, a device's fields never change, so every thread may
 * read them without locking.
 */
#ifndef CORE_DEV_H
#define CORE_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/statvfs.h>

#include "probe.h"
#include "space.h"

#define DEV_MAX		64	/* devices per mount */
#define DEV_ALIGN_MAX	PROBE_ALIGN_MAX	/* largest O_DIRECT alignment */

struct dev {
	unsigned index;
	char *path;		/* absolute, symlinks resolved */
	int root_fd;		/* O_RDONLY|O_DIRECTORY, all *at() calls start here */
	unsigned dio_align;	/* file offset and length alignment, power of 2 */
	unsigned mem_align;	/* buffer address alignment, power of 2 */
	dev_t st_dev;		/* of the backing directory */
	uint64_t capacity;	/* bytes, from statvfs at probe time */
	/*
	 * The storage is the page cache itself (tmpfs): O_DIRECT there is a
	 * copy through that cache, so data can be handed on from it directly.
	 */
	bool page_cache;
};

/* Per-device settings from the configuration; zero means "probe". */
struct dev_opts {
	unsigned align;		/* force this I/O alignment (>= probed) */
	/* new files go elsewhere below this free space (not set: the mount's) */
	struct space_setting minfree;
	/* its files take at most this much (not set: no limit of its own) */
	struct space_setting max_size;
};

struct devset;

/* devset_open() flags */
#define DEVSET_MKDIR	(1u << 0)	/* create a missing backing directory */

/*
 * Open each backing directory of @paths (as sources_parse() gives them),
 * lock it and probe it (probe_dir(): alignment, capacity, page cache); with
 * DEVSET_MKDIR in @flags, first create it (mkdir -p, mode 0755) if missing.
 * @opts may be NULL or hold @count entries. @mountpoint (may be NULL) is
 * checked against every path.
 *
 * Returns 0 and the set in *@out, or -errno with one line in @err naming the
 * path: -ENOENT missing (without DEVSET_MKDIR), -ENOTDIR not a directory, -EACCES/-EROFS not writable, -EINVAL listed
 * twice (after resolving symlinks), is the mount point, inside it, or
 * contains it, or does not support O_DIRECT, -EBUSY in use by another
 * devset (each backing directory is locked with flock() until
 * devset_free()). On failure, the directories it created are removed.
 */
int devset_open(char *const *paths, unsigned count,
		const struct dev_opts *opts, unsigned flags,
		const char *mountpoint, struct devset **out, char *err,
		size_t errlen);

/*
 * Take the lock that makes a backing directory one daemon's: an exclusive
 * flock() on @fd, a descriptor of the directory, without waiting; it goes
 * with the last descriptor of that open. kvstripe fsck takes it too, so it
 * never checks a mounted directory. Returns 0 (also on a filesystem
 * without flock(), which is let be) or -EBUSY if another open holds it.
 */
int dev_lock_root(int fd);

/* Close every device; NULL is a no-op. */
void devset_free(struct devset *set);

/*
 * Close every device and remove the backing directories devset_open()
 * created (those still empty), for a mount that never happened. A failing
 * devset_open() does this itself. NULL is a no-op.
 */
void devset_discard(struct devset *set);

unsigned devset_count(const struct devset *set);
const struct dev *devset_dev(const struct devset *set, unsigned index);

/* Largest dio_align / mem_align over all devices. */
unsigned devset_max_align(const struct devset *set);

/*
 * Is device @index's backing directory still where it was opened? 0 if
 * its path names the directory the devset holds open, -ENOENT if that
 * directory was removed, -ESTALE if the path now names something else or
 * nothing (the directory was renamed away, or replaced). The devset keeps
 * serving the directory it holds either way.
 */
int devset_check(const struct devset *set, unsigned index);

/*
 * Fill @out with the devices' combined capacity: f_bsize and f_frsize 4096,
 * block and inode counts summed over distinct filesystems (two backing
 * directories on one filesystem count once), f_namemax 255.
 * Returns 0, or -errno from the first device that failed, its index in
 * *@bad.
 */
int devset_statfs(const struct devset *set, struct statvfs *out,
		  unsigned *bad);

/*
 * The same sum over statvfs results @sv (indexed by device) of the
 * devices on @have (bit i for device i) only: a device left out counts
 * for nothing. f_fsid and f_flag are the first counted device's.
 */
void devset_statfs_sum(const struct devset *set, const struct statvfs *sv,
		       uint64_t have, struct statvfs *out);

#endif /* CORE_DEV_H */
