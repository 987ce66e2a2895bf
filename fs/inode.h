/*
 * inode.h - the inode table: nodes the kernel knows, by number and by the
 * (parent, name) pairs it learned them under. All functions take fs->lock
 * themselves; those that read or change names want ns_lock held by the
 * caller (shared, or exclusive for a rename).
 */
#ifndef FS_INODE_H
#define FS_INODE_H

#include "fs_i.h"

/* Build the table with the root in it. Returns 0 or -ENOMEM. */
int inode_table_init(struct kvfs *fs);
/* Free every inode and close its backing file. */
void inode_table_release(struct kvfs *fs);
/* The st_ino clients see for @backing on device @dev (fs->ino_shift). */
uint64_t inode_make_ino(struct kvfs *fs, unsigned dev, ino_t backing);
/* The inode of a node id the kernel sent (FUSE_ROOT_ID: the root). */
struct inode *inode_of(struct kvfs *fs, fuse_ino_t nodeid);
/* The node id the kernel knows @in by. */
fuse_ino_t inode_nodeid(struct kvfs *fs, struct inode *in);
/*
 * Find or create the inode for @ino, add one kernel reference and the name
 * (@parent, @name) (if not known yet), and set its device and type.
 * Returns NULL on -ENOMEM.
 */
struct inode *inode_link(struct kvfs *fs, uint64_t ino, mode_t type, int dev,
			 struct inode *parent, const char *name);
/* The live (not gone) inode numbered @ino, or NULL. */
struct inode *inode_find(struct kvfs *fs, uint64_t ino);
/* Drop @n kernel references; @in goes once nothing references it. */
void inode_forget(struct kvfs *fs, struct inode *in, uint64_t n);
/* Drop a name; the caller holds ns_lock. */
void inode_unname(struct kvfs *fs, struct inode *in, struct inode *parent,
		  const char *name);
/*
 * @in's object, whose stat is @st, is about to be removed: a directory,
 * or a file whose last link this is, is marked gone first, before the
 * backing file system can give its number to an object made meanwhile
 * (struct inode.gone). Returns whether it marked it; inode_ungone() takes
 * that back if the removal failed.
 */
bool inode_gone(struct kvfs *fs, struct inode *in, const struct stat *st);
void inode_ungone(struct kvfs *fs, struct inode *in);
/*
 * Move the name (@oldparent, @oldname) of @in to (@newparent, @newname);
 * the caller holds ns_lock exclusively. Returns 0 or -ENOMEM.
 */
int inode_rename(struct kvfs *fs, struct inode *in, struct inode *oldparent,
		 const char *oldname, struct inode *newparent,
		 const char *newname);
/*
 * Drop an internal reference to @in (in->refs, taken under fs->lock); @in
 * is freed once it has neither references nor kernel lookups left.
 */
void inode_unref(struct kvfs *fs, struct inode *in);
/*
 * Write @in's path (relative to the mount, "" for the root) into @buf.
 * Returns its length, -ENOENT once the inode has no name left, or
 * -ENAMETOOLONG.
 */
int inode_path(struct kvfs *fs, struct inode *in, char *buf, size_t size);
/* Path of @name below @parent. Same returns as inode_path(). */
int inode_child_path(struct kvfs *fs, struct inode *parent, const char *name,
		     char *buf, size_t size);

#endif /* FS_INODE_H */
