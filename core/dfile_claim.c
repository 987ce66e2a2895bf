/*
 * dfile_claim.c - the claims of write-behind (dfile_wb.c, dfile_i.h): the
 * device blocks of a staged write are claimed before it is answered, a
 * long stream's well ahead of it, and given back when the file drains.
 * Called by dfile_wb.c with the file's lock exclusive; calls only the
 * kernel below it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "align.h"
#include "bufpool.h"
#include "dfile_i.h"
#include "kvio_i.h"

/*
 * Give back what the claims hold and nothing was written to: the blocks
 * past the logical end, and any hole a claim filled below it (a stream's first
 * claim starts at the logical end; its first write may lie further on).
 * Claimed blocks never written read as a hole to SEEK_HOLE, so they are
 * found that way; the file was empty when its stream began to claim
 * ahead (ahead_step()), so no hole below is its owner's preallocation.
 * All writes have landed. The trim and the punches are ours, not the
 * writer's: the file keeps the mtime of its last write.
 */
int dfile_claim_release(struct dfile *f)
{
	off_t size = (off_t)atomic_load(&f->size), pos = (off_t)f->claim_lo;
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT } };
	off_t hole, data;
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	times[1] = st.st_mtim;
	/*
	 * Claimed blocks past the end stay allocated (KEEP_SIZE) until a
	 * truncate, even one to the same size, which ext4 and XFS take as
	 * the order to free them (a claim that failed part way may have
	 * left some too); ext4 punches nothing past the end, the punch is
	 * for filesystems whose truncate to the same size does nothing.
	 */
	if (f->claimed > (uint64_t)size)
		fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  size, (off_t)f->claimed - size);
	if (ftruncate(f->fd, size) < 0)
		return -errno;
	while (pos < size) {
		hole = lseek(f->fd, pos, SEEK_HOLE);
		if (hole < 0 || hole >= size)
			break;
		data = lseek(f->fd, hole, SEEK_DATA);
		if (data < 0 || data > size)
			data = size;
		if (fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			      hole, data - hole) < 0)
			break;
		pos = data;
	}
	futimens(f->fd, times);
	return 0;
}

/*
 * A long stream claims ahead by its offset, within [MIN, MAX] stage
 * buffers, and by at most 1/SHARE of the device's free space, none when
 * that is below FREE: near full, claims are exact, so that they never
 * take space another write would have had.
 */
#define WB_AHEAD_MIN	2
#define WB_AHEAD_MAX	16
#define WB_AHEAD_SHARE	256
#define WB_AHEAD_FREE	(1ull << 30)

/*
 * How far a long stream may claim past a write at @off now, or 0 for
 * exactly. Only on ext4, XFS and btrfs, whose claimed blocks are unwritten
 * extents (elsewhere a claim may write zeros, as vfat does, or allocate
 * pages, as tmpfs does). A stream starts to claim ahead only in an empty
 * file, which holds nothing of its owner's that the trim or the punches
 * of dfile_claim_release() could take (a preallocated tail, say).
 */
static uint64_t ahead_step(struct dfile *f, uint64_t off)
{
	uint64_t cap = bufpool_size(f->io->wb.pool), room, step;
	struct statfs sfs;
	struct stat st;

	if (f->page_cache)
		return 0;
	if (!atomic_load(&f->over) &&
	    (atomic_load(&f->size) || fstat(f->fd, &st) < 0 || st.st_size ||
	     st.st_blocks))
		return 0;
	if (fstatfs(f->fd, &sfs) < 0 ||
	    (sfs.f_type != EXT4_SUPER_MAGIC && sfs.f_type != XFS_SUPER_MAGIC &&
	     sfs.f_type != BTRFS_SUPER_MAGIC))
		return 0;
	if (!atomic_load(&f->over))
		f->grow = sfs.f_type == EXT4_SUPER_MAGIC;	/* for the claim */
	room = (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_bsize;
	if (room < WB_AHEAD_FREE)
		return 0;
	step = off < WB_AHEAD_MIN * cap ? WB_AHEAD_MIN * cap :
	       off > WB_AHEAD_MAX * cap ? WB_AHEAD_MAX * cap : off;
	return step < room / WB_AHEAD_SHARE ? step : room / WB_AHEAD_SHARE;
}

/*
 * Claim ahead [@from, @end + @step) and perhaps a gap below @from; lock
 * held exclusively. Returns whether the claim was made; if not, what it
 * took past the logical end is given back at once, and holes it filled
 * below at the next drain.
 */
static bool claim_ahead(struct dfile *f, uint64_t from, uint64_t end,
			uint64_t step)
{
	uint64_t cap = bufpool_size(f->io->wb.pool);
	uint64_t size = atomic_load(&f->size);
	bool was = atomic_load(&f->over);
	uint64_t base = was && f->claimed > size ? f->claimed : size;
	uint64_t lo, past, to = align_up(end + step, cap);
	int err;

	/* the pieces of a client's O_DIRECT write below it come soon too */
	lo = from >= base && from - base <= step ? base : from;
	if (!was)
		f->grown = 0;	/* nothing known of the size yet */
	atomic_store(&f->over, true);
	/* KEEP_SIZE: the size follows what the writes put there, never the claim */
	if (!fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)lo,
		       (off_t)(to - lo))) {
		if (!was || lo < f->claim_lo)
			f->claim_lo = lo;
		f->claimed = to;
		return true;
	}
	err = errno;
	if (err == EOPNOTSUPP || err == ENOSYS) {
		atomic_store(&f->over, was);	/* nothing was allocated */
		return false;
	}
	/*
	 * A part may be allocated: what lies past the logical end (nothing
	 * written there, nor in flight) is punched now where the filesystem
	 * punches past the end (ext4 does not), else trimmed at the next
	 * drain, as are holes the part filled below.
	 */
	past = lo > size ? lo : size;
	if (to > past)
		fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  (off_t)past, (off_t)(to - past));
	if (!was || lo < f->claim_lo)
		f->claim_lo = lo;
	if (!was || f->claimed > past)
		f->claimed = past > f->claim_lo ? past : f->claim_lo;
	return false;
}

/*
 * Whether [@from, @end), inside the logical size, is all data on the
 * device: an overwrite there needs no claim (whose fallocate would also
 * wait for every direct write in flight on the file, one piece after the
 * other). Unwritten extents count as holes: claimed again, harmlessly.
 */
static bool allocated(struct dfile *f, uint64_t from, uint64_t end)
{
	uint64_t size = atomic_load(&f->size);
	off_t hole;

	if (end > size)
		return false;
	if (from >= f->alloc_lo && end <= f->alloc_hi)
		return true;
	hole = lseek(f->fd, (off_t)from, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole < end)
		return false;
	f->alloc_lo = from;
	f->alloc_hi = (uint64_t)hole < size ? (uint64_t)hole : size;
	return true;
}

/*
 * Claim the device blocks of [@off, @off + @len) past the file's end
 * before the write is answered, so that a device running full (ENOSPC) or
 * a file growing past what the backing filesystem allows (EFBIG) fails
 * this write, as it would on the device, and not a later one or close.
 *
 * A long stream (a write or a stage of a piece or more) claims well ahead
 * of itself (every fallocate waits for the file's direct writes in
 * flight, so a claim per write would make each write wait for the one
 * before). The claim keeps the backing file's size (FALLOC_FL_KEEP_SIZE):
 * the size grows only with the writes (on ext4 raised just ahead of the
 * pieces sent, dfile_claim_grow()), so a daemon that dies never leaves
 * zeros claimed ahead of them as the size. ahead_step() says when and
 * how far; a file takes a few claims,
 * the first from the logical end, so that the parallel pieces of a
 * client's O_DIRECT write, which come in any order, find their blocks
 * claimed. dfile_wb_drain() gives back every claimed block nothing was written
 * to, and a failed write's trim (dfile.c) shortens the claim with it.
 *
 * An exact claim, or one where the claim ahead failed, covers the write's
 * range past the end (a whole piece's even below it) with the size kept:
 * past the end nothing is written or staged, so what a claim that failed
 * halfway took there is punched out whole. Filesystems without fallocate
 * are written as before, their errors arriving late.
 */
int dfile_claim_reserve(struct dfile *f, uint64_t off, size_t len)
{
	uint64_t size = atomic_load(&f->size), end = off + len;
	uint64_t from = off > size ? off : size, step, past;
	size_t piece = f->io->wb.piece;
	int rc;

	if (f->no_reserve)
		return 0;
	/*
	 * Below the logical end the blocks are there, except under a whole
	 * piece: the pieces of a client's large O_DIRECT write come in any
	 * order, and one further on has raised the end over holes.
	 */
	if (len >= piece)
		from = off;
	if (atomic_load(&f->over) && f->claim_lo <= from && from < f->claimed)
		from = f->claimed;
	if (end <= from || allocated(f, from, end))
		return 0;
	if ((len >= piece || f->stage_len >= piece) &&
	    (step = ahead_step(f, off)) && claim_ahead(f, from, end, step))
		return 0;
	if (!fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)from,
		       (off_t)(end - from)))
		return 0;
	rc = -errno;
	if (rc != -ENOSPC && rc != -EDQUOT && rc != -EFBIG) {
		/* no fallocate here, or a failure the write will meet too */
		if (rc == -EOPNOTSUPP || rc == -ENOSYS)
			f->no_reserve = true;
		return 0;
	}
	/* what a failed claim allocated past the end would stay, unused */
	past = from > size ? from : size;
	if (end > past)
		fallocate(f->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			  (off_t)past, (off_t)(end - past));
	return rc;
}

/*
 * The size the backing file is raised to ahead of the pieces (ext4 only).
 * ext4 makes a direct write that ends past the size synchronous, under
 * the inode's exclusive lock: io_uring hands each such piece to a worker
 * thread, and a file's pieces go one at a time. Inside the size, on
 * blocks a claim allocated, a piece is an overwrite of unwritten extents,
 * made under the shared lock and started at once. Raising the size
 * (ftruncate up) does not wait for direct writes in flight on ext4
 * (ext4_setattr() waits for them only to shrink); XFS's does
 * (xfs_setattr_size()), so there the pieces extend the file as before,
 * as they do on btrfs, where it was not measured.
 *
 * Invariant, while a claim ahead is held (f->over) and f->grow: no write
 * in flight ends past the backing file's size, so the size changes only
 * under f->lock held exclusively, and f->grown <= that size. Hence the
 * size read here is the size until the ftruncate, which only ever raises
 * it. On failure raising stops for the claim (an extending piece in
 * flight could land past a later, lower raise).
 */
void dfile_claim_grow(struct dfile *f, uint64_t end)
{
	struct stat st;

	if (!f->grow || end <= f->grown || !atomic_load(&f->over))
		return;
	if (fstat(f->fd, &st) < 0) {
		f->grow = false;
		return;
	}
	if ((uint64_t)st.st_size >= end) {
		f->grown = (uint64_t)st.st_size;
		return;
	}
	if (ftruncate(f->fd, (off_t)end) < 0) {
		dfile_note(f, DEVERR_META, "size raise", -errno, false);
		f->grow = false;
		return;
	}
	f->grown = end;
}
