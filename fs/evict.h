/*
 * evict.h - the evictor thread: keeps the inode table near p.max_inodes
 * and closes idle backing files (evict.c).
 */
#ifndef FS_EVICT_H
#define FS_EVICT_H

#include "fs_i.h"

/*
 * Start the thread, once fs->se is set (it sends the kernel
 * invalidations). Returns 0 or -errno from pthreads.
 */
int evict_start(struct kvfs *fs);
/* End the thread; a no-op if it is not running. */
void evict_stop(struct kvfs *fs);
/*
 * With fs->lock held: evict_kick_locked() wakes the evictor if the table
 * is over its limit; evict_wake_locked() wakes it regardless (the first
 * backing file went idle: it has a close to time).
 */
void evict_kick_locked(struct kvfs *fs);
void evict_wake_locked(struct kvfs *fs);

#endif /* FS_EVICT_H */
