/*
 * dfile.h - one backing file, opened O_DIRECT, read and written at any
 * offset and length.
 *
 * Aligned requests (offset and length multiples of the device's alignment)
 * are device I/O through the calling thread's dio context. Unaligned writes
 * go through the backing file's page cache, where the kernel merges partial
 * blocks: nothing is read back or padded, and a small file never waits for
 * the device. A read inside what was written that way is served from the
 * page cache while the kernel still has it there. The kernel keeps the two
 * paths coherent (an O_DIRECT request first writes back dirty pages in its
 * range; an O_DIRECT write drops cached pages); the dfile makes sure no
 * page is changed while a device write covering it is in flight.
 *
 * A dfile owns the file's logical size; once the writes in flight have
 * landed, the backing file has exactly that size.
 *
 * Thread safety: all calls may run concurrently on one dfile. Fully aligned
 * writes and reads share the file; unaligned writes, truncates and settles
 * take it exclusively.
 */
#ifndef CORE_DFILE_H
#define CORE_DFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct deverr;
struct dfile;
struct kvio;

/*
 * Open @relpath confined beneath @dirfd (beneath.h), doing its I/O through the engine @io
 * (kvio.h), which must outlive the file. @flags are open(2) flags: the
 * access mode, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW are honoured; O_DIRECT
 * and O_CLOEXEC are added; O_APPEND is dropped (the caller passes
 * offsets). @align is the device's dio_align: a power of two, at most the
 * engine's dio.max_align. O_WRONLY opens the backing file O_RDWR, so the page cache
 * can complete partial pages from the file; only if that fails with
 * EACCES is it opened O_WRONLY. dfile_writable() reflects the access mode
 * asked for. The logical size starts as the backing file's size: keep one
 * dfile per backing file, since two would track sizes separately.
 * Returns 0 and the file in *@out, or -errno from openat/fstat (-ELOOP
 * for a symlink on the way or at @relpath, -EXDEV for a mount point), -EINVAL if
 * the filesystem refuses O_DIRECT or @align is not a power of two, -ENOMEM.
 */
int dfile_open(struct kvio *io, int dirfd, const char *relpath, int flags,
	       mode_t mode, unsigned align, struct dfile **out);

/*
 * Settle, then close and free @f. Returns 0 or the -errno of settling (or
 * else of close). @f is gone either way. NULL is a no-op.
 */
int dfile_close(struct dfile *f);

/* The backing file descriptor, for fstat, fchmod, fsetxattr and the like. */
int dfile_fd(const struct dfile *f);

/* Whether the backing file is open for writing. */
bool dfile_writable(const struct dfile *f);

/*
 * What writing to a file not open for writing fails with: -EBADF, or the
 * error given to dfile_refuse_writes(). 0 if writable.
 */
int dfile_write_error(const struct dfile *f);

/*
 * A file opened read-only because opening it for writing failed with
 * -@err (a read-only device, say): writes, truncates and fallocate then
 * fail with that error instead of -EBADF. No-op on a writable file.
 */
void dfile_refuse_writes(struct dfile *f, int err);

/*
 * The backing file's storage is the page cache itself (tmpfs): its write
 * streams then claim exactly the blocks they write, never ahead (a claim
 * there is pages allocated and zeroed, and the writes gain nothing from
 * it). Call before the first write.
 */
void dfile_set_page_cache(struct dfile *f);

/*
 * Tell device errors of @f's I/O (deverr.h) to @errs as device @dev: sync
 * reads and writes, write-behind and read-ahead pieces, fsync, truncate
 * and fallocate, and every failure to trim the backing file. Call before the first I/O; without
 * it, failures are only returned.
 */
void dfile_set_errors(struct dfile *f, struct deverr *errs, unsigned dev);

/* The logical size: what stat must report. */
uint64_t dfile_size(struct dfile *f);

/*
 * Read up to @len bytes at @off. On success *@data points into the calling
 * thread's bounce buffer, valid until the thread's next dfile or dio call,
 * and the count is returned: less than @len only when @off + @len passes
 * the logical size (0 at or past it; *@data is still a valid pointer).
 * Bytes the backing file lacks read as zeros. A file with a checksum
 * record (csum.h; with the engine's checking on) is read in whole units,
 * each checked before any byte of it is returned: -EIO for a unit that
 * does not match (logged once per file, counted: kvio_sum_stats()) or a
 * record that is malformed or not the file's. Returns -errno on failure
 * (-ENOMEM if the bounce buffer cannot grow, -EIO, ...).
 */
ssize_t dfile_read(struct dfile *f, size_t len, uint64_t off,
		   const void **data);

/*
 * The same, offering @dst (@cap bytes): when @off is block aligned, @dst
 * aligned for the device and @cap holds the read rounded up to whole
 * blocks, the device fills @dst directly and *@data is @dst; otherwise
 * the read goes through the bounce buffer as above.
 */
ssize_t dfile_read_to(struct dfile *f, size_t len, uint64_t off, void *dst,
		      size_t cap, const void **data);

/*
 * The bytes of a read: one or two spans, in pieces read ahead or in the
 * calling thread's bounce buffer; @held is for dfile_view_end().
 */
struct dfile_view {
	struct iovec iov[2];
	unsigned cnt;
	void *held[2];
};

/*
 * A read that is part of a reader going through the file in order (the
 * kernel filling its page cache for a buffered reader or a mapping): what
 * dfile_read_to() returns (@dst and @cap as there), in @v; and once the
 * device has answered it, reads of the next bytes (up to the read-ahead
 * depth) are started, so the device works while the reader is busy
 * between its requests. A read
 * that pieces read ahead cover waits for them instead of the device.
 * Reading ahead starts once a run from the file's start passes one piece,
 * or another run passes the depth, and waits until the reader has gone a
 * depth without the file changing under it. Pieces a reader left behind
 * for a second go to readers that find the pool empty. Without
 * read-ahead, on a page-cache device, or when the reader jumps, it is a
 * plain dfile_read_to(). Returns the count (as dfile_read()) or
 * -errno; on success @v is valid until dfile_view_end(), which must follow
 * before the thread's next dfile or dio call.
 */
ssize_t dfile_read_ahead(struct dfile *f, size_t len, uint64_t off,
			 void *dst, size_t cap, struct dfile_view *v);
void dfile_view_end(struct dfile *f, struct dfile_view *v);

/*
 * For a device whose storage is the page cache (struct dev.page_cache),
 * where bytes can be handed on from that cache instead of copied out with
 * O_DIRECT: wait until what was written has landed, take the file's read
 * lock, and store in *@fd a descriptor of the backing file without
 * O_DIRECT (opened on first use, closed with @f). Returns how many bytes of
 * @len at @off the file has (0 at or past the logical size), with the lock
 * held until dfile_span_end(); or -errno, lock not held: -EIO for a span
 * whose checksums (a checked file's, whole units around it, hashed from
 * the page cache) do not match, or a file whose checksum record is bad.
 */
ssize_t dfile_span_begin(struct dfile *f, size_t len, uint64_t off, int *fd);
void dfile_span_end(struct dfile *f);

/*
 * Write @len bytes from @data (any alignment) at @off, extending the file
 * as needed. @data must not lie in the calling thread's bounce buffer (say,
 * a dfile_read() result) unless @data, @off and @len are all aligned: such
 * a write goes straight from @data, an aligned one from elsewhere is copied
 * into the bounce buffer first. A zero @len returns 0 and changes nothing.
 * When a write that reaches past the logical size fails, the backing file
 * is trimmed back to the logical size, which stays unchanged. Returns @len
 * or -errno (-EBADF if not open for writing, -ENOSPC, -EIO, -EFBIG also for
 * an end past the off_t range, ...). On a page-cache device
 * (dfile_set_page_cache()) the write is made at once with pwrite(2).
 */
ssize_t dfile_write(struct dfile *f, const void *data, size_t len,
		    uint64_t off);

/*
 * A buffer its owner may lend to write-behind. @take(@token) is asked
 * once the write would keep it, and may refuse (the write then copies);
 * if the write kept it (@kept), @give_back(@token) is called once the
 * device is done with the bytes, from any thread (the engine's reaper,
 * or the writer's own), before any dfile_settle() or dfile_close() that
 * waits for the write returns.
 */
struct dfile_lend {
	bool (*take)(void *token);
	void (*give_back)(void *token);
	void *token;
	bool kept;		/* set by dfile_write_lent() */
};

/*
 * dfile_write(), where the caller can lend @data: a write of at least a
 * write-behind piece, with @off, @len and @data aligned, that starts no
 * later than where write-behind has sent everything it staged, goes to
 * the device from @data instead of being copied into a write-behind
 * buffer. It is answered as staged writes are (the bytes in memory and
 * their space claimed), and @lend->kept says whether @data is now the
 * engine's until give_back. Any other write is dfile_write()'s, and
 * @data is not kept. Returns @len or -errno, as dfile_write() does.
 */
ssize_t dfile_write_lent(struct dfile *f, const void *data, size_t len,
			 uint64_t off, struct dfile_lend *lend);

/*
 * Set the logical and backing size to @size; new bytes read as zeros.
 * Returns 0 or -errno of ftruncate (-EINVAL on a read-only dfile), or
 * -EFBIG for a size past the off_t range.
 */
int dfile_truncate(struct dfile *f, uint64_t size);

/*
 * Wait until every write-behind write of the file is on the device; a
 * failure stays pending for the next write, settle, fsync or close. Call it
 * before changing what the device writes would change too (the mtime).
 */
void dfile_drain(struct dfile *f);

/*
 * Start what write-behind still holds and wait until every write is on
 * the device or in the page cache; the backing file then has the logical
 * size. Returns 0 or a write-behind failure not reported yet.
 */
int dfile_settle(struct dfile *f);

/*
 * The end of a write session, once every write has landed on the device
 * (settled, and fdatasync'd if bytes went through the page cache): store
 * the file's checksum record (csum.h) if it changed since it had one,
 * from what its writes hashed and, for chunks they did not cover whole
 * in order, what the device holds. With the engine's checking off, or a
 * device that cannot hold the record (no room for an extended
 * attribute: logged), the file is left without one. Returns 0 or -errno
 * of settling, reading back or storing (-EIO, ...).
 */
int dfile_seal(struct dfile *f);

/* Settle, then fdatasync (@datasync) or fsync: everything is on the device. */
int dfile_fsync(struct dfile *f, bool datasync);

/*
 * Whether bytes went through the backing file's page cache since @f was
 * opened or last fsynced (dfile_fsync()): only then must a power loss be
 * guarded against with an fsync; direct writes are on the device once
 * they have landed.
 */
bool dfile_unsynced(struct dfile *f);

/*
 * fallocate(2) on the backing file with @mode (any FALLOC_FL_* the backing
 * filesystem supports), after the writes in flight; the size afterwards is
 * the backing file's.
 * Returns 0 or -errno (-EBADF if not open for writing, -EOPNOTSUPP, ...).
 */
int dfile_fallocate(struct dfile *f, int mode, uint64_t off, uint64_t len);

/*
 * SEEK_DATA / SEEK_HOLE from @off within the logical size. Returns the offset, or -ENXIO at or past the
 * end (and for SEEK_DATA when only holes follow), -EINVAL for another
 * @whence.
 */
int64_t dfile_seek(struct dfile *f, uint64_t off, int whence);

#endif /* CORE_DFILE_H */
