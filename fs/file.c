/*
 * file.c - open files: create, open, read, write, flush, fsync, release.
 *
 * All opens of one inode share one dfile (one O_DIRECT backing descriptor
 * and one logical size); fi->fh points at it. It is settled and closed
 * when the last open is released. An unlinked file stays readable through
 * it until then.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "dfile.h"
#include "fs_i.h"

static struct dfile *fh_dfile(const struct fuse_file_info *fi)
{
	return (struct dfile *)(uintptr_t)fi->fh;
}

/* Take an open reference on @in's dfile, if it has one. */
static struct dfile *file_pin(struct kvfs *fs, struct inode *in)
{
	struct dfile *df;

	pthread_mutex_lock(&fs->lock);
	df = in->df;
	if (df)
		in->opens++;
	pthread_mutex_unlock(&fs->lock);
	return df;
}

/*
 * Drop an open reference; the last one closes the dfile. It is settled
 * (every write landed) while still installed, so whoever opens the file
 * next, with a dfile of its own, finds the true size on disk.
 */
static int file_unpin(struct kvfs *fs, struct inode *in)
{
	struct dfile *df;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	df = in->df;
	while (in->opens == 1) {
		pthread_mutex_unlock(&fs->lock);
		rc = dfile_settle(df);
		pthread_mutex_lock(&fs->lock);
		if (in->opens == 1) {
			in->df = NULL;
			break;
		}
		/* pinned again meanwhile: the new user keeps it */
	}
	if (--in->opens) {
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	pthread_mutex_unlock(&fs->lock);
	rc = dfile_close(df) ?: rc;
	inode_unref(fs, in);	/* the reference file_install() took */
	return rc;
}

/*
 * Install @df as @in's dfile unless another thread got there first; either
 * way return the one in use with an open reference taken.
 */
static struct dfile *file_install(struct kvfs *fs, struct inode *in,
				  struct dfile *df)
{
	struct dfile *loser = NULL, *use;

	pthread_mutex_lock(&fs->lock);
	if (in->df) {
		loser = df;
	} else {
		in->df = df;
		in->refs++;	/* an open file keeps its inode */
	}
	use = in->df;
	in->opens++;
	pthread_mutex_unlock(&fs->lock);
	dfile_close(loser);
	return use;
}

static unsigned dev_align(struct kvfs *fs, struct inode *in)
{
	return kv_dev(fs, (unsigned)in->dev)->dio_align;
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

/*
 * Count an open of @in with @flags among its device's writers (@delta 1)
 * or take it out again (-1): see place_pick_busy().
 */
static void count_writer(struct kvfs *fs, struct inode *in, int flags,
			 int delta)
{
	if (wants_write(flags) && in->dev >= 0)
		atomic_fetch_add_explicit(&fs->writers[in->dev], (unsigned)delta,
					  memory_order_relaxed);
}

/* End one open of @in, made with @flags: release, or an interrupted open. */
static int file_close_open(struct kvfs *fs, struct inode *in, int flags)
{
	count_writer(fs, in, flags, -1);
	return file_unpin(fs, in);
}

/* The device for a new file at @path: the policy's, or a less busy one. */
static unsigned create_device(struct kvfs *fs, const char *path)
{
	unsigned busy[DEV_MAX];

	for (unsigned d = 0; d < fs->ndev; d++)
		busy[d] = atomic_load_explicit(&fs->writers[d],
					       memory_order_relaxed);
	return place_pick_busy(&fs->policy, path, busy);
}

/* Open @in's dfile (shared), for writing if @write. */
static int file_get(struct kvfs *fs, struct inode *in, bool write,
		    struct dfile **out)
{
	char path[KV_PATH_MAX];
	struct dfile *df = file_pin(fs, in);
	int root, rc;

	if (df) {
		if (write && !dfile_writable(df)) {
			file_unpin(fs, in);
			return -EACCES;
		}
		*out = df;
		return 0;
	}
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_path(fs, in, path, sizeof(path));
	if (rc >= 0) {
		root = kv_rootfd(fs, (unsigned)in->dev);
		rc = dfile_open(root, path, O_RDWR | O_NOFOLLOW, 0,
				dev_align(fs, in), &df);
		/* a read-only backing file still serves readers */
		if (!write && (rc == -EACCES || rc == -EROFS || rc == -EPERM ||
			       rc == -ETXTBSY))
			rc = dfile_open(root, path, O_RDONLY | O_NOFOLLOW, 0,
					dev_align(fs, in), &df);
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc < 0)
		return rc;
	*out = file_install(fs, in, df);
	return 0;
}

int kv_getattr(struct kvfs *fs, struct inode *in, struct stat *st)
{
	char path[KV_PATH_MAX];
	struct dfile *df = NULL;
	struct found f;
	int rc;

	if (S_ISREG(in->type))
		df = file_pin(fs, in);
	if (df) {
		/* blocks and mtime are exact once written data has landed */
		dfile_drain(df);
		rc = fstat(dfile_fd(df), st) ? -errno : 0;
		st->st_size = (off_t)dfile_size(df);
		file_unpin(fs, in);
		goto out;
	}
	rc = inode_path(fs, in, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (S_ISDIR(in->type)) {
		rc = kv_resolve(fs, path, &f);
		if (rc)
			return rc;
		*st = f.st;
		goto out;
	}
	rc = fstatat(kv_rootfd(fs, (unsigned)in->dev), path, st,
		     AT_SYMLINK_NOFOLLOW) ? -errno : 0;
out:
	st->st_ino = in->ino;
	return rc;
}

void kv_drain(struct kvfs *fs, struct inode *in)
{
	struct dfile *df = file_pin(fs, in);

	if (df) {
		dfile_drain(df);
		file_unpin(fs, in);
	}
}

int kv_truncate(struct kvfs *fs, struct inode *in, uint64_t size)
{
	char path[KV_PATH_MAX];
	struct dfile *df = file_pin(fs, in);
	int fd, rc;

	if (df) {
		rc = dfile_writable(df) ? dfile_truncate(df, size) : -EACCES;
		file_unpin(fs, in);
		return rc;
	}
	rc = inode_path(fs, in, path, sizeof(path));
	if (rc < 0)
		return rc;
	fd = openat(kv_rootfd(fs, (unsigned)in->dev), path,
		    O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = ftruncate(fd, (off_t)size) ? -errno : 0;
	close(fd);
	return rc;
}

static void set_open_flags(struct fuse_file_info *fi, struct dfile *df)
{
	fi->fh = (uint64_t)(uintptr_t)df;
	/*
	 * No direct_io: the kernel then splits a client's large O_DIRECT
	 * request into parallel ones and shared mmap keeps working.
	 * keep_cache: every change to a file's data passes through this
	 * mount, so what the kernel cached on an earlier open is still
	 * right; a chunk read many times is read from the device once.
	 */
	fi->direct_io = 0;
	fi->keep_cache = 1;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	struct dfile *df;
	int rc;

	if (S_ISDIR(in->type))
		return (void)fuse_reply_err(req, EISDIR);
	if (!S_ISREG(in->type))
		return (void)fuse_reply_err(req, ENXIO);
	rc = file_get(fs, in, wants_write(fi->flags), &df);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	/* even an empty file gets new times from O_TRUNC, as on ext4 */
	if (fi->flags & O_TRUNC) {
		rc = dfile_truncate(df, 0);
		if (!rc && wire_kill_asked())
			rc = kv_kill_setid_open(req, ino, dfile_fd(df));
		if (rc) {
			file_unpin(fs, in);
			return (void)fuse_reply_err(req, -rc);
		}
	}
	set_open_flags(fi, df);
	/*
	 * A reader leaves nothing to settle at close: no FLUSH round trip
	 * (a KV get is open, read, close).
	 */
	fi->noflush = !wants_write(fi->flags);
	count_writer(fs, in, fi->flags, 1);
	if (fuse_reply_open(req, fi))
		file_close_open(fs, in, fi->flags);	/* interrupted */
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	int flags = (fi->flags & (O_EXCL | O_TRUNC)) | O_CREAT | O_RDWR;
	struct fuse_entry_param e;
	char path[KV_PATH_MAX];
	struct dfile *df = NULL;
	struct inode *in;
	struct found f;
	unsigned dev;
	int rc;

	rc = kv_check_name(name);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_child_path(fs, inode_of(fs, parent), name, path,
			      sizeof(path));
	if (rc < 0)
		goto out;
	dev = create_device(fs, path);
	rc = dfile_open(kv_rootfd(fs, dev), path, flags, mode,
			kv_dev(fs, dev)->dio_align, &df);
	if (rc == -ENOENT && !(rc = kv_make_parents(fs, dev, path)))
		rc = dfile_open(kv_rootfd(fs, dev), path, flags, mode,
				kv_dev(fs, dev)->dio_align, &df);
	if (rc)
		goto out;
	rc = kv_set_owner(fs, req, dev, path, dfile_fd(df), false);
	if (!rc)
		rc = fstat(dfile_fd(df), &f.st) ? -errno : 0;
	if (rc) {
		unlinkat(kv_rootfd(fs, dev), path, 0);
		goto out;
	}
	f.dev = (int)dev;
	f.dirs = 0;
	in = inode_link(fs, kv_make_ino(fs, dev, f.st.st_ino), S_IFREG,
			(int)dev, inode_of(fs, parent), name);
	if (!in) {
		rc = -ENOMEM;
		goto out;
	}
	df = file_install(fs, in, df);
	f.st.st_size = (off_t)dfile_size(df);
	kv_fill_entry(fs, in, &f.st, &e);
	pthread_rwlock_unlock(&fs->ns_lock);
	set_open_flags(fi, df);
	count_writer(fs, in, fi->flags, 1);
	if (fuse_reply_create(req, &e, fi))
		file_close_open(fs, in, fi->flags);
	return;
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	dfile_close(df);
	fuse_reply_err(req, -rc);
}

/*
 * From a page-cache device (tmpfs) the reply is spliced from the backing
 * file's pages: one copy, into the client's buffer or page cache, instead
 * of one into the bounce buffer and one out of it.
 */
static void read_spliced(fuse_req_t req, struct dfile *df, size_t size,
			 off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	ssize_t n;
	int fd;

	n = dfile_span_begin(df, size, (uint64_t)off, &fd);
	if (n < 0)
		return (void)fuse_reply_err(req, (int)-n);
	bv.buf[0].size = (size_t)n;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, 0);	/* copy, never move tmpfs pages */
	dfile_span_end(df);
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	const void *data;
	ssize_t n;

	if (fs->splice_reads &&
	    kv_dev(fs, (unsigned)inode_of(fs, ino)->dev)->page_cache)
		return read_spliced(req, fh_dfile(fi), size, off);
	n = dfile_read(fh_dfile(fi), size, (uint64_t)off, &data);
	if (n < 0)
		return (void)fuse_reply_err(req, (int)-n);
	fuse_reply_buf(req, data, (size_t)n);
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct dfile *df = fh_dfile(fi);
	ssize_t n;

	/* an unprivileged writer's write drops set-id bits */
	if (wire_kill_asked()) {
		int rc = kv_kill_setid_open(req, ino, dfile_fd(df));

		if (rc)
			return (void)fuse_reply_err(req, -rc);
	}
	n = dfile_write(df, buf, size, (uint64_t)off);
	if (n < 0)
		return (void)fuse_reply_err(req, (int)-n);
	fuse_reply_write(req, (size_t)n);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* close(2) returns the write-behind errors it is owed */
	fuse_reply_err(req, -dfile_settle(fh_dfile(fi)));
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, -dfile_fsync(fh_dfile(fi), datasync));
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);

	fuse_reply_err(req, -file_close_open(fs, inode_of(fs, ino), fi->flags));
}

void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	(void)ino;
	if (offset < 0 || length <= 0)
		return (void)fuse_reply_err(req, EINVAL);
	fuse_reply_err(req, -dfile_fallocate(fh_dfile(fi), mode,
					     (uint64_t)offset,
					     (uint64_t)length));
}

void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	int64_t pos;

	(void)ino;
	if (off < 0)
		return (void)fuse_reply_err(req, ENXIO);
	pos = dfile_seek(fh_dfile(fi), (uint64_t)off, whence);
	if (pos < 0)
		return (void)fuse_reply_err(req, (int)-pos);
	fuse_reply_lseek(req, (off_t)pos);
}
