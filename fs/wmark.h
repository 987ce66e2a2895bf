/*
 * wmark.h - the write mark: an extended attribute (WMARK_XATTR) on a
 * backing file for as long as it is being written through the mount.
 *
 * The mark is set before any byte of a write session reaches the backing
 * file: by CREATE, or by the first write, truncate or fallocate of a file
 * not being written. It is removed once a writer's close (FLUSH) finds
 * every write of the file on the device: write-behind settled and, if
 * bytes went through the page cache, fdatasync'd; then the file's
 * checksum record is stored (dfile_seal()), and only then the mark
 * removed. So a backing file
 * that carries the mark while no writer of this daemon has it open was
 * cut short, by a daemon that died or a machine that lost power: it is
 * torn, and its READs fail with EIO until it is truncated to 0 (O_TRUNC)
 * or removed.
 *
 * The kernel opens files without telling the daemon (fcache.h), so
 * writers are not counted: a FLUSH ends the session unless the file's
 * last write came with a lock owner (direct I/O) and this FLUSH has
 * another one (another process closing the file). The kernel forgetting
 * the inode (no file open on it) ends it too, and so does a truncate by
 * path that began one. A failed write or write-behind keeps the mark
 * until a truncate to 0. Writes from shared mappings
 * (the kernel's writeback) set no mark: they may come after the last
 * close, with no FLUSH to end their session.
 *
 * State per inode (struct inode.wmark, enum wmark_state); transitions
 * under fs->wmark_mu, except a write's fast path (the file is ours).
 */
#ifndef FS_WMARK_H
#define FS_WMARK_H

#include "csum.h"
#include "fs_i.h"

/*
 * The mark, in the trusted namespace: only a process with CAP_SYS_ADMIN
 * can see or set it on the backing file, and the daemon hides every
 * trusted.kvstripe.* name from its clients (xattr.c). Its value is the
 * format version, WMARK_VERSION, one byte.
 */
#define WMARK_PREFIX	CSUM_XATTR_PREFIX
#define WMARK_XATTR	CSUM_MARK_XATTR
#define WMARK_VERSION	'1'

/* Torn files logged one line each; the rest are only counted. */
#define WMARK_LOG_MAX	64

enum wmark_state {
	WMARK_UNKNOWN = 0,	/* backing file not looked at yet */
	WMARK_NONE,		/* no mark: not being written */
	WMARK_OURS,		/* being written through this daemon */
	WMARK_ENDING,		/* a FLUSH is removing the mark */
	WMARK_TORN,		/* marked, no writer of ours: cut short */
};

struct dfile;

/*
 * Learn whether @in's backing file (@fd, or else @path below device
 * @in->dev's root, opened confined) carries a mark no writer of ours
 * set, if not known yet. A torn file is logged (WMARK_LOG_MAX lines at
 * most) and counted in fs->torn_found. Returns @in's state after it
 * (WMARK_UNKNOWN if @path cannot be opened).
 */
enum wmark_state wmark_check(struct kvfs *fs, struct inode *in, int fd,
			     const char *path);

/* Whether READs of @in must fail with EIO. */
bool wmark_torn(struct inode *in);

/*
 * Mark @fd, a file CREATE just made or opened on device @dev, before its
 * inode is known. Returns 1 if marked; 0 if the device's filesystem
 * cannot hold the mark (no xattrs, no CAP_SYS_ADMIN: logged once, and
 * its files are written unmarked); or -errno (the create then fails).
 */
int wmark_create(struct kvfs *fs, unsigned dev, int fd);

/* After wmark_create(): @in, the created file's inode, is being written. */
void wmark_created(struct inode *in, bool marked);

/*
 * Before a write, truncate or fallocate of @in through @df: set the mark
 * unless it is there (a torn file stays torn). @owner is the request's
 * lock owner (0 if none); @trunc0: a truncate to size 0, which makes a
 * torn file an ordinary one being written. Returns 1 if this set the
 * mark, 0 if it was there or cannot be, then call wmark_write_end()
 * after the change; or -errno of setting the mark.
 */
int wmark_write_begin(struct kvfs *fs, struct inode *in, struct dfile *df,
		      uint64_t owner, bool trunc0);

/*
 * The change is done, with status @rc: a failure (bytes a writer sent
 * are not all there) keeps the mark until a truncate to 0.
 */
void wmark_write_end(struct inode *in, int rc);

/*
 * End @in's write session now (a truncate by path, which no close
 * follows): as wmark_flush() from the last writer. Returns 0 or -errno.
 */
int wmark_end(struct kvfs *fs, struct inode *in, struct dfile *df);

/*
 * A FLUSH of @in (lock owner @owner): settle @df and, if this may be the
 * last writer's close and nothing failed, end the write session:
 * fdatasync if bytes went through the page cache, then remove the mark.
 * Returns 0 or -errno of the settle (a write-behind failure, owed to the
 * closer), the fdatasync or the removal; on any of them the mark stays.
 */
int wmark_flush(struct kvfs *fs, struct inode *in, struct dfile *df,
		uint64_t owner);

/*
 * @in's dfile @df is about to be closed (idle, or the inode forgotten):
 * if @in is being written, settle @df and, when @forgotten (no file is
 * open on it), end the session as wmark_flush() would; otherwise
 * remember whether the session's end must fdatasync. Returns 0 or -errno
 * of the settle, fdatasync or removal (the mark then stays).
 */
int wmark_close(struct kvfs *fs, struct inode *in, struct dfile *df,
		bool forgotten);

/* "writing", "torn" or "closed", for user.kvstripe.state. */
const char *wmark_state_name(enum wmark_state st);

#endif /* FS_WMARK_H */
