/*
 * file.h - what regular files' handlers (file.c) share with CREATE.
 */
#ifndef FS_FILE_H
#define FS_FILE_H

#include "fs_i.h"

/* Set the flags an open or a create of @in replies with (file.c says why). */
void file_open_flags(struct kvfs *fs, struct inode *in,
		     struct fuse_file_info *fi);

#endif /* FS_FILE_H */
