/*
 * file.h - what regular files' handlers (file.c) share with CREATE.
 */
#ifndef FS_FILE_H
#define FS_FILE_H

#include "fs_i.h"

/* Set the flags an open or a create of @in replies with (file.c says why). */
void file_open_flags(struct kvfs *fs, struct inode *in,
		     struct fuse_file_info *fi);

/*
 * Note the size in @st, the attributes of @in about to be given to the
 * kernel, for its next open, and set the st_blksize a reader of it
 * should read by (file.c).
 */
void file_attr_seen(struct kvfs *fs, struct inode *in, struct stat *st);

#endif /* FS_FILE_H */
