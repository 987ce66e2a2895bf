/*
 * xattr.c - extended attributes: getxattr, listxattr, setxattr and
 * removexattr, POSIX ACLs among them.
 *
 * Like the other attributes, a directory's are read from its
 * lowest-numbered copy and changed on every copy; a file's are its one
 * backing file's. user.kvstripe.device and user.kvstripe.path are
 * read-only and computed, and so is a file's user.kvstripe.state (its
 * write mark, wmark.h); the root's own attributes are info.h's. The
 * daemon's own
 * trusted.kvstripe.* on backing files are hidden: not listed, not read,
 * not changed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attr.h"
#include "beneath.h"
#include "dfile.h"
#include "fcache.h"
#include "info.h"
#include "inode.h"
#include "ns.h"
#include "nscall.h"
#include "ops.h"
#include "wmark.h"

#define XATTR_DEVICE "user.kvstripe.device"
#define XATTR_PATH "user.kvstripe.path"
#define XATTR_STATE "user.kvstripe.state"	/* a file's write mark */
#define XATTR_CAPS "security.capability"

/*
 * Extended attributes are read and changed through a descriptor of the
 * object, opened confined (core/beneath.h): no path walked from the device
 * root, no symlink followed. A regular file or directory is opened
 * read-only; anything else (a symlink, FIFO, device, socket) is opened
 * O_PATH, never as a device, and reached through /proc/self/fd/N, which
 * lands on the object the descriptor holds (a symlink is not followed
 * from there). A file unlinked while open has no path left: its kept
 * backing file (fcache_keep()) is used instead, @fd.
 */
struct xtarget {
	devmask_t devs;		/* copies to change */
	unsigned home;		/* copy to read */
	mode_t type;		/* S_IFMT of the inode */
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
	x->type = in->type & S_IFMT;
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
	x->devs = ns_copies(fs, in, path);
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

/* One copy's object, held open for the xattr calls. */
struct xobj {
	int fd;
	bool by_proc;		/* O_PATH: the calls go through @proc */
	char proc[32];
};

/* Open the copy on @dev into @o (x_close() it). Returns 0 or -errno. */
static int x_open(struct kvfs *fs, const struct xtarget *x, unsigned dev,
		  const char *path, struct xobj *o)
{
	bool plain = S_ISREG(x->type) || S_ISDIR(x->type);

	o->by_proc = false;
	o->fd = x->fd;
	if (x->fd >= 0)
		return 0;
	o->fd = beneath_open(kv_rootfd(fs, dev), path,
			     plain ? O_RDONLY | O_NONBLOCK | O_NOCTTY : O_PATH,
			     0);
	if (o->fd < 0)
		return o->fd;
	o->by_proc = !plain;
	snprintf(o->proc, sizeof(o->proc), "/proc/self/fd/%d", o->fd);
	return 0;
}

static void x_close(const struct xtarget *x, struct xobj *o)
{
	int err = errno;

	if (o->fd >= 0 && o->fd != x->fd)
		close(o->fd);
	errno = err;
}

/*
 * An xattr call @op on the copy on @dev returned @n: if it failed (-1,
 * errno), a device error goes to the log. Returns @n, errno kept.
 */
static ssize_t x_done(struct kvfs *fs, const struct xtarget *x,
		      unsigned dev, const char *path, const char *op,
		      ssize_t n)
{
	int err = errno;

	if (n < 0) {
		kv_meta_err(fs, dev, op, x->fd >= 0 ? NULL : path, x->fd,
			    -err);
		errno = err;
	}
	return n;
}

/* The xattr calls on the copy on @dev; -1 and errno as theirs. */
static ssize_t x_get(struct kvfs *fs, struct xtarget *x, const char *path,
		     const char *name, void *val, size_t size)
{
	struct xobj o;
	int rc = x_open(fs, x, x->home, path, &o);
	ssize_t n = -1;

	if (rc) {
		errno = -rc;
	} else {
		n = o.by_proc ? getxattr(o.proc, name, val, size) :
				fgetxattr(o.fd, name, val, size);
		x_close(x, &o);
	}
	return x_done(fs, x, x->home, path, "getxattr", n);
}

static ssize_t x_list(struct kvfs *fs, struct xtarget *x, const char *path,
		      char *val, size_t size)
{
	struct xobj o;
	int rc = x_open(fs, x, x->home, path, &o);
	ssize_t n = -1;

	if (rc) {
		errno = -rc;
	} else {
		n = o.by_proc ? listxattr(o.proc, val, size) :
				flistxattr(o.fd, val, size);
		x_close(x, &o);
	}
	return x_done(fs, x, x->home, path, "listxattr", n);
}

static int x_set(struct kvfs *fs, struct xtarget *x, unsigned dev,
		 const char *path, const char *name, const char *value,
		 size_t size, int flags)
{
	struct xobj o;
	int rc = x_open(fs, x, dev, path, &o);

	if (rc) {
		errno = -rc;
		rc = -1;
	} else if (o.by_proc) {
		rc = value ? setxattr(o.proc, name, value, size, flags) :
			     removexattr(o.proc, name);
	} else {
		rc = value ? fsetxattr(o.fd, name, value, size, flags) :
			     fremovexattr(o.fd, name);
	}
	x_close(x, &o);	/* (nothing to close if the open failed) */
	return (int)x_done(fs, x, dev, path,
			   value ? "setxattr" : "removexattr", rc);
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

/* A file's computed attributes (the root's are info.h's). */
static bool is_ours(const char *name)
{
	return !strcmp(name, XATTR_DEVICE) || !strcmp(name, XATTR_PATH) ||
	       !strcmp(name, XATTR_STATE);
}

/* What the daemon keeps on backing files (wmark.h): never the clients'. */
static bool is_hidden(const char *name)
{
	return !strncmp(name, WMARK_PREFIX, sizeof(WMARK_PREFIX) - 1);
}

/* Take the hidden names out of a listing of @n bytes; the new length. */
static ssize_t list_unhide(char *list, ssize_t n)
{
	char *src = list, *dst = list, *end = list + n;

	while (src < end) {
		size_t len = strnlen(src, (size_t)(end - src)) + 1;

		if (!is_hidden(src)) {
			memmove(dst, src, len);
			dst += len;
		}
		src += len;
	}
	return dst - list;
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

/* The value of one of a file's computed attributes, or -ENODATA. */
static int our_value(struct kvfs *fs, struct inode *in, const char *name,
		     int fd, const char *path, char *val, size_t size)
{
	int n;

	if (S_ISDIR(in->type)) {
		return -ENODATA;	/* a directory lives everywhere */
	} else if (!strcmp(name, XATTR_STATE)) {
		enum wmark_state st;

		if (!S_ISREG(in->type))
			return -ENODATA;
		st = wmark_check(fs, in, fd, path);
		if (st == WMARK_UNKNOWN)
			return -EIO;	/* its backing file did not open */
		n = snprintf(val, size, "%s", wmark_state_name(st));
	} else if (!strcmp(name, XATTR_DEVICE))
		n = snprintf(val, size, "%d", in->dev);
	else if (!*path)
		return -ENODATA;	/* unlinked: no path left */
	else
		n = snprintf(val, size, "%s/%s",
			     kv_dev(fs, (unsigned)in->dev)->path, path);
	return n < (int)size ? n : -ERANGE;
}

/* Reply to a getxattr of one of the root's attributes (info.h). */
static void reply_info(fuse_req_t req, struct kvfs *fs, struct inode *in,
		       const char *name, size_t size)
{
	char own[1024], *val = own;
	int n = info_get(fs, in, name, own, sizeof(own));

	if (n >= (int)sizeof(own)) {
		val = malloc((size_t)n + 1);
		if (!val)
			return (void)fuse_reply_err(req, ENOMEM);
		n = info_get(fs, in, name, val, (size_t)n + 1);
	}
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		reply_value(req, val, (size_t)n, size);
	if (val != own)
		free(val);
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
	if (is_hidden(name))
		return (void)fuse_reply_err(req, ENODATA);
	if (info_is_ours(name))
		return reply_info(req, fs, in, name, size);
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = xtarget_of(fs, in, &x, path);
	if (rc)
		goto out;
	if (is_ours(name)) {
		char own[KV_PATH_MAX + 64];

		rc = our_value(fs, in, name, x.fd, path, own, sizeof(own));
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
	/* the whole list, to leave out the hidden names even for its size */
	while (!rc) {
		n = x_list(fs, &x, path, NULL, 0);
		rc = n < 0 ? -errno : 0;
		if (rc)
			break;
		free(val);
		val = malloc((size_t)n + 1);
		if (!val) {
			rc = -ENOMEM;
			break;
		}
		n = x_list(fs, &x, path, val, (size_t)n + 1);
		rc = n < 0 ? -errno : 0;
		if (rc != -ERANGE)
			break;
		rc = 0;	/* grew meanwhile: again */
	}
	if (!rc) {
		n = list_unhide(val, n);
		if (size && (size_t)n > size)
			rc = -ERANGE;
	}
	xtarget_done(fs, &x);
	pthread_rwlock_unlock(&fs->ns_lock);
	reply_xattr(req, rc, size, val, n);
	free(val);
}

/* x_set() of a directory copy as a call of nscall.h. */
static int xattr_call(int root, const struct nsargs *a, struct nsres *r)
{
	int fd = beneath_open(root, a->path,
			      O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY,
			      0);
	int rc;

	r->what = a->val ? "setxattr" : "removexattr";
	if (fd < 0)
		return fd;
	rc = a->val ? fsetxattr(fd, a->name, a->val, a->vlen, a->flags) :
		      fremovexattr(fd, a->name);
	rc = rc ? -errno : 0;
	close(fd);
	return rc;
}

/*
 * Set or remove an attribute on every copy of directory @path, all at
 * once, each within the device timeout. A device failed or not answering
 * is left out: its copy keeps what it had.
 */
static int change_dir_xattr(struct kvfs *fs, const struct xtarget *x,
			    const char *path, const char *name,
			    const char *value, size_t size, int flags)
{
	struct nsargs a = {
		.path = path, .name = name, .val = value,
		.vlen = value ? size : 0, .flags = flags,
	};
	struct nsres res[DEV_MAX];
	devmask_t out = nscall(fs, x->devs, xattr_call, "setxattr", &a, res);
	int rc = 0;

	for (unsigned d = 0; d < fs->ndev; d++) {
		int r = res[d].rc;

		if (!(x->devs & DEVBIT(d)) || (out & DEVBIT(d)))
			continue;
		if (r)
			kv_meta_err(fs, d, res[d].what, path, -1, r);
		/* a copy may lack what the home copy had */
		if (r == -ENODATA && !value && d != x->home)
			r = 0;
		rc = rc ?: r;
	}
	return rc;
}

/* Set (@value non-NULL) or remove an attribute on every copy. */
static int change_xattr(struct kvfs *fs, struct inode *in, const char *name,
			const char *value, size_t size, int flags)
{
	char path[KV_PATH_MAX];
	struct xtarget x;
	int rc;

	if (is_ours(name) || is_hidden(name))
		return -EPERM;
	if (!fs->posix_acl && is_acl(name))
		return -EOPNOTSUPP;
	if (!strcmp(name, XATTR_CAPS))
		atomic_store(&in->nocap, false);
	rc = xtarget_of(fs, in, &x, path);
	if (!rc && S_ISDIR(x.type) && x.fd < 0) {
		rc = change_dir_xattr(fs, &x, path, name, value, size, flags);
		x.devs = 0;	/* done */
	}
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

	if (!rc)
		rc = x.fd >= 0 ? (fstat(x.fd, &st) ? -errno : 0) :
		     beneath_stat(kv_rootfd(fs, x.home), path, &st);
	if (rc || !(st.st_mode & S_ISGID) || !fuse_req_ctx(req)->uid ||
	    attr_caller_in_group(req, st.st_gid))
		goto out;
	mode = st.st_mode & 07777 & ~(mode_t)S_ISGID;
	if (x.fd >= 0) {
		rc = fchmod(x.fd, mode) ? -errno : 0;
	} else {
		struct nsres res[DEV_MAX];
		devmask_t out = nscall(fs, x.devs, nscall_chmod, "chmod",
				       &(struct nsargs){ .path = path,
							 .mode = mode }, res);

		for (unsigned d = 0; !rc && d < fs->ndev; d++)
			if ((x.devs & ~out) & DEVBIT(d))
				rc = res[d].rc;
	}
out:
	xtarget_done(fs, &x);
	return rc;
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	int rc = kv_as_caller(req);	/* a value may take a block */

	if (rc)
		return (void)fuse_reply_err(req, -rc);
	if (info_is_ours(name))
		return (void)fuse_reply_err(req, -info_set(fs, req, in, name,
							   value, size));
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
	struct inode *in = inode_of(fs, ino);
	int rc;

	if (info_is_ours(name))
		return (void)fuse_reply_err(req, -info_set(fs, req, in, name,
							   NULL, 0));
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = change_xattr(fs, in, name, NULL, 0, 0);
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}
