/*
 * attr.h - attributes (attr.c): what clients see of an inode, and the
 * set-id bits the kernel asks to clear (FUSE_HANDLE_KILLPRIV_V2).
 */
#ifndef FS_ATTR_H
#define FS_ATTR_H

#include "fs_i.h"

/*
 * Fill @st with what clients see for @in: an open file's size is its
 * dfile's, a removed inode's the attributes it had last. Returns 0,
 * -ENOENT once it has no name, or -errno from the device.
 */
int attr_get(struct kvfs *fs, struct inode *in, struct stat *st);
/* The caller of @req has @gid as its group or a supplementary one. */
bool attr_caller_in_group(fuse_req_t req, gid_t gid);
/*
 * Clear the set-id bits of the open regular file @fd of node @ino as the
 * VFS does for the unprivileged caller of @req, and make the kernel drop
 * the mode it cached. Returns 0 or -errno.
 */
int attr_kill_setid_open(fuse_req_t req, fuse_ino_t ino, int fd);

#endif /* FS_ATTR_H */
