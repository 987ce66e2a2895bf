/*
 * reclaim.h - the usage thread of a mount with a max_size: it counts each
 * device's tree once at start, in the background (the mount serves
 * meanwhile, counting what it has seen), again every RECLAIM_RESCAN_MS
 * (RECLAIM_RECOUNT_MS after a count that writes may have put off), and
 * with evict_high/evict_low it evicts: when usage passes the high
 * mark, it removes the least recently read closed files (core/usage.h
 * picks them during a recount) until usage is below the low mark.
 *
 * "Recently read" is the backing file's atime: a READ stamps it
 * (futimens) when the inode was not stamped in the last RECLAIM_STAMP_MS,
 * so it holds across restarts at the cost of one call per file a minute.
 * A victim is skipped if it is a directory, has other links, was read
 * since the recount, or the daemon has it open: a request on it, being
 * written (created and not closed, or under its write mark), or kept
 * after an unlink.
 * It goes as an unlink does (fs/remove.c), and the kernel is told to drop
 * its name (FUSE_NOTIFY_INVAL_ENTRY).
 */
#ifndef FS_RECLAIM_H
#define FS_RECLAIM_H

#include "fs_i.h"

#define RECLAIM_RESCAN_MS	(10 * 60 * 1000)  /* between recounts */
#define RECLAIM_RECOUNT_MS	5000	/* after a recount writes overlapped */
#define RECLAIM_OFF_PCT		1	/* ... by more than this % of the limit */
#define RECLAIM_TICK_MS		100	/* between looks at the high mark */
#define RECLAIM_CALM_MS		1000	/* after a pass that freed nothing */
#define RECLAIM_STAMP_MS	(60 * 1000)	/* between atime stamps */
#define RECLAIM_BATCH		8192	/* victims picked per pass, at most */
#define RECLAIM_WAIT_MS		10000	/* a writer waits this long for room */

/*
 * With fs->usage, start the thread (signals blocked by the caller, as for
 * kvfs_start()). Returns 0 (also without usage) or -errno.
 */
int reclaim_start(struct kvfs *fs);
/* End the thread; a no-op if none runs. */
void reclaim_stop(struct kvfs *fs);

/*
 * A write found no room within a max_size: with eviction on, wake the
 * thread and wait (at most RECLAIM_WAIT_MS) for a pass. Returns 0 if it
 * freed something (charge again), -ENOSPC if eviction is off, stopping,
 * or the pass freed nothing.
 */
int reclaim_room(struct kvfs *fs);

/* A READ of @in through @df: stamp its atime if due (eviction on). */
void reclaim_read(struct kvfs *fs, struct inode *in, struct dfile *df);

/* Files and bytes evicted since the mount. */
void reclaim_stats(struct kvfs *fs, uint64_t *files, uint64_t *bytes);

#endif /* FS_RECLAIM_H */
