/*
 * attr.c - attributes: getattr, setattr, statfs, and the set-id bits the
 * kernel asks to clear (FUSE_HANDLE_KILLPRIV_V2).
 *
 * A directory's attributes are its lowest-numbered copy's and a change
 * goes to every copy whose device answers within the device timeout; a file's go to its one backing file, through its
 * open descriptor when it has one (so an unlinked open file still works).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "attr.h"
#include "beneath.h"
#include "devq.h"
#include "dfile.h"
#include "fcache.h"
#include "file.h"
#include "inode.h"
#include "limit.h"
#include "ns.h"
#include "nscall.h"
#include "ops.h"
#include "transport/transport.h"
#include "wmark.h"


int attr_get(struct kvfs *fs, struct inode *in, struct stat *st)
{
	char path[KV_PATH_MAX];
	struct dfile *df = NULL;
	struct found f;
	bool known;
	int rc;

	if (S_ISREG(in->type))
		df = fcache_peek(fs, in);
	if (df) {
		/* blocks and mtime are exact once written data has landed */
		dfile_drain(df);
		rc = fstat(dfile_fd(df), st) ? -errno : 0;
		st->st_size = (off_t)dfile_size(df);
		fcache_put(fs, in);
		goto out;
	}
	pthread_mutex_lock(&fs->lock);
	known = in->last != NULL;
	if (known)
		*st = *in->last;	/* removed: the attributes it had */
	pthread_mutex_unlock(&fs->lock);
	if (known) {
		rc = 0;
		goto out;
	}
	rc = inode_path(fs, in, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (S_ISDIR(in->type)) {
		rc = ns_resolve(fs, path, &f);
		if (rc)
			return rc;
		*st = f.st;
		goto out;
	}
	if (health_failed(fs->health, (unsigned)in->dev))
		return -EIO;	/* its device is failed: not asked */
	rc = beneath_stat(kv_rootfd(fs, (unsigned)in->dev), path, st);
	if (rc == -ENOENT && ns_path_moved(fs, in, path))
		rc = beneath_stat(kv_rootfd(fs, (unsigned)in->dev), path, st);
	kv_dev_err(fs, (unsigned)in->dev, DEVERR_META, "stat", path, rc);
out:
	st->st_ino = in->ino;
	if (!rc)
		file_attr_seen(fs, in, st);
	return rc;
}

static void getattr_run(struct kvfs *fs, struct devq_req *r)
{
	struct stat st;
	int rc;

	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = attr_get(fs, r->in, &st);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc)
		return (void)fuse_reply_err(r->req, -rc);
	fuse_reply_attr(r->req, &st, fs->p.attr_timeout);
}

/*
 * A file's attributes come from its device, and an open file's only once
 * its write-behind has landed: under a slot of its device (devq.h).
 */
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct devq_req r = { .req = req, .ino = ino, .run = getattr_run,
			      .op = "stat" };

	(void)fi;
	if (S_ISREG(inode_of(fs, ino)->type))
		return devq_submit(fs, &r);
	r.in = inode_of(fs, ino);
	getattr_run(fs, &r);
}


static struct timespec set_time(int valid, int set, int now,
				struct timespec t)
{
	if (valid & now)
		t.tv_nsec = UTIME_NOW;
	else if (!(valid & set))
		t.tv_nsec = UTIME_OMIT;
	return t;
}

/*
 * Apply one setattr to the copy on device @d: by descriptor, the open
 * file's @fd if @fd >= 0, else @path's opened O_PATH (confined,
 * core/beneath.h). @path NULL: the open file's name is gone.
 */
static int setattr_obj(int root, const char *path, int fd, mode_t type,
		       const struct stat *attr, int valid, const char **opp)
{
	int obj = fd >= 0 ? fd : beneath_open(root, path, O_PATH, 0);
	const char *op = "setattr";	/* the open of the object */
	int rc = obj < 0 ? obj : 0;

	if (!rc && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		op = "chown";
		rc = beneath_fchown(obj,
			valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
			valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1);
	}
	if (!rc && (valid & FUSE_SET_ATTR_MODE) && !S_ISLNK(type)) {
		op = "chmod";
		rc = fd >= 0 ? (fchmod(fd, attr->st_mode & 07777) ? -errno : 0) :
		     beneath_fchmod(obj, attr->st_mode & 07777);
	}
	if (!rc && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
		struct timespec tv[2] = {
			set_time(valid, FUSE_SET_ATTR_ATIME,
				 FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
			set_time(valid, FUSE_SET_ATTR_MTIME,
				 FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim),
		};

		op = "utimes";
		rc = beneath_futimens(obj, tv);
	}
	if (obj >= 0 && obj != fd)
		close(obj);
	*opp = op;
	return rc;
}

static int setattr_one(struct kvfs *fs, unsigned d, const char *path,
		       int fd, mode_t type, const struct stat *attr, int valid)
{
	const char *op;
	int rc = setattr_obj(kv_rootfd(fs, d), path, fd, type, attr, valid,
			     &op);

	return kv_meta_err(fs, d, op, path, fd, rc);
}

/* setattr_obj() of a directory copy as a call of nscall.h. */
static int setattr_call(int root, const struct nsargs *a, struct nsres *r)
{
	return setattr_obj(root, a->path, -1, a->mode, &a->st, a->flags,
			   &r->what);
}

/*
 * Apply one setattr to every copy of directory @path on @devs, all at
 * once, each within the device timeout. A device failed or not answering
 * is left out: its copy keeps the old attributes.
 */
static int setattr_dir(struct kvfs *fs, devmask_t devs, const char *path,
		       const struct stat *attr, int valid)
{
	struct nsargs a = {
		.path = path, .mode = S_IFDIR, .st = *attr, .flags = valid,
	};
	struct nsres res[DEV_MAX];
	devmask_t out = nscall(fs, devs, setattr_call, "setattr", &a, res);
	int rc = 0;

	for (unsigned d = 0; d < fs->ndev; d++) {
		if (!(devs & DEVBIT(d)) || (out & DEVBIT(d)))
			continue;
		if (res[d].rc)
			kv_meta_err(fs, d, res[d].what, path, -1, res[d].rc);
		rc = rc ?: res[d].rc;
	}
	return rc;
}

/*
 * Clear the set-id bits of a regular file as the VFS does for the
 * unprivileged caller of @req: the file @fd, or if @fd < 0 @path below
 * @dirfd. Returns 1 if a bit went, 0 if none did, or -errno.
 */
static int attr_kill_suidgid(fuse_req_t req, int fd, int dirfd,
			     const char *path)
{
	struct stat st;
	mode_t mode;
	int rc;

	rc = fd >= 0 ? (fstat(fd, &st) ? -errno : 0) :
		       beneath_stat(dirfd, path, &st);
	if (rc < 0)
		return rc;
	if (!S_ISREG(st.st_mode))
		return 0;
	/*
	 * As the VFS: set-user-ID always goes; set-group-ID goes with group
	 * execute, or else if the caller is not in the file's group.
	 */
	mode = st.st_mode & 07777 & ~(mode_t)S_ISUID;
	if ((mode & S_ISGID) &&
	    ((mode & S_IXGRP) || !attr_caller_in_group(req, st.st_gid)))
		mode &= ~(mode_t)S_ISGID;
	if (mode == (st.st_mode & 07777))
		return 0;
	rc = fd >= 0 ? (fchmod(fd, mode) ? -errno : 0) :
		       beneath_chmod(dirfd, path, mode);
	return rc < 0 ? rc : 1;
}

/*
 * A truncate is a write: refused where the backing file took no writes
 * (dfile_write_error()), else under the write mark (wmark.h); to size 0
 * (an O_TRUNC open) it makes a torn file an ordinary one being written.
 */
static int truncate_marked(struct kvfs *fs, struct inode *in,
			   struct dfile *df, off_t size, bool by_path)
{
	int began, rc;

	began = dfile_write_error(df) ?:
		wmark_write_begin(fs, in, df, 0, size == 0);

	if (began < 0)	/* (dfile_truncate() tells its own errors) */
		return kv_meta_err(fs, (unsigned)in->dev, "truncate", NULL,
				   dfile_fd(df), began);
	rc = dfile_truncate(df, (uint64_t)size);
	limit_settled(fs, in, df);
	wmark_write_end(in, rc);
	/* no close follows a truncate(2) by path: a session it began ends */
	if (!rc && began && by_path)
		rc = wmark_end(fs, in, df);
	return rc;
}

static void setattr_run(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			int valid, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	char path[KV_PATH_MAX];
	struct dfile *df = NULL;
	devmask_t devs;
	struct stat st;
	bool named;
	int rc = 0;

	(void)fi;
	rc = kv_as_caller(req);	/* growing a file, an ACL's block */
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	/*
	 * A size change goes through the dfile, opened if need be: a reader
	 * opening one meanwhile would keep the old size. An O_TRUNC open
	 * comes this way, and its writes then find the dfile open.
	 */
	if (S_ISREG(in->type) && (valid & FUSE_SET_ATTR_SIZE))
		rc = fcache_get(fs, in, &df);
	else if (S_ISREG(in->type))
		df = fcache_peek(fs, in);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_path(fs, in, path, sizeof(path));
	named = rc >= 0;
	if (rc == -ENOENT && df)
		rc = 0;		/* unlinked but open: the descriptor will do */
	if (rc < 0)
		goto out;
	rc = 0;
	if ((valid & FUSE_SET_ATTR_SIZE) && !S_ISREG(in->type))
		rc = S_ISDIR(in->type) ? -EISDIR : -EINVAL;
	if (!rc && (valid & FUSE_SET_ATTR_SIZE))
		rc = truncate_marked(fs, in, df, attr->st_size, !fi);
	/* data still on its way to the device would bump the new times */
	if (!rc && df &&
	    (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		dfile_drain(df);
	devs = df ? DEVBIT(in->dev) : ns_copies(fs, in, path);
	if (S_ISDIR(in->type)) {
		if (!rc)
			rc = setattr_dir(fs, devs, path, attr, valid);
		devs = 0;	/* done */
	}
	for (unsigned d = 0; !rc && d < fs->ndev; d++)
		if (devs & DEVBIT(d))
			rc = setattr_one(fs, d, named ? path : NULL,
					 df ? dfile_fd(df) : -1, in->type,
					 attr, valid);
	/* truncate or chown by an unprivileged caller (KILLPRIV_V2) */
	if (!rc && (transport_granted(fs->tp) & TRANSPORT_INIT_KILLPRIV_V2) &&
	    (valid & FUSE_SET_ATTR_KILL_SUID) && S_ISREG(in->type)) {
		rc = attr_kill_suidgid(req, df ? dfile_fd(df) : -1,
				       kv_rootfd(fs, in->dev), path);
		kv_meta_err(fs, (unsigned)in->dev, "chmod", named ? path : NULL,
			    df ? dfile_fd(df) : -1, rc);
		if (rc > 0)
			rc = 0;	/* the reply carries the new mode */
	}
	if (!rc)
		rc = attr_get(fs, in, &st);
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	if (df)
		fcache_put(fs, in);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_attr(req, &st, fs->p.attr_timeout);
}

static void setattr_slot_run(struct kvfs *fs, struct devq_req *r)
{
	(void)fs;
	setattr_run(r->req, r->ino, &r->attr, r->valid,
		    r->has_fi ? &r->fi : NULL);
}

/*
 * A file's truncate, and its time changes that wait for write-behind, run
 * under a slot of its device (devq.h); a directory's change goes to every
 * copy at once.
 */
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int valid, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct devq_req r = { .req = req, .ino = ino, .run = setattr_slot_run,
			      .op = "truncate", .attr = *attr,
			      .valid = valid, .has_fi = fi != NULL };

	if (!S_ISREG(inode_of(fs, ino)->type))
		return setattr_run(req, ino, attr, valid, fi);
	if (fi)
		r.fi = *fi;
	if (!(valid & FUSE_SET_ATTR_SIZE))
		r.op = "setattr";
	devq_submit(fs, &r);
}

/* fstatvfs() of a device's root as a call of nscall.h, into r->buf. */
static int statfs_call(int root, const struct nsargs *a, struct nsres *r)
{
	struct statvfs *sv = malloc(sizeof(*sv));

	(void)a;
	if (!sv)
		return -ENOMEM;
	if (fstatvfs(root, sv)) {
		free(sv);
		return -errno;
	}
	r->buf = sv;
	return 0;
}

/*
 * The devices' combined capacity (devset_statfs_sum()), all asked at
 * once, each within the device timeout; a device failed or not answering
 * counts for nothing.
 */
void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct kvfs *fs = kv_fs(req);
	struct statvfs per[DEV_MAX], sv;
	struct nsres res[DEV_MAX];
	struct nsargs a = { .path = "" };
	devmask_t out, have = 0;
	int rc = 0;

	(void)ino;
	out = nscall(fs, nscall_all(fs), statfs_call, "statfs", &a, res);
	for (unsigned d = 0; d < fs->ndev; d++) {
		if (out & DEVBIT(d))
			continue;
		if (res[d].rc) {
			if (!rc)
				rc = kv_meta_err(fs, d, "statfs", "", -1,
						 res[d].rc);
		} else {
			per[d] = *(struct statvfs *)res[d].buf;
			have |= DEVBIT(d);
		}
		nscall_res_free(&res[d]);
	}
	if (!rc && !have)
		rc = -EIO;	/* no device answered */
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	devset_statfs_sum(fs->devs, per, have, &sv);
	limit_statfs(fs, &sv);	/* a max_size is the size df shows */
	fuse_reply_statfs(req, &sv);
}

bool attr_caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t list[64];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, list);
	for (int i = 0; i < n && i < 64; i++)
		if (list[i] == gid)
			return true;
	return false;
}

int attr_kill_setid_open(fuse_req_t req, fuse_ino_t ino, int fd)
{
	struct kvfs *fs = fuse_req_userdata(req);
	int rc = attr_kill_suidgid(req, fd, -1, NULL);

	if (rc <= 0)
		return rc;
	/*
	 * The reply to a WRITE carries no mode: the kernel would
	 * keep showing the bits to a stat that asks for the mode alone.
	 * Only attributes are dropped (offset < 0), which takes no lock
	 * the request being answered holds.
	 */
	fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	return 0;
}
