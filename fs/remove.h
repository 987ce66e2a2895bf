/*
 * remove.h - the steps of taking names away (remove.c) that a rename
 * over an existing name takes too. The caller holds ns_lock.
 */
#ifndef FS_REMOVE_H
#define FS_REMOVE_H

#include "ns.h"

/*
 * Remove non-directories named @path on the devices of @where but @keep
 * (found.files of the lookup just made): stale copies (made by hand) must
 * not resurface under a name that is gone. The devices are asked at
 * once, each within the device timeout; a failed one is not asked.
 */
void remove_sweep_stale(struct kvfs *fs, unsigned keep, const char *path,
			devmask_t where);
/*
 * The name @path of regular file @f is about to go: if the kernel knows
 * the file (@in, else NULL), a client may have it open, and its data must
 * stay readable through a backing file opened now (fcache_keep()).
 * Returns 0 or -errno.
 */
int remove_keep_open(struct kvfs *fs, struct inode *in, const struct found *f,
		     const char *path);
/*
 * 0 if each copy on @dirs of directory @path is empty, -ENOTEMPTY, -EIO if
 * a copy's device is failed or does not answer within the device
 * timeout, or -errno.
 */
int remove_dirs_empty(struct kvfs *fs, devmask_t dirs, const char *path);
/*
 * Remove the directory copies on @dirs, all at once, each within the
 * device timeout; put back what was removed (mode and owner from @st) on
 * failure. Returns 0 or the first -errno (-EIO for a device that is
 * failed or does not answer).
 */
int remove_dirs(struct kvfs *fs, devmask_t dirs, const char *path,
		const struct stat *st);

#endif /* FS_REMOVE_H */
