/*
 * ns.h - the namespace across devices: where a name lives, and the steps
 * every operation on a name shares (resolve, begin, reply an entry).
 *
 * A directory is logical: a copy on every device that has one, merged. A
 * non-directory lives on exactly one device.
 */
#ifndef FS_NS_H
#define FS_NS_H

#include <dirent.h>

#include "fs_i.h"

/* What a path names, found by ns_resolve(). */
struct found {
	int dev;		/* device of a non-directory, or the home of a dir */
	devmask_t dirs;		/* devices holding it as a directory */
	devmask_t files;	/* devices holding a non-directory of the name */
	devmask_t out;		/* devices that could not say: failed, or no
				 * answer within the device timeout */
	struct stat st;		/* from the device that decided */
};

/*
 * Find @path on the devices, all asked at once, each within the device
 * timeout (nscall.h), in the policy's order: the policy's device first,
 * then the others. A non-directory found first wins; a directory is
 * merged over the devices that hold a copy, its attributes from the
 * lowest-numbered one. A device that is failed or does not answer in time
 * is left out (f->out). Returns as soon as the answers decide: a file
 * found on the policy's device (or on the first in order after devices
 * that hold nothing) is returned without waiting for the others, which
 * are then in f->out though not failed, and missing from f->files; a miss
 * or a directory waits for every device. Returns 0 or -ENOENT (or another
 * -errno if no device could answer).
 */
int ns_resolve(struct kvfs *fs, const char *path, struct found *f);
/* ns_resolve(), waiting for every device: f->files and f->out complete. */
int ns_resolve_full(struct kvfs *fs, const char *path, struct found *f);
/*
 * A call on @in's backing file at @path (KV_PATH_MAX bytes) said ENOENT:
 * whether a file rename, which runs beside other operations, moved it
 * meanwhile. If so @path is its new path, to try once more.
 */
bool ns_path_moved(struct kvfs *fs, struct inode *in, char *path);
/* The st_ino clients see for what @f names. */
uint64_t ns_found_ino(struct kvfs *fs, const struct found *f);
/*
 * Where the bytes of @in, at @path, live: one device for a file, a dir's
 * copies (0 if it is gone).
 */
devmask_t ns_copies(struct kvfs *fs, struct inode *in, const char *path);
/*
 * A non-directory was made at @path on device @dev (create, mknod,
 * symlink, link, the target of a rename): if another device is failed,
 * an older file of that name there, unseen by the lookup that let this
 * one be made, is swept from it before it is back (core/shadow.h).
 */
void ns_made(struct kvfs *fs, const char *path, unsigned dev);
/* Split @path at its last slash: the parent's length ("" has length 0). */
size_t ns_parent_len(const char *path);
/*
 * Common start of every operation on (@parent, @name): check the name,
 * take ns_lock shared and build the path into @path (KV_PATH_MAX bytes).
 * Returns 0 with the lock held, or -ENAMETOOLONG / -ENOENT without it.
 */
int ns_child_begin(struct kvfs *fs, fuse_ino_t parent, const char *name,
		   char *path);
/* Open directory @path on @dev for reading. Returns 0 or -errno. */
int ns_opendir(struct kvfs *fs, unsigned dev, const char *path, DIR **out);
/*
 * Create @path's missing parent directories on @dev (mode, owner and, with
 * fs->posix_acl, ACLs copied from the logical directory). Returns 0,
 * -ENOTDIR if a parent is no directory, or -errno.
 */
int ns_make_parents(struct kvfs *fs, unsigned dev, const char *path);
/* Fill the entry reply for @in with attributes @st and the timeouts. */
void ns_fill_entry(struct kvfs *fs, struct inode *in, const struct stat *st,
		   struct fuse_entry_param *e);
/*
 * Resolve @path, link its inode under (@parent, @name) with one kernel
 * reference and fill the reply @e; the inode in *@out if @out. Returns 0,
 * -ENOMEM, or ns_resolve()'s and attr_get()'s errors.
 */
int ns_entry(struct kvfs *fs, struct inode *parent, const char *name,
	     const char *path, struct fuse_entry_param *e, struct inode **out);

#endif /* FS_NS_H */
