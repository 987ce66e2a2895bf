/*
 * fcache.h - the backing files of regular files, opened on first use.
 *
 * The kernel opens and closes files on the mount without asking the
 * daemon (FUSE_NO_OPEN_SUPPORT: no OPEN, no RELEASE round trip), so a
 * backing file is not tied to a client's open. An inode's dfile is opened
 * by the first request that needs it and shared by every request after
 * it. While requests use it, it is pinned; idle, it waits on a
 * least-recently-used list of at most fs->fcache_max files: the oldest
 * is closed when the list overflows, and any is closed once it has been
 * idle for FCACHE_IDLE_MS (the evictor's thread sees to it), so that an
 * idle mount holds no backing file open: the backing filesystem can be
 * remounted read-only, and a file deleted by hand in a backing directory
 * gives its space back. FORGET closes it too (the kernel then has no open
 * file on the inode). Closing settles the file (and, for a forgotten
 * inode being written, ends its write mark: wmark.h);
 * a write-behind failure found then is kept on the inode for the next
 * write, flush or fsync.
 *
 * A file whose last name goes away (unlink, rename over it) may still be
 * open in a client, and its backing file can no longer be opened by path:
 * fcache_keep() opens it before the name goes, and such an inode's dfile
 * stays open, off the list, until FORGET.
 *
 * Locking: fs->lock guards in->df, in->opens, the list and the counters;
 * no call is made with it held. A pinned dfile stays open until
 * fcache_put(). While a dfile is being closed, its inode gets no other:
 * calls wanting one wait until the close is done (the backing file then
 * has its final size).
 */
#ifndef FS_FCACHE_H
#define FS_FCACHE_H

#include "fs_i.h"

/* Default of fs->fcache_max, and its floor: idle dfiles kept open. */
#define FCACHE_MAX	4096
#define FCACHE_MIN	64

/* An idle dfile is closed after this many milliseconds unused. */
#define FCACHE_IDLE_MS	2000

/*
 * Pin @in's dfile, opening the backing file if no dfile is open: read and
 * write, or read-only if the backing file refuses writing; a backing file
 * opened for the first time is looked at for a write mark (wmark_check(),
 * which finds torn files). Takes ns_lock
 * shared to build the path; do not call with ns_lock held. Returns 0 and
 * the dfile in *@out, -ENOENT for an unlinked file whose dfile is gone,
 * -EIO if it must be opened and its device is failed (health.h), or
 * -errno of opening.
 */
int fcache_get(struct kvfs *fs, struct inode *in, struct dfile **out);

/* Pin @in's dfile if it has one open; NULL if not. */
struct dfile *fcache_peek(struct kvfs *fs, struct inode *in);

/* Unpin what fcache_get() or fcache_peek() pinned. */
void fcache_put(struct kvfs *fs, struct inode *in);

/*
 * Make @df, a newly created @path's dfile, @in's, pinned; if @in has one
 * already, close @df and pin that one. Counts @in among its device's files
 * being written until its first flush (see place_pick_busy()).
 */
struct dfile *fcache_install(struct kvfs *fs, struct inode *in,
			     struct dfile *df);

/*
 * @in's last name is about to go while the kernel may have it open: open
 * its dfile from @path below @dirfd unless it has one, and keep it until
 * FORGET. Call with ns_lock held (shared or exclusive). Returns 0 or
 * -errno of opening (then leave the name alone: its data would be lost).
 */
int fcache_keep(struct kvfs *fs, struct inode *in, int dirfd,
		const char *path);

/* A failure kept from an earlier close of @in's dfile, once; else 0. */
int fcache_error(struct inode *in);

/*
 * The end of one close of @in (a flush): it is no longer among the files
 * being written, and a failure kept from an earlier close of its dfile is
 * returned (once); else 0.
 */
int fcache_flushed(struct kvfs *fs, struct inode *in);

/*
 * The kernel forgot @in (its lookup count reached 0): if its dfile is
 * idle, detach it and return it, with the inode reference it held still
 * to drop by fcache_close(); else NULL. Caller holds fs->lock.
 */
struct dfile *fcache_forget_locked(struct kvfs *fs, struct inode *in);

/*
 * Milliseconds until the oldest idle dfile is due to be closed: 0 if it is
 * due now, -1 if no dfile is idle. Caller holds fs->lock; the first dfile
 * to go idle wakes the evictor (evict_wake_locked()), which waits this
 * long and then calls fcache_expire().
 */
long fcache_due_locked(struct kvfs *fs);

/* Close every idle dfile that is due. Call without fs->lock. */
void fcache_expire(struct kvfs *fs);

/* Close a dfile fcache_forget_locked() detached from @in, unreferencing @in. */
void fcache_close(struct kvfs *fs, struct inode *in, struct dfile *df);

#endif /* FS_FCACHE_H */
