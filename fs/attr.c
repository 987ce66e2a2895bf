/*
 * attr.c - attributes: getattr, setattr, statfs and extended attributes.
 *
 * A directory's attributes are its lowest-numbered copy's and a change
 * goes to every copy; a file's go to its one backing file, through its
 * open descriptor when it has one (so an unlinked open file still works).
 * user.kvstripe.device and user.kvstripe.path are read-only and computed,
 * and so are the root's user.kvstripe.inodes (the inode table's size),
 * user.kvstripe.writers (the files being written on each device) and
 * user.kvstripe.ring (the requests taken through io_uring, fs/transport/).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attr.h"
#include "dfile.h"
#include "fcache.h"
#include "inode.h"
#include "ns.h"
#include "ops.h"
#include "transport/transport.h"

#define XATTR_DEVICE "user.kvstripe.device"
#define XATTR_PATH "user.kvstripe.path"
#define XATTR_INODES "user.kvstripe.inodes"	/* the root's only */
#define XATTR_WRITERS "user.kvstripe.writers"	/* ditto */
#define XATTR_RING "user.kvstripe.ring"		/* ditto */
#define XATTR_CAPS "security.capability"

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
	rc = fstatat(kv_rootfd(fs, (unsigned)in->dev), path, st,
		     AT_SYMLINK_NOFOLLOW) ? -errno : 0;
out:
	st->st_ino = in->ino;
	return rc;
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct stat st;
	int rc;

	(void)fi;
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = attr_get(fs, inode_of(fs, ino), &st);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_attr(req, &st, fs->p.attr_timeout);
}

/* Where the bytes of @in live: one device for a file, several for a dir. */
static devmask_t copies(struct kvfs *fs, struct inode *in, const char *path)
{
	struct found f;

	if (!S_ISDIR(in->type))
		return DEVBIT(in->dev);
	return ns_resolve(fs, path, &f) ? 0 : f.dirs;
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

/* Apply one setattr to one copy: by descriptor if @fd >= 0, else path. */
static int setattr_one(int root, const char *path, int fd, mode_t type,
		       const struct stat *attr, int valid)
{
	const char *p = kv_at(path);
	int rc = 0;

	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		rc = fd >= 0 ? fchown(fd, uid, gid) :
			       fchownat(root, p, uid, gid, AT_SYMLINK_NOFOLLOW);
		if (rc)
			return -errno;
	}
	if ((valid & FUSE_SET_ATTR_MODE) && !S_ISLNK(type)) {
		rc = fd >= 0 ? fchmod(fd, attr->st_mode & 07777) :
			       fchmodat(root, p, attr->st_mode & 07777, 0);
		if (rc)
			return -errno;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec tv[2] = {
			set_time(valid, FUSE_SET_ATTR_ATIME,
				 FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
			set_time(valid, FUSE_SET_ATTR_MTIME,
				 FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim),
		};

		rc = fd >= 0 ? futimens(fd, tv) :
			       utimensat(root, p, tv, AT_SYMLINK_NOFOLLOW);
		if (rc)
			return -errno;
	}
	return 0;
}

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int valid, struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	char path[KV_PATH_MAX];
	struct dfile *df = NULL;
	devmask_t devs;
	struct stat st;
	int rc = 0;

	(void)fi;
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
	if (rc == -ENOENT && df)
		rc = 0;		/* unlinked but open: the descriptor will do */
	if (rc < 0)
		goto out;
	rc = 0;
	if ((valid & FUSE_SET_ATTR_SIZE) && !S_ISREG(in->type))
		rc = S_ISDIR(in->type) ? -EISDIR : -EINVAL;
	if (!rc && (valid & FUSE_SET_ATTR_SIZE))
		rc = dfile_write_error(df) ?:
		     dfile_truncate(df, (uint64_t)attr->st_size);
	/* data still on its way to the device would bump the new times */
	if (!rc && df &&
	    (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		dfile_drain(df);
	devs = df ? DEVBIT(in->dev) : copies(fs, in, path);
	for (unsigned d = 0; !rc && d < fs->ndev; d++)
		if (devs & DEVBIT(d))
			rc = setattr_one(kv_rootfd(fs, d), path,
					 df ? dfile_fd(df) : -1, in->type,
					 attr, valid);
	/* truncate or chown by an unprivileged caller (KILLPRIV_V2) */
	if (!rc && (transport_granted(fs->tp) & TRANSPORT_INIT_KILLPRIV_V2) &&
	    (valid & FUSE_SET_ATTR_KILL_SUID) && S_ISREG(in->type)) {
		rc = attr_kill_suidgid(req, df ? dfile_fd(df) : -1,
				     kv_rootfd(fs, in->dev), path);
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

void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct kvfs *fs = kv_fs(req);
	struct statvfs sv;
	int rc;

	(void)ino;
	rc = devset_statfs(fs->devs, &sv);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_statfs(req, &sv);
}

/*
 * Extended attributes go through /proc/self/fd/<root>/<path> with the
 * l*xattr calls: the kernel resolves the path below the device root and
 * does not follow a final symlink. A file unlinked while open has no path
 * left: its kept backing file (fcache_keep()) is used instead, @fd.
 */
struct xtarget {
	char proc[KV_PATH_MAX + 32];
	devmask_t devs;		/* copies to change */
	unsigned home;		/* copy to read */
	int fd;			/* the unlinked file's, pinned; else -1 */
	struct inode *pinned;
};

static int xtarget_of(struct kvfs *fs, struct inode *in, struct xtarget *x,
		      char *path)
{
	int rc = inode_path(fs, in, path, KV_PATH_MAX);
	struct dfile *df;

	x->fd = -1;
	x->pinned = NULL;
	if (rc == -ENOENT && S_ISREG(in->type) && (df = fcache_peek(fs, in))) {
		x->fd = dfile_fd(df);
		x->pinned = in;
		x->home = (unsigned)in->dev;
		x->devs = DEVBIT(x->home);
		*path = '\0';
		return 0;
	}
	if (rc < 0)
		return rc;
	x->devs = copies(fs, in, path);
	if (!x->devs)
		return -ENOENT;
	x->home = (unsigned)__builtin_ctzll(x->devs);
	return 0;
}

static void xtarget_done(struct kvfs *fs, struct xtarget *x)
{
	if (x->pinned)
		fcache_put(fs, x->pinned);
	x->pinned = NULL;
}

static const char *xpath(struct kvfs *fs, struct xtarget *x, unsigned dev,
			 const char *path)
{
	snprintf(x->proc, sizeof(x->proc), "/proc/self/fd/%d/%s",
		 kv_rootfd(fs, dev), path);
	return x->proc;
}

/* The xattr calls on the copy on @dev, by descriptor or by path. */
static ssize_t x_get(struct kvfs *fs, struct xtarget *x, const char *path,
		     const char *name, void *val, size_t size)
{
	return x->fd >= 0 ? fgetxattr(x->fd, name, val, size) :
		lgetxattr(xpath(fs, x, x->home, path), name, val, size);
}

static ssize_t x_list(struct kvfs *fs, struct xtarget *x, const char *path,
		      char *val, size_t size)
{
	return x->fd >= 0 ? flistxattr(x->fd, val, size) :
		llistxattr(xpath(fs, x, x->home, path), val, size);
}

static int x_set(struct kvfs *fs, struct xtarget *x, unsigned dev,
		 const char *path, const char *name, const char *value,
		 size_t size, int flags)
{
	if (x->fd >= 0)
		return value ? fsetxattr(x->fd, name, value, size, flags) :
			       fremovexattr(x->fd, name);
	return value ? lsetxattr(xpath(fs, x, dev, path), name, value, size,
				 flags) :
		       lremovexattr(xpath(fs, x, dev, path), name);
}

/*
 * POSIX ACLs: stored on the backing files (on every copy of a directory)
 * where the kernel enforces them (fs->posix_acl), refused where it would
 * not.
 */
static bool is_acl(const char *name)
{
	return !strcmp(name, XATTR_ACL_ACCESS) ||
	       !strcmp(name, XATTR_ACL_DEFAULT);
}

static bool is_ours(const char *name)
{
	return !strcmp(name, XATTR_DEVICE) || !strcmp(name, XATTR_PATH) ||
	       !strcmp(name, XATTR_INODES) || !strcmp(name, XATTR_WRITERS) ||
	       !strcmp(name, XATTR_RING);
}

/*
 * Finish a getxattr or listxattr: @rc an error, else @n bytes of @val, or
 * only the size when the caller asked for it (@size 0).
 */
static void reply_xattr(fuse_req_t req, int rc, size_t size,
			const char *val, ssize_t n)
{
	if (rc)
		fuse_reply_err(req, -rc);
	else if (!size)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, val, (size_t)n);
}

/* Reply to a getxattr-style request with @len bytes of @val. */
static void reply_value(fuse_req_t req, const char *val, size_t len,
			size_t size)
{
	if (!size)
		return (void)fuse_reply_xattr(req, len);
	if (len > size)
		return (void)fuse_reply_err(req, ERANGE);
	fuse_reply_buf(req, val, len);
}

/* The value of one of our own attributes, or -ENODATA. */
static int our_value(struct kvfs *fs, struct inode *in, const char *name,
		     const char *path, char *val, size_t size)
{
	size_t count;
	int n;

	if (!strcmp(name, XATTR_INODES)) {
		if (in != fs->root)
			return -ENODATA;
		pthread_mutex_lock(&fs->lock);
		count = fs->count;
		pthread_mutex_unlock(&fs->lock);
		n = snprintf(val, size, "%zu", count);
	} else if (!strcmp(name, XATTR_WRITERS)) {
		if (in != fs->root)
			return -ENODATA;
		/* "N0 N1 ...": device d's count is the d-th */
		n = 0;
		for (unsigned d = 0; d < fs->ndev && n < (int)size; d++)
			n += snprintf(val + n, size - (size_t)n, "%s%u",
				      d ? " " : "",
				      atomic_load(&fs->writers[d]));
	} else if (!strcmp(name, XATTR_RING)) {
		if (in != fs->root)
			return -ENODATA;
		n = snprintf(val, size, "%llu", transport_ring_served(fs->tp));
	} else if (S_ISDIR(in->type)) {
		return -ENODATA;	/* a directory lives everywhere */
	} else if (!strcmp(name, XATTR_DEVICE))
		n = snprintf(val, size, "%d", in->dev);
	else if (!*path)
		return -ENODATA;	/* unlinked: no path left */
	else
		n = snprintf(val, size, "%s/%s",
			     kv_dev(fs, (unsigned)in->dev)->path, path);
	return n < (int)size ? n : -ERANGE;
}

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	char path[KV_PATH_MAX], *val = NULL;
	struct xtarget x;
	ssize_t n = 0;
	int rc;

	if (atomic_load(&in->nocap) && !strcmp(name, XATTR_CAPS))
		return (void)fuse_reply_err(req, ENODATA);
	if (!fs->posix_acl && is_acl(name))
		return (void)fuse_reply_err(req, EOPNOTSUPP);
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = xtarget_of(fs, in, &x, path);
	if (rc)
		goto out;
	if (is_ours(name)) {
		char own[KV_PATH_MAX + 64];

		rc = our_value(fs, in, name, path, own, sizeof(own));
		xtarget_done(fs, &x);
		pthread_rwlock_unlock(&fs->ns_lock);
		if (rc < 0)
			return (void)fuse_reply_err(req, -rc);
		return reply_value(req, own, (size_t)rc, size);
	}
	if (size) {
		val = malloc(size);
		if (!val) {
			rc = -ENOMEM;
			goto out;
		}
	}
	n = x_get(fs, &x, path, name, val, size);
	rc = n < 0 ? -errno : 0;
	if (rc == -ENODATA && !strcmp(name, XATTR_CAPS))
		atomic_store(&in->nocap, true);
	/* the kernel takes any other error as a failed permission check */
	if (rc == -EOPNOTSUPP && is_acl(name))
		rc = -ENODATA;
out:
	xtarget_done(fs, &x);
	pthread_rwlock_unlock(&fs->ns_lock);
	reply_xattr(req, rc, size, val, n);
	free(val);
}

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX], *val = NULL;
	struct xtarget x;
	ssize_t n = 0;
	int rc;

	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = xtarget_of(fs, inode_of(fs, ino), &x, path);
	if (!rc && size && !(val = malloc(size)))
		rc = -ENOMEM;
	if (!rc) {
		n = x_list(fs, &x, path, val, size);
		rc = n < 0 ? -errno : 0;
	}
	xtarget_done(fs, &x);
	pthread_rwlock_unlock(&fs->ns_lock);
	reply_xattr(req, rc, size, val, n);
	free(val);
}

/* Set (@value non-NULL) or remove an attribute on every copy. */
static int change_xattr(struct kvfs *fs, struct inode *in, const char *name,
			const char *value, size_t size, int flags)
{
	char path[KV_PATH_MAX];
	struct xtarget x;
	int rc;

	if (is_ours(name))
		return -EPERM;
	if (!fs->posix_acl && is_acl(name))
		return -EOPNOTSUPP;
	if (!strcmp(name, XATTR_CAPS))
		atomic_store(&in->nocap, false);
	rc = xtarget_of(fs, in, &x, path);
	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		if (!(x.devs & DEVBIT(d)))
			continue;
		rc = x_set(fs, &x, d, path, name, value, size, flags) ?
			-errno : 0;
		/* a copy may lack what the home copy had */
		if (rc == -ENODATA && !value && d != x.home)
			rc = 0;
	}
	xtarget_done(fs, &x);
	return rc;
}

/*
 * After an access ACL was set on @in: as the VFS, clear set-group-ID
 * unless the caller is in the file's group or is root (for CAP_FSETID).
 * The backing file system cannot: the daemon set the ACL as root. (The
 * kernel would say so itself with FUSE_SETXATTR_EXT, not in libfuse
 * 3.14.)
 */
static int acl_kill_sgid(fuse_req_t req, struct kvfs *fs, struct inode *in)
{
	char path[KV_PATH_MAX];
	struct xtarget x;
	struct stat st;
	mode_t mode;
	int rc = xtarget_of(fs, in, &x, path);

	if (!rc && (x.fd >= 0 ? fstat(x.fd, &st) :
		    fstatat(kv_rootfd(fs, x.home), kv_at(path), &st,
			    AT_SYMLINK_NOFOLLOW)))
		rc = -errno;
	if (rc || !(st.st_mode & S_ISGID) || !fuse_req_ctx(req)->uid ||
	    attr_caller_in_group(req, st.st_gid))
		goto out;
	mode = st.st_mode & 07777 & ~(mode_t)S_ISGID;
	for (unsigned d = 0; !rc && d < fs->ndev; d++)
		if ((x.devs & DEVBIT(d)) &&
		    (x.fd >= 0 ? fchmod(x.fd, mode) :
		     fchmodat(kv_rootfd(fs, d), kv_at(path), mode, 0)))
			rc = -errno;
out:
	xtarget_done(fs, &x);
	return rc;
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	int rc;

	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = change_xattr(fs, in, name, value, size, flags);
	if (!rc && !strcmp(name, XATTR_ACL_ACCESS))
		rc = acl_kill_sgid(req, fs, in);
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct kvfs *fs = kv_fs(req);
	int rc;

	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = change_xattr(fs, inode_of(fs, ino), name, NULL, 0, 0);
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
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

int attr_kill_suidgid(fuse_req_t req, int fd, int dirfd, const char *path)
{
	struct stat st;
	mode_t mode;
	int rc;

	rc = fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, path, &st,
						 AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return -errno;
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
	rc = fd >= 0 ? fchmod(fd, mode) : fchmodat(dirfd, path, mode, 0);
	return rc < 0 ? -errno : 1;
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
