/*
 * dir.h - a directory's merged listing windows (dir.c): what the
 * operations that change names must tell it.
 */
#ifndef FS_DIR_H
#define FS_DIR_H

#include "fs_i.h"

/* Release @in's listing windows; the caller holds fs->lock. */
void dir_listing_free(struct inode *in);
/*
 * A name in directory @dir was made, removed or moved through the mount
 * (or an attempt may have touched one): listings that begin from now on
 * use no window read before. Call after the change, before replying;
 * takes fs->lock.
 */
void dir_changed(struct kvfs *fs, struct inode *dir);

#endif /* FS_DIR_H */
