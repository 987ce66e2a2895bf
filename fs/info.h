/*
 * info.h - the mount's own attributes on its root: counters for people
 * and programs, and each device's health, read and changed with getfattr
 * and setfattr on the mount point.
 *
 * Read-only, computed on each read:
 *   user.kvstripe.inodes    the inode table's size
 *   user.kvstripe.writers   files being written, per device: "N0 N1 ..."
 *   user.kvstripe.ring      requests taken through io_uring (transport/)
 *   user.kvstripe.torn      torn files found since the mount
 *   user.kvstripe.corrupt   checksum mismatches: "FILES READS"
 *   user.kvstripe.spilled   new files put off a device that took none
 *   user.kvstripe.evicted   files and bytes eviction removed: "FILES BYTES"
 *   user.kvstripe.slots     data requests per device (devq.h)
 *   user.kvstripe.devices   one line per device: "N STATE PATH"
 *   user.kvstripe.stats     every counter, "NAME VALUE" lines (kvfs_stats())
 *
 * Read and set:
 *   user.kvstripe.device.N.state   device N's state (health_describe():
 *       "ok", "slow", "full", "read-only", "failed", with ",drain" when
 *       drained). Set by root only: "drain" takes the device out of
 *       placement (its files are still served), "resume" puts it back,
 *       "probe" has its health probe look at it now (core/hprobe.h).
 *
 * None is listed by listxattr; none is read from or written to a device,
 * so they answer while a device hangs.
 */
#ifndef FS_INFO_H
#define FS_INFO_H

#include "fs_i.h"

/* Whether @name is one of the root's attributes above. */
bool info_is_ours(const char *name);

/*
 * The value of attribute @name (info_is_ours()) of @in into @val (@size
 * bytes, NUL-terminated, truncated). Returns its length as snprintf()
 * (the caller retries with more room if it is @size or more), or -ENODATA
 * if @in is not the root or names no device.
 */
int info_get(struct kvfs *fs, struct inode *in, const char *name,
	     char *val, size_t size);

/*
 * Set attribute @name (info_is_ours()) of @in to the @size bytes of
 * @value (NULL: remove it), for the request's caller. Returns 0, -EPERM
 * (a read-only attribute, removal, @in not the root, or a caller other
 * than root), -EINVAL (a value other than drain, resume, probe) or
 * -ENODATA (no such device).
 */
int info_set(struct kvfs *fs, fuse_req_t req, struct inode *in,
	     const char *name, const char *value, size_t size);

#endif /* FS_INFO_H */
