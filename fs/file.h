/*
 * file.h - what regular files' handlers (file.c) share with CREATE.
 */
#ifndef FS_FILE_H
#define FS_FILE_H

#include "fs_i.h"

/* Set the open flags every open and create replies with (file.c says why). */
void file_open_flags(struct fuse_file_info *fi);

#endif /* FS_FILE_H */
