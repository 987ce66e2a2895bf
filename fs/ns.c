/*
 * ns.c - the namespace: resolving names across devices, lookup, forget and
 * readlink; the helpers the operations that change names share.
 *
 * A directory is logical: mkdir makes one copy, and a device missing one
 * gets it (mode, owner and ACLs copied) when something is placed below it
 * there. A non-directory lives on exactly one device: the policy's at
 * birth. Every call that asks several devices goes through nscall.h, each
 * device within the device timeout.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attr.h"
#include "beneath.h"
#include "file.h"
#include "inode.h"
#include "ns.h"
#include "nscall.h"
#include "ops.h"
#include "shadow.h"

/* Keep the error that tells the user most; ENOENT tells the least. */
static int worse(int a, int b)
{
	if (a == -ENOENT || a == -ENOTDIR)
		return b;
	return a;
}

static bool ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec ||
	       (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* Merge directory copy @st on @d into @f and the newest times. */
static void merge_dir(struct found *f, unsigned d, const struct stat *st,
		      struct timespec *mtime, struct timespec *ctime,
		      blkcnt_t *blocks, off_t *size)
{
	f->dirs |= DEVBIT(d);
	if (f->dev < 0 || d < (unsigned)f->dev) {
		f->dev = (int)d;
		f->st = *st;
	}
	/* a merged directory changed when any of its copies did */
	if (ts_after(st->st_mtim, *mtime))
		*mtime = st->st_mtim;
	if (ts_after(st->st_ctim, *ctime))
		*ctime = st->st_ctim;
	/*
	 * Its entries, and so its space, are spread over the copies: the
	 * blocks are all of theirs (du), the size the largest (an empty
	 * directory looks as it does on one filesystem).
	 */
	*blocks += st->st_blocks;
	if (st->st_size > *size)
		*size = st->st_size;
}

struct decided {
	struct kvfs *fs;
	unsigned first;
	devmask_t asked;
};

/*
 * nscall_enough_fn of a lookup: in the policy's order, every device
 * before one holding a non-directory has said it holds nothing there, so
 * that one wins whatever the later ones say. A directory needs them all.
 */
static bool resolve_decided(void *ctx, const struct nsres *res,
			    devmask_t done)
{
	const struct decided *x = ctx;

	for (unsigned i = 0; i < x->fs->ndev; i++) {
		unsigned d = place_visit(x->first, i);

		if (!(x->asked & DEVBIT(d)))
			continue;	/* failed: not asked */
		if (!(done & DEVBIT(d)))
			return false;
		if (res[d].rc)
			continue;
		return !S_ISDIR(res[d].st.st_mode);
	}
	return true;
}

/* ns_resolve(); @full: wait for every device (found.files complete). */
static int resolve(struct kvfs *fs, const char *path, struct found *f,
		   bool full)
{
	unsigned first = *path ? place_pick(&fs->policy, path) : 0;
	struct decided x = { fs, first, nscall_live(fs) };
	struct timespec mtime = { 0 }, ctime = { 0 };
	struct nsres res[DEV_MAX];
	blkcnt_t blocks = 0;
	off_t size = 0;
	int err = -ENOENT;
	devmask_t out;

	f->dev = -1;
	f->dirs = 0;
	f->files = 0;
	/*
	 * One round trip: every device at once, not the first, then the
	 * rest; done as soon as the answers decide.
	 */
	f->out = out = nscall_until(fs, nscall_all(fs), nscall_stat, "lookup",
				    &(struct nsargs){ .path = path }, res,
				    full ? NULL : resolve_decided, &x);
	for (unsigned i = 0; i < fs->ndev; i++) {
		unsigned d = place_visit(first, i);
		const struct stat *st = &res[d].st;
		int rc = res[d].rc;

		if (out & DEVBIT(d))
			continue;	/* failed or no answer: left out */
		if (rc) {
			kv_dev_err(fs, d, DEVERR_META, "lookup", path, rc);
			err = worse(rc, err);
			continue;
		}
		if (!S_ISDIR(st->st_mode)) {
			f->files |= DEVBIT(d);
			if (f->dirs || f->dev >= 0)
				continue;	/* shadowed by what came first */
			f->dev = (int)d;
			f->st = *st;
			continue;
		}
		if (f->dev >= 0 && !f->dirs)
			continue;	/* a file came first */
		merge_dir(f, d, st, &mtime, &ctime, &blocks, &size);
	}
	if (f->dev >= 0 && !f->dirs)
		return 0;
	if (!f->dirs)
		return err;
	f->st.st_mtim = mtime;
	f->st.st_ctim = ctime;
	f->st.st_blocks = blocks;
	f->st.st_size = size;
	return 0;
}

/* Split @path at its last slash: the parent's length ("" has length 0). */
size_t ns_parent_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) : 0;
}

static const char *const acl_names[] = {
	XATTR_ACL_ACCESS, XATTR_ACL_DEFAULT,
};

/*
 * Give directory @path on @to the ACLs of its copy on @from, none where
 * that has none: a new copy may have taken another default ACL from its
 * parent on @to.
 */
static int copy_acls(struct kvfs *fs, unsigned from, unsigned to,
		     const char *path)
{
	int flags = O_RDONLY | O_DIRECTORY;
	int src = beneath_open(kv_rootfd(fs, from), path, flags, 0);
	int dst = beneath_open(kv_rootfd(fs, to), path, flags, 0);
	char *val = malloc(XATTR_SIZE_MAX);
	int rc = src < 0 ? src : dst < 0 ? dst : val ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < sizeof(acl_names) / sizeof(*acl_names);
	     i++) {
		const char *name = acl_names[i];
		ssize_t n = fgetxattr(src, name, val, XATTR_SIZE_MAX);
		bool none = n < 0 && (errno == ENODATA || errno == EOPNOTSUPP);

		if (n >= 0 && fsetxattr(dst, name, val, (size_t)n, 0))
			rc = -errno;
		else if (n < 0 && !none)
			rc = -errno;
		else if (none && fremovexattr(dst, name) &&
			 errno != ENODATA && errno != EOPNOTSUPP)
			rc = -errno;
	}
	free(val);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return rc;
}

/* Make directory @prefix on @dev as its logical directory @home is. */
static int make_parent(struct kvfs *fs, unsigned dev, const char *prefix,
		       const struct found *home)
{
	struct nsargs a = {
		.path = prefix, .mode = home->st.st_mode & 07777,
		.uid = home->st.st_uid, .gid = home->st.st_gid,
	};
	struct nsres r;
	int rc;

	nscall_one(fs, dev, nscall_mkdir_as, "mkdir", &a, &r);
	rc = r.rc;
	/* ... and its ACLs */
	if (!rc && fs->posix_acl)
		rc = copy_acls(fs, (unsigned)home->dev, dev, prefix);
	return rc;
}

int ns_make_parents(struct kvfs *fs, unsigned dev, const char *path)
{
	char prefix[KV_PATH_MAX];
	size_t end = ns_parent_len(path), pos = 0;

	if (!end)
		return 0;	/* the root exists everywhere */
	memcpy(prefix, path, end);
	prefix[end] = '\0';
	while (pos < end) {
		struct found home;
		char *slash = strchr(prefix + pos + 1, '/');
		int rc;

		if (slash)
			*slash = '\0';
		rc = ns_resolve(fs, prefix, &home);
		if (!rc && home.dirs && (home.out & DEVBIT(dev)))
			rc = -EIO;	/* failed, or no answer in time */
		if (rc)
			return rc;
		if (!(home.dirs & DEVBIT(dev))) {
			if (!home.dirs)
				return -ENOTDIR;
			rc = make_parent(fs, dev, prefix, &home);
			if (rc)
				return kv_meta_err(fs, dev, "mkdir", prefix,
						   -1, rc);
		}
		if (!slash)
			break;
		*slash = '/';
		pos = (size_t)(slash - prefix);
	}
	return 0;
}

int ns_resolve(struct kvfs *fs, const char *path, struct found *f)
{
	return resolve(fs, path, f, false);
}

int ns_resolve_full(struct kvfs *fs, const char *path, struct found *f)
{
	return resolve(fs, path, f, true);
}

bool ns_path_moved(struct kvfs *fs, struct inode *in, char *path)
{
	char now[KV_PATH_MAX];

	if (inode_path(fs, in, now, sizeof(now)) < 0 || !strcmp(now, path))
		return false;
	memcpy(path, now, strlen(now) + 1);
	return true;
}

uint64_t ns_found_ino(struct kvfs *fs, const struct found *f)
{
	return inode_make_ino(fs, (unsigned)f->dev, f->st.st_ino);
}

void ns_fill_entry(struct kvfs *fs, struct inode *in, const struct stat *st,
		   struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode_nodeid(fs, in);
	e->attr = *st;
	e->attr.st_ino = in->ino;
	e->attr_timeout = fs->p.attr_timeout;
	e->entry_timeout = fs->p.entry_timeout;
	file_attr_seen(fs, in, &e->attr);
}

/* Link the inode for an entry found at @path and fill the reply. */
static int entry_from(struct kvfs *fs, struct inode *parent, const char *name,
		      const struct found *f, struct fuse_entry_param *e,
		      struct inode **out)
{
	struct inode *in;
	struct stat st;
	int rc;

	in = inode_link(fs, ns_found_ino(fs, f), f->st.st_mode & S_IFMT, f->dev,
			parent, name);
	if (!in)
		return -ENOMEM;
	st = f->st;
	if (S_ISREG(st.st_mode)) {
		/* an open file's size is the dfile's, not the padded one */
		rc = attr_get(fs, in, &st);
		if (rc) {
			inode_forget(fs, in, 1);
			return rc;
		}
	}
	ns_fill_entry(fs, in, &st, e);
	if (out)
		*out = in;
	return 0;
}

int ns_entry(struct kvfs *fs, struct inode *parent, const char *name,
	     const char *path, struct fuse_entry_param *e, struct inode **out)
{
	struct found f;
	int rc = ns_resolve(fs, path, &f);

	if (rc)
		return rc;
	return entry_from(fs, parent, name, &f, e, out);
}

devmask_t ns_copies(struct kvfs *fs, struct inode *in, const char *path)
{
	struct found f;

	if (!S_ISDIR(in->type))
		return DEVBIT(in->dev);
	return ns_resolve(fs, path, &f) ? 0 : f.dirs;
}

/*
 * Common start of every operation on (parent, name): check the name, take
 * ns_lock shared and build the path. On failure the lock is not held.
 */
int ns_child_begin(struct kvfs *fs, fuse_ino_t parent, const char *name,
		   char *path)
{
	int rc = kv_check_name(name);

	if (rc)
		return rc;
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_child_path(fs, inode_of(fs, parent), name, path,
			      KV_PATH_MAX);
	if (rc < 0) {
		pthread_rwlock_unlock(&fs->ns_lock);
		return rc;
	}
	return 0;
}

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct kvfs *fs = kv_fs(req);
	struct fuse_entry_param e;
	char path[KV_PATH_MAX];
	struct found f;
	int rc;

	rc = ns_child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = ns_resolve(fs, path, &f);
	if (!rc)
		rc = entry_from(fs, inode_of(fs, parent), name, &f, &e, NULL);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc == -ENOENT) {
		/*
		 * All changes pass through us: the kernel may cache misses,
		 * unless a device was left out (the name may be there).
		 */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = f.out ? 0 : fs->p.entry_timeout;
		return (void)fuse_reply_entry(req, &e);
	}
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_entry(req, &e);
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct kvfs *fs = kv_fs(req);

	inode_forget(fs, inode_of(fs, ino), nlookup);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	struct kvfs *fs = kv_fs(req);

	for (size_t i = 0; i < count; i++)
		inode_forget(fs, inode_of(fs, forgets[i].ino),
			     forgets[i].nlookup);
	fuse_reply_none(req);
}

int ns_opendir(struct kvfs *fs, unsigned dev, const char *path, DIR **out)
{
	int fd = beneath_open(kv_rootfd(fs, dev), path,
			      O_RDONLY | O_DIRECTORY, 0);
	int rc;

	if (fd < 0)
		return fd;
	*out = fdopendir(fd);
	if (*out)
		return 0;
	rc = -errno;
	close(fd);
	return rc;
}

void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	char path[KV_PATH_MAX], target[PATH_MAX + 1];
	ssize_t n;
	int rc;

	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_path(fs, in, path, sizeof(path));
	n = rc < 0 ? rc : beneath_readlink(kv_rootfd(fs, (unsigned)in->dev),
					   path, target, sizeof(target) - 1);
	if (rc >= 0)
		kv_meta_err(fs, (unsigned)in->dev, "readlink", path, -1,
			    (int)n);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (n < 0)
		return (void)fuse_reply_err(req, (int)-n);
	target[n] = '\0';
	fuse_reply_readlink(req, target);
}

void ns_made(struct kvfs *fs, const char *path, unsigned dev)
{
	struct shadow *sh = atomic_load_explicit(&fs->shadow,
						 memory_order_acquire);
	devmask_t failed = 0;

	if (!sh)
		return;
	for (unsigned d = 0; d < fs->ndev; d++)
		if (d != dev && health_failed(fs->health, d))
			failed |= DEVBIT(d);
	if (failed)
		shadow_note(sh, path, failed);
}
