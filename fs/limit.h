/*
 * limit.h - max_size in the filesystem: what each file is counted for
 * (core/usage.h), the checks that keep writes within the limits, and what
 * statfs shows. Without a max_size (fs->usage NULL) every call is a no-op.
 *
 * A file is counted by the end of its writes, rounded up to 4 KiB, until
 * a close, truncate or fallocate looks at its backing file's st_blocks:
 * a write that extends the file past what it is counted for is charged
 * the difference before its bytes are taken; one that does not fit gets
 * ENOSPC. The count per file is in->charged: 0 not known yet (the first
 * charge takes st_blocks), else LIMIT_KNOWN | bytes, with LIMIT_GONE once
 * its last name went (its bytes left the count then).
 */
#ifndef FS_LIMIT_H
#define FS_LIMIT_H

#include <sys/statvfs.h>

#include "fs_i.h"

struct found;

#define LIMIT_KNOWN	(1ull << 63)
#define LIMIT_GONE	(1ull << 62)
#define LIMIT_BYTES	(LIMIT_GONE - 1)

/*
 * Build fs->usage from fs->p (max_size, max_size_all, evict_*) when a
 * limit is set, and the size df shows (fs->limit_size). Returns 0 or
 * -ENOMEM.
 */
int limit_init(struct kvfs *fs);
void limit_release(struct kvfs *fs);

/*
 * A write of @size bytes at @off into @in (its dfile @df) is about to be
 * taken: charge what it adds. Returns 0, -ENOSPC when the device or the
 * mount has no room left within its max_size (with eviction on, after
 * waiting for eviction passes, reclaim_room()), or -EFBIG when @off +
 * @size passes the largest count.
 */
int limit_write(struct kvfs *fs, struct inode *in, struct dfile *df,
		uint64_t off, uint64_t size);

/*
 * An fallocate of @mode over @len bytes: charged @len first unless it
 * punches a hole (limit_settled() after it puts the real count). Returns
 * 0 or -ENOSPC.
 */
int limit_falloc(struct kvfs *fs, struct inode *in, struct dfile *df,
		 int mode, uint64_t len);

/*
 * @in's backing file has its real size and blocks (after a close's
 * settle, a truncate, an fallocate): count it for st_blocks * 512.
 */
void limit_settled(struct kvfs *fs, struct inode *in, struct dfile *df);

/*
 * The name of the non-directory @f (known as @in, or NULL) is gone from
 * its device (unlink, a rename over it, eviction): its share leaves the
 * count; a file whose last name this was is counted for nothing more.
 */
void limit_removed(struct kvfs *fs, struct inode *in, const struct found *f);

/* Whether device @dev is at or over its own max_size: no new files. */
bool limit_dev_full(struct kvfs *fs, unsigned dev);

/*
 * Whether device @dev takes a new file now: it is not failed, read-only
 * or drained, and neither below its minfree (free space sampled at most
 * every SPACE_TTL_MS) nor at its max_size. Below minfree or at max_size
 * is noted in its health as full (health_note_full()), and lifted once
 * it is not. A failed device is not asked for its free space.
 */
bool limit_takes_new(struct kvfs *fs, unsigned dev);

/*
 * With a limit, make @sv (devset_statfs()'s) show it: size the limit,
 * used the mount's usage, available the smaller of what the limit and
 * the devices leave.
 */
void limit_statfs(struct kvfs *fs, struct statvfs *sv);

#endif /* FS_LIMIT_H */
