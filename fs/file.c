/*
 * file.c - regular files: open, read, write, flush, fsync, release,
 * fallocate, lseek (create is in mkent.c).
 *
 * The kernel opens files without a round trip (fcache.h): OPEN is answered
 * ENOSYS once, which makes the kernel stop sending OPEN and RELEASE. Every
 * request on a file finds the inode's dfile in the file cache, opened on
 * first use; fi->fh is always 0. A kernel that cannot open without us gets
 * an open with nothing behind it. Every request on a file's data runs under
 * a slot of its device (devq.h): each handler passes its arguments and the
 * function doing the work, which may run later on another thread.
 */
#include <fcntl.h>
#include <unistd.h>

#include "attr.h"
#include "devq.h"
#include "dfile.h"
#include "fcache.h"
#include "file.h"
#include "inode.h"
#include "limit.h"
#include "ops.h"
#include "reclaim.h"
#include "transport/transport.h"
#include "wmark.h"

/*
 * Files smaller than this keep the page cache: they are one READ anyway,
 * cost little memory, and cached they are read again, and read in small
 * pieces, without a round trip each.
 */
#define FILE_DIRECT_MIN	(1u << 20)

/* The size the daemon last saw of @in: its open dfile's, or attributes'. */
static uint64_t file_size_seen(struct kvfs *fs, struct inode *in)
{
	struct dfile *df = fcache_peek(fs, in);
	uint64_t size;

	if (!df)
		return atomic_load(&in->size_seen);
	size = dfile_size(df);
	fcache_put(fs, in);
	return size;
}

/*
 * A reader past the page cache waits a round trip for every read(), so
 * st_blksize tells it the largest READ: tools that size their reads by it
 * (cp, cat, Python's buffered files) then ask for 1 MiB at a time. Files
 * that keep the page cache keep the backing file's.
 */
#define FILE_DIRECT_BLKSIZE	(1 << 20)

void file_attr_seen(struct kvfs *fs, struct inode *in, struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return;
	atomic_store(&in->size_seen, (uint64_t)st->st_size);
	if (fs->direct_reads && (uint64_t)st->st_size >= FILE_DIRECT_MIN)
		st->st_blksize = FILE_DIRECT_BLKSIZE;
}

/* An open by execve() (the kernel's __FMODE_EXEC, passed in OPEN's flags) */
#define FILE_FMODE_EXEC	040

/*
 * Reads past the page cache (fs->direct_reads, read_cache=no): a buffered
 * reader's open gets direct_io, so each READ's reply is copied once,
 * into the reader's own buffer, instead of into fresh FUSE page-cache
 * pages and out of them again. Only an open for reading alone of a file
 * of FILE_DIRECT_MIN and more. The kernel still maps such a file shared
 * (TRANSPORT_INIT_DIRECT_IO_MMAP), and with that flag it writes back what
 * a shared mapping dirtied before each direct read. A mapping through
 * such an open empties the file's page cache, so an execve() keeps the
 * cache: a program is mapped every time it runs. O_DIRECT opens never get
 * direct_io: the kernel splits a client's large O_DIRECT request into
 * parallel ones only without it. keep_cache: every change to a file's
 * data passes through this mount, so what the kernel cached on an
 * earlier open is still right. (A kernel that opens without us keeps its
 * cache too.)
 */
void file_open_flags(struct kvfs *fs, struct inode *in,
		     struct fuse_file_info *fi)
{
	fi->fh = 0;
	fi->direct_io = 0;
	fi->keep_cache = 1;
	if (fs->direct_reads && (fi->flags & O_ACCMODE) == O_RDONLY &&
	    !(fi->flags & (O_DIRECT | FILE_FMODE_EXEC)) &&
	    file_size_seen(fs, in) >= FILE_DIRECT_MIN)
		fi->direct_io = 1;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);

	/* the kernel takes this as success, for this open and all after */
	if (fs->no_open)
		return (void)fuse_reply_err(req, ENOSYS);
	if (S_ISDIR(in->type))
		return (void)fuse_reply_err(req, EISDIR);
	if (!S_ISREG(in->type))
		return (void)fuse_reply_err(req, ENXIO);
	/* O_TRUNC comes as a SETATTR: atomic_o_trunc is off */
	file_open_flags(fs, in, fi);
	/* a reader leaves nothing to settle at close */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
	fuse_reply_open(req, fi);
}

/*
 * From a page-cache device (tmpfs) the reply is spliced from the backing
 * file's pages: one copy, into the client's buffer or page cache, instead
 * of one into the bounce buffer and one out of it. A checked file's
 * bytes are hashed from those pages first (dfile_span_begin()).
 */
static ssize_t read_spliced(fuse_req_t req, struct dfile *df, size_t size,
			    off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	ssize_t n;
	int fd;

	n = dfile_span_begin(df, size, (uint64_t)off, &fd);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return n;
	}
	bv.buf[0].size = (size_t)n;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, 0);	/* copy, never move tmpfs pages */
	dfile_span_end(df);
	return n;
}

/*
 * A READ for the kernel's page cache (a buffered reader, a mapping) may be
 * answered from the daemon's read-ahead, and starts more of it.
 */
static ssize_t read_paged(fuse_req_t req, struct dfile *df, size_t size,
			  off_t off, void *dst, size_t cap)
{
	struct dfile_view v;
	ssize_t n;

	n = dfile_read_ahead(df, size, (uint64_t)off, dst, cap, &v);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return n;
	}
	fuse_reply_iov(req, v.iov, (int)v.cnt);
	dfile_view_end(df, &v);
	return n;
}

/*
 * Count a READ's or WRITE's bytes (@n >= 0, into @bytes) or its error,
 * for the daemon's line at unmount (kvfs_tally()).
 */
static void tally_io(struct kvfs *fs, _Atomic uint64_t *bytes, ssize_t n)
{
	if (n < 0)
		atomic_fetch_add_explicit(&fs->tally_errors, 1,
					  memory_order_relaxed);
	else
		atomic_fetch_add_explicit(bytes, (uint64_t)n,
					  memory_order_relaxed);
}

/* READ, answered; returns the bytes answered or the -errno. */
static ssize_t read_reply(struct kvfs *fs, struct devq_req *r)
{
	fuse_req_t req = r->req;
	struct inode *in = r->in;
	const void *data;
	struct dfile *df;
	size_t cap = 0;
	void *dst = NULL;
	ssize_t n;

	n = fcache_get(fs, in, &df);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return n;
	}
	/* cut short when its daemon stopped: none of it is served */
	if (wmark_torn(in)) {
		fcache_put(fs, in);
		fuse_reply_err(req, EIO);
		return -EIO;
	}
	reclaim_read(fs, in, df);	/* for eviction: recently read */
	if (fs->splice_reads && kv_dev(fs, (unsigned)in->dev)->page_cache) {
		n = read_spliced(req, df, r->size, r->off);
		goto out;
	}
	/* on a ring, the device fills the reply buffer itself */
	if (!r->parked)
		dst = transport_reply_space(&cap);
	if (r->fi.flags & O_DIRECT) {
		n = dfile_read_to(df, r->size, (uint64_t)r->off, dst, cap,
				  &data);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_buf(req, data, (size_t)n);
	} else {
		n = read_paged(req, df, r->size, r->off, dst, cap);
	}
out:
	fcache_put(fs, in);
	return n;
}

/* READ, with a slot of the file's device held (devq.h). */
static void read_run(struct kvfs *fs, struct devq_req *r)
{
	r->result = read_reply(fs, r);
	tally_io(fs, &fs->tally_read, r->result);
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	devq_submit(fs, &(struct devq_req){
			.req = req, .ino = ino, .run = read_run,
			.op = "read", .stat = STATS_READ, .fi = *fi, .size = size, .off = off,
		});
}

/*
 * The write itself: from where the kernel put the payload when the
 * transport can lend it and write-behind takes it (no copy), else as
 * dfile_write() makes it.
 */
static ssize_t write_payload(struct dfile *df, struct devq_req *r)
{
	struct dfile_lend lend = {
		.take = transport_lend_take, .give_back = transport_give_back,
	};
	ssize_t n;

	lend.token = transport_lend(r->buf);
	if (!lend.token)
		return dfile_write(df, r->buf, r->size, (uint64_t)r->off);
	n = dfile_write_lent(df, r->buf, r->size, (uint64_t)r->off, &lend);
	transport_lend_done(lend.token, lend.kept);
	return n;
}

static void write_run(struct kvfs *fs, struct devq_req *r)
{
	fuse_req_t req = r->req;
	struct inode *in = r->in;
	struct dfile *df;
	bool marked;
	ssize_t n;

	/* the blocks it takes are the caller's to take */
	n = kv_as_caller(req) ?: fcache_error(in) ?: fcache_get(fs, in, &df);
	if (n < 0) {
		r->result = n;
	tally_io(fs, &fs->tally_written, n);
		return (void)fuse_reply_err(req, (int)-n);
	}
	/* within max_size, or ENOSPC before a byte is taken: not torn */
	n = limit_write(fs, in, df, (uint64_t)r->off, r->size);
	if (n < 0) {
		fcache_put(fs, in);
		r->result = n;
	tally_io(fs, &fs->tally_written, n);
		return (void)fuse_reply_err(req, (int)-n);
	}
	/*
	 * The kernel's writeback of a shared mapping may come after the last
	 * close, with no FLUSH to end a session: it sets no mark.
	 */
	marked = !r->fi.writepage && dfile_writable(df);
	if (marked && (n = wmark_write_begin(fs, in, df, r->fi.lock_owner,
					    false)) < 0) {
		marked = false;
		/* told as the write's, as a truncate tells its mark's */
		n = kv_meta_err(fs, (unsigned)in->dev, "write", NULL,
				dfile_fd(df), (int)n);
	} else {
		n = 0;
	}
	/* an unprivileged writer's write drops set-id bits */
	if (!n && r->kill_suidgid)
		n = attr_kill_setid_open(req, r->ino, dfile_fd(df));
	if (!n)
		n = write_payload(df, r);
	if (marked)
		wmark_write_end(in, n < 0 ? (int)n : 0);
	fcache_put(fs, in);
	r->result = n;
	tally_io(fs, &fs->tally_written, n);
	if (n < 0)
		return (void)fuse_reply_err(req, (int)-n);
	fuse_reply_write(req, (size_t)n);
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	devq_submit(fs, &(struct devq_req){
			.req = req, .ino = ino, .run = write_run,
			.op = "write", .stat = STATS_WRITE, .fi = *fi, .buf = buf, .size = size,
			.off = off, .kill_suidgid = transport_kill_suidgid(),
		});
}

static void flush_run(struct kvfs *fs, struct devq_req *r)
{
	struct inode *in = r->in;
	struct dfile *df = NULL;
	int rc = 0;

	/*
	 * close(2) returns the write-behind errors it is owed; a file being
	 * written has its dfile opened again if need be, to end its mark
	 */
	if (atomic_load(&in->wmark) == WMARK_OURS) {
		rc = fcache_get(fs, in, &df);
		if (rc == -ENOENT)
			rc = 0;	/* gone: nothing left to unmark */
	} else
		df = fcache_peek(fs, in);
	if (df) {
		rc = wmark_flush(fs, in, df, r->fi.lock_owner);
		limit_settled(fs, in, df);	/* its blocks, now they landed */
		fcache_put(fs, in);
	}
	rc = fcache_flushed(fs, in) ?: rc;
	fuse_reply_err(r->req, -rc);
}

/* Its device failed: the file is no longer being written all the same. */
static void flush_fail(struct kvfs *fs, struct devq_req *r, int err)
{
	fcache_flushed(fs, r->in);
	fuse_reply_err(r->req, -err);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	devq_submit(fs, &(struct devq_req){
			.req = req, .ino = ino, .run = flush_run,
			.fail = flush_fail, .op = "flush", .fi = *fi,
		});
}

static void fsync_run(struct kvfs *fs, struct devq_req *r)
{
	struct inode *in = r->in;
	struct dfile *df;
	int rc;

	/* a closed dfile may have left data in the backing page cache */
	rc = fcache_get(fs, in, &df);
	if (!rc) {
		rc = dfile_fsync(df, r->mode);
		fcache_put(fs, in);
	}
	fuse_reply_err(r->req, -(fcache_error(in) ?: rc));
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	(void)fi;
	devq_submit(fs, &(struct devq_req){
			.req = req, .ino = ino, .run = fsync_run,
			.op = "fsync", .mode = datasync,
		});
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	struct dfile *df;

	/* nothing was held: requests find the dfile in the cache */
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		df = fcache_peek(fs, in);
		if (df) {	/* what the next reader's open goes by */
			atomic_store(&in->size_seen, dfile_size(df));
			fcache_put(fs, in);
		}
	}
	fuse_reply_err(req, 0);
}

static void fallocate_run(struct kvfs *fs, struct devq_req *r)
{
	struct inode *in = r->in;
	struct dfile *df;
	int rc;

	rc = kv_as_caller(r->req) ?: fcache_get(fs, in, &df);
	if (!rc) {
		rc = dfile_write_error(df) ?:
		     limit_falloc(fs, in, df, r->mode, (uint64_t)r->len) ?:
		     wmark_write_begin(fs, in, df, 0, false);
		if (rc >= 0) {
			rc = dfile_fallocate(df, r->mode, (uint64_t)r->off,
					     (uint64_t)r->len);
			limit_settled(fs, in, df);
			wmark_write_end(in, rc);
		}
		fcache_put(fs, in);
	}
	fuse_reply_err(r->req, -rc);
}

void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	(void)fi;
	if (offset < 0 || length <= 0)
		return (void)fuse_reply_err(req, EINVAL);
	devq_submit(fs, &(struct devq_req){
			.req = req, .ino = ino,
			.run = fallocate_run, .op = "fallocate", .mode = mode,
			.off = offset, .len = length,
		});
}

static void lseek_run(struct kvfs *fs, struct devq_req *r)
{
	struct dfile *df;
	int64_t pos;

	pos = fcache_get(fs, r->in, &df);
	if (!pos) {
		pos = dfile_seek(df, (uint64_t)r->off, r->mode);
		fcache_put(fs, r->in);
	}
	if (pos < 0)
		return (void)fuse_reply_err(r->req, (int)-pos);
	fuse_reply_lseek(r->req, (off_t)pos);
}

void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	(void)fi;
	if (off < 0)
		return (void)fuse_reply_err(req, ENXIO);
	devq_submit(fs, &(struct devq_req){
			.req = req, .ino = ino, .run = lseek_run,
			.op = "lseek", .off = off, .mode = whence,
		});
}
