/*
 * ns.c - the namespace: resolving names across devices, lookup, and the
 * operations that create, link and remove names.
 *
 * A directory is logical: mkdir makes it on every device, and a device
 * missing one gets it (mode, owner and ACLs copied) when a file is placed
 * below it. A non-directory lives on exactly one device: the policy's at
 * birth.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fcache.h"
#include "fs_i.h"

/* The order lookups visit devices: the policy's first, then ascending. */
static unsigned visit(unsigned first, unsigned i)
{
	if (i == 0)
		return first;
	return i <= first ? i - 1 : i;
}

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

int kv_resolve(struct kvfs *fs, const char *path, struct found *f)
{
	unsigned first = *path ? place_pick(&fs->policy, path) : 0;
	struct timespec mtime = { 0 }, ctime = { 0 };
	blkcnt_t blocks = 0;
	off_t size = 0;
	int err = -ENOENT;
	struct stat st;

	f->dev = -1;
	f->dirs = 0;
	for (unsigned i = 0; i < fs->ndev; i++) {
		unsigned d = visit(first, i);

		if (fstatat(kv_rootfd(fs, d), kv_at(path), &st,
			    AT_SYMLINK_NOFOLLOW)) {
			err = worse(-errno, err);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (f->dirs)
				continue;	/* shadowed by the directory */
			f->dev = (int)d;
			f->st = st;
			return 0;
		}
		f->dirs |= DEVBIT(d);
		if (f->dev < 0 || d < (unsigned)f->dev) {
			f->dev = (int)d;
			f->st = st;
		}
		/* a merged directory changed when any of its copies did */
		if (ts_after(st.st_mtim, mtime))
			mtime = st.st_mtim;
		if (ts_after(st.st_ctim, ctime))
			ctime = st.st_ctim;
		/*
		 * Its entries, and so its space, are spread over the copies:
		 * the blocks are all of theirs (du), the size the largest
		 * (an empty directory looks as it does on one filesystem).
		 */
		blocks += st.st_blocks;
		if (st.st_size > size)
			size = st.st_size;
	}
	if (!f->dirs)
		return err;
	f->st.st_mtim = mtime;
	f->st.st_ctim = ctime;
	f->st.st_blocks = blocks;
	f->st.st_size = size;
	return 0;
}

/* Split @path at its last slash: the parent's length ("" has length 0). */
static size_t parent_len(const char *path)
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
	int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int src = openat(kv_rootfd(fs, from), path, flags);
	int dst = openat(kv_rootfd(fs, to), path, flags);
	char *val = malloc(XATTR_SIZE_MAX);
	int rc = src < 0 || dst < 0 ? -errno : val ? 0 : -ENOMEM;

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

int kv_caller_umask(struct kvfs *fs, fuse_req_t req)
{
	static __thread bool own_umask;

	if (!fs->posix_acl)
		return 0;	/* the kernel applied it */
	if (!own_umask) {
		/* the umask lives in the fs_struct the threads share */
		if (unshare(CLONE_FS))
			return -errno;
		own_umask = true;
	}
	umask(fuse_req_ctx(req)->umask);
	return 0;
}

int kv_make_parents(struct kvfs *fs, unsigned dev, const char *path)
{
	char prefix[KV_PATH_MAX];
	size_t end = parent_len(path), pos = 0;
	int root = kv_rootfd(fs, dev);

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
		rc = kv_resolve(fs, prefix, &home);
		if (rc)
			return rc;
		if (!(home.dirs & DEVBIT(dev))) {
			if (!home.dirs)
				return -ENOTDIR;
			if (mkdirat(root, prefix, home.st.st_mode & 07777) &&
			    errno != EEXIST)
				return -errno;
			/* the copy gets the logical directory's owner and mode */
			if (fchownat(root, prefix, home.st.st_uid,
				     home.st.st_gid, AT_SYMLINK_NOFOLLOW) ||
			    fchmodat(root, prefix, home.st.st_mode & 07777, 0))
				return -errno;
			/* ... and its ACLs */
			rc = fs->posix_acl ?
				copy_acls(fs, (unsigned)home.dev, dev, prefix) : 0;
			if (rc)
				return rc;
		}
		if (!slash)
			break;
		*slash = '/';
		pos = (size_t)(slash - prefix);
	}
	return 0;
}

int kv_set_owner(struct kvfs *fs, fuse_req_t req, unsigned dev,
		 const char *path, int fd, bool is_dir)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int root = kv_rootfd(fs, dev);
	uid_t uid = ctx->uid;
	gid_t gid = ctx->gid;
	struct stat parent, st;
	char dir[KV_PATH_MAX];
	size_t plen = parent_len(path);
	int rc;

	if (uid == fs->uid && gid == fs->gid)
		return 0;	/* the backing filesystem already did it */
	memcpy(dir, path, plen);
	dir[plen] = '\0';
	if (fstatat(root, kv_at(dir), &parent, 0))
		return -errno;
	if (parent.st_mode & S_ISGID)
		gid = parent.st_gid;	/* BSD group semantics of setgid dirs */
	rc = fd >= 0 ? fstat(fd, &st) :
		       fstatat(root, path, &st, AT_SYMLINK_NOFOLLOW);
	if (rc)
		return -errno;
	rc = fd >= 0 ? fchown(fd, uid, gid) :
		       fchownat(root, path, uid, gid, AT_SYMLINK_NOFOLLOW);
	if (rc)
		return -errno;
	/* chown drops set-id bits of files; the creator asked for them */
	if (!is_dir && !S_ISLNK(st.st_mode) &&
	    (st.st_mode & (S_ISUID | S_ISGID))) {
		rc = fd >= 0 ? fchmod(fd, st.st_mode & 07777) :
			       fchmodat(root, path, st.st_mode & 07777, 0);
		if (rc)
			return -errno;
	}
	return 0;
}

static uint64_t found_ino(struct kvfs *fs, const struct found *f)
{
	return kv_make_ino(fs, (unsigned)f->dev, f->st.st_ino);
}

void kv_fill_entry(struct kvfs *fs, struct inode *in, const struct stat *st,
		   struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode_nodeid(fs, in);
	e->attr = *st;
	e->attr.st_ino = in->ino;
	e->attr_timeout = fs->p.attr_timeout;
	e->entry_timeout = fs->p.entry_timeout;
}

/* Link the inode for an entry found at @path and fill the reply. */
static int entry_from(struct kvfs *fs, struct inode *parent, const char *name,
		      const struct found *f, struct fuse_entry_param *e,
		      struct inode **out)
{
	struct inode *in;
	struct stat st;
	int rc;

	in = inode_link(fs, found_ino(fs, f), f->st.st_mode & S_IFMT, f->dev,
			parent, name);
	if (!in)
		return -ENOMEM;
	st = f->st;
	if (S_ISREG(st.st_mode)) {
		/* an open file's size is the dfile's, not the padded one */
		rc = kv_getattr(fs, in, &st);
		if (rc) {
			inode_forget(fs, in, 1);
			return rc;
		}
	}
	kv_fill_entry(fs, in, &st, e);
	if (out)
		*out = in;
	return 0;
}

int kv_entry(struct kvfs *fs, struct inode *parent, const char *name,
	     const char *path, struct fuse_entry_param *e, struct inode **out)
{
	struct found f;
	int rc = kv_resolve(fs, path, &f);

	if (rc)
		return rc;
	return entry_from(fs, parent, name, &f, e, out);
}

/*
 * Common start of every operation on (parent, name): check the name, take
 * ns_lock shared and build the path. On failure the lock is not held.
 */
static int child_begin(struct kvfs *fs, fuse_ino_t parent, const char *name,
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

	rc = child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = kv_resolve(fs, path, &f);
	if (!rc)
		rc = entry_from(fs, inode_of(fs, parent), name, &f, &e, NULL);
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc == -ENOENT) {
		/* all changes pass through us: the kernel may cache misses */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->p.entry_timeout;
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

/* Whether @path names anything on any device: 0 if free, else -errno. */
static int name_free(struct kvfs *fs, const char *path)
{
	struct found f;
	int rc = kv_resolve(fs, path, &f);

	if (!rc)
		return -EEXIST;
	return rc == -ENOENT ? 0 : rc;
}

static void reply_entry_for(fuse_req_t req, struct kvfs *fs,
			    fuse_ino_t parent, const char *name,
			    const char *path)
{
	struct fuse_entry_param e;
	int rc = kv_entry(fs, inode_of(fs, parent), name, path, &e, NULL);

	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_entry(req, &e);
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	devmask_t made = 0;
	int rc;

	rc = child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = name_free(fs, path);
	if (!rc)
		rc = kv_caller_umask(fs, req);
	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		int root = kv_rootfd(fs, d);

		rc = mkdirat(root, path, mode) ? -errno : 0;
		if (rc == -ENOENT) {
			rc = kv_make_parents(fs, d, path);
			if (!rc)
				rc = mkdirat(root, path, mode) ? -errno : 0;
		}
		if (!rc) {
			made |= DEVBIT(d);
			rc = kv_set_owner(fs, req, d, path, -1, true);
		}
	}
	if (made)
		dir_changed(fs, inode_of(fs, parent));
	if (rc) {
		for (unsigned d = 0; d < fs->ndev; d++)
			if (made & DEVBIT(d))
				unlinkat(kv_rootfd(fs, d), path, AT_REMOVEDIR);
		pthread_rwlock_unlock(&fs->ns_lock);
		return (void)fuse_reply_err(req, -rc);
	}
	reply_entry_for(req, fs, parent, name, path);
}

/*
 * Run @make for a new non-directory at @path on its policy device,
 * creating missing parents there on the way.
 */
struct maker {
	mode_t mode;
	dev_t rdev;
	const char *target;
};

static int make_node(struct kvfs *fs, unsigned dev, const char *path,
		     const struct maker *m)
{
	int root = kv_rootfd(fs, dev);
	int tries = 0, rc;

	do {
		if (m->target)
			rc = symlinkat(m->target, root, path);
		else
			rc = mknodat(root, path, m->mode, m->rdev);
		rc = rc ? -errno : 0;
		if (rc != -ENOENT || tries++)
			return rc;
		rc = kv_make_parents(fs, dev, path);
	} while (!rc);
	return rc;
}

static void make_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
		       const struct maker *m)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	unsigned dev;
	int rc;

	rc = child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	dev = place_pick(&fs->policy, path);
	rc = name_free(fs, path);
	if (!rc)
		rc = kv_caller_umask(fs, req);
	if (!rc)
		rc = make_node(fs, dev, path, m);
	if (!rc) {
		rc = kv_set_owner(fs, req, dev, path, -1, false);
		if (rc)
			unlinkat(kv_rootfd(fs, dev), path, 0);
		dir_changed(fs, inode_of(fs, parent));
	}
	if (rc) {
		pthread_rwlock_unlock(&fs->ns_lock);
		return (void)fuse_reply_err(req, -rc);
	}
	reply_entry_for(req, fs, parent, name, path);
}

void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev)
{
	struct maker m = { .mode = mode, .rdev = rdev };

	make_entry(req, parent, name, &m);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	struct maker m = { .target = link };

	make_entry(req, parent, name, &m);
}

void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *in = inode_of(fs, ino);
	char src[KV_PATH_MAX], dst[KV_PATH_MAX];
	int root, rc;

	rc = child_begin(fs, newparent, newname, dst);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = inode_path(fs, in, src, sizeof(src));
	if (rc >= 0 && S_ISDIR(in->type))
		rc = -EPERM;
	/* a link names data where it is, like rename: never EXDEV */
	if (rc >= 0)
		rc = name_free(fs, dst);
	if (!rc) {
		root = kv_rootfd(fs, (unsigned)in->dev);
		rc = linkat(root, src, root, dst, 0) ? -errno : 0;
		if (rc == -ENOENT && !kv_make_parents(fs, (unsigned)in->dev, dst))
			rc = linkat(root, src, root, dst, 0) ? -errno : 0;
		if (!rc)
			dir_changed(fs, inode_of(fs, newparent));
	}
	if (rc) {
		pthread_rwlock_unlock(&fs->ns_lock);
		return (void)fuse_reply_err(req, -rc);
	}
	reply_entry_for(req, fs, newparent, newname, dst);
}

/*
 * Remove non-directories named @path on every device but @keep: stale
 * copies (made by hand) must not resurface under a name that is gone.
 * Each device is looked at first and written only if it has one: an
 * unlink asks the file system for write access before it looks, so a
 * device that takes no writes (frozen, hung) would hold up every unlink
 * and rename on the others.
 */
static void sweep_stale(struct kvfs *fs, unsigned keep, const char *path)
{
	struct stat st;

	for (unsigned d = 0; d < fs->ndev; d++) {
		int root = kv_rootfd(fs, d);

		if (d != keep &&
		    !fstatat(root, path, &st, AT_SYMLINK_NOFOLLOW) &&
		    !S_ISDIR(st.st_mode))
			unlinkat(root, path, 0);
	}
}


/*
 * The name @path of regular file @f is about to go: if the kernel knows
 * the file (@in, else NULL), a client may have it open, and its data must
 * stay readable through a backing file opened now (fcache_keep()).
 */
static int keep_open(struct kvfs *fs, struct inode *in, const struct found *f,
		     const char *path)
{
	if (!in || !S_ISREG(f->st.st_mode))
		return 0;
	return fcache_keep(fs, in, kv_rootfd(fs, (unsigned)f->dev), path);
}

/* Remove the non-directory @f at @path, known as @in, on its device. */
static int remove_file(struct kvfs *fs, struct inode *in,
		       const struct found *f, const char *path)
{
	int rc;

	if (S_ISDIR(f->st.st_mode))
		return -EISDIR;
	rc = keep_open(fs, in, f, path);
	if (rc)
		return rc;
	if (unlinkat(kv_rootfd(fs, (unsigned)f->dev), path, 0))
		return -errno;
	sweep_stale(fs, (unsigned)f->dev, path);
	return 0;
}

int kv_opendir(struct kvfs *fs, unsigned dev, const char *path, DIR **out)
{
	int fd = openat(kv_rootfd(fs, dev), kv_at(path),
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	*out = fdopendir(fd);
	if (*out)
		return 0;
	rc = -errno;
	close(fd);
	return rc;
}

/* 0 if directory @path on @dev has no entry, -ENOTEMPTY or -errno. */
static int dir_empty(struct kvfs *fs, unsigned dev, const char *path)
{
	struct dirent *de;
	DIR *dir;
	int rc = kv_opendir(fs, dev, path, &dir);

	if (rc)
		return rc;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			rc = -ENOTEMPTY;
			break;
		}
	}
	closedir(dir);
	return rc;
}

static int dirs_empty(struct kvfs *fs, devmask_t dirs, const char *path)
{
	for (unsigned d = 0; d < fs->ndev; d++) {
		if (dirs & DEVBIT(d)) {
			int rc = dir_empty(fs, d, path);

			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Remove directory copies on @dirs; put back what was removed on failure. */
static int remove_dirs(struct kvfs *fs, devmask_t dirs, const char *path,
		       const struct stat *st)
{
	devmask_t gone = 0;
	int rc = 0;

	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		if (!(dirs & DEVBIT(d)))
			continue;
		if (unlinkat(kv_rootfd(fs, d), path, AT_REMOVEDIR))
			rc = -errno;
		else
			gone |= DEVBIT(d);
	}
	if (!rc)
		return 0;
	for (unsigned d = 0; d < fs->ndev; d++) {
		int root = kv_rootfd(fs, d);

		if (!(gone & DEVBIT(d)))
			continue;
		if (!mkdirat(root, path, st->st_mode & 07777)) {
			fchownat(root, path, st->st_uid, st->st_gid, 0);
			fchmodat(root, path, st->st_mode & 07777, 0);
		}
	}
	return rc;
}

/* Remove every copy of the empty directory @f at @path. */
static int remove_dir(struct kvfs *fs, const struct found *f,
		      const char *path)
{
	int rc;

	if (!S_ISDIR(f->st.st_mode))
		return -ENOTDIR;
	rc = dirs_empty(fs, f->dirs, path);
	return rc ? rc : remove_dirs(fs, f->dirs, path, &f->st);
}

/* unlink and rmdir: resolve the name, remove it, forget it. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 bool dir)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	struct inode *in = NULL;
	bool gone = false;
	struct found f;
	int rc;

	rc = child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = kv_resolve(fs, path, &f);
	if (!rc) {
		/*
		 * Gone before its number is free: a create running beside
		 * us may get the number and must not get this inode.
		 */
		in = inode_find(fs, found_ino(fs, &f));
		gone = in && inode_gone(fs, in, &f.st);
		rc = dir ? remove_dir(fs, &f, path) :
			   remove_file(fs, in, &f, path);
		if (rc && gone)
			inode_ungone(fs, in);
		/* a failed rmdir may have put back copies it had removed */
		dir_changed(fs, inode_of(fs, parent));
	}
	if (!rc && in)
		inode_unname(fs, in, inode_of(fs, parent), name);
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, -rc);
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

/* Rename a non-directory on its own device, over whatever @dst names. */
static int rename_file(struct kvfs *fs, const struct found *s,
		       const struct found *t, bool have_dst,
		       const char *src, const char *dst, unsigned flags)
{
	unsigned dev = (unsigned)s->dev;
	int root = kv_rootfd(fs, dev);
	int rc;

	if (have_dst && S_ISDIR(t->st.st_mode))
		return -EISDIR;
	if (have_dst && !(flags & RENAME_NOREPLACE)) {
		rc = keep_open(fs, inode_find(fs, found_ino(fs, t)), t, dst);
		if (rc)
			return rc;
	}
	rc = renameat2(root, src, root, dst, flags) ? -errno : 0;
	if (rc == -ENOENT && !kv_make_parents(fs, dev, dst))
		rc = renameat2(root, src, root, dst, flags) ? -errno : 0;
	if (rc)
		return rc;
	/* the replaced file may live elsewhere: the name is ours now */
	sweep_stale(fs, dev, dst);
	return 0;
}

/* Rename every copy of a directory; undo the done ones on failure. */
static int rename_dir(struct kvfs *fs, const struct found *s,
		      const struct found *t, bool have_dst,
		      const char *src, const char *dst)
{
	devmask_t done = 0;
	int rc = 0;

	if (have_dst) {
		if (!S_ISDIR(t->st.st_mode))
			return -ENOTDIR;
		rc = dirs_empty(fs, t->dirs, dst);
		if (!rc)
			rc = remove_dirs(fs, t->dirs & ~s->dirs, dst, &t->st);
		if (rc)
			return rc;
	}
	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		int root = kv_rootfd(fs, d);

		if (!(s->dirs & DEVBIT(d)))
			continue;
		rc = renameat(root, src, root, dst) ? -errno : 0;
		if (rc == -ENOENT && !kv_make_parents(fs, d, dst))
			rc = renameat(root, src, root, dst) ? -errno : 0;
		if (!rc)
			done |= DEVBIT(d);
	}
	if (rc) {
		for (unsigned d = 0; d < fs->ndev; d++)
			if (done & DEVBIT(d))
				renameat(kv_rootfd(fs, d), dst,
					 kv_rootfd(fs, d), src);
	}
	return rc;
}

/* The devices that hold what @f names: its copies, or its one device. */
static devmask_t devs_of(const struct found *f)
{
	return S_ISDIR(f->st.st_mode) ? f->dirs : DEVBIT((unsigned)f->dev);
}

/*
 * Device @d's part of exchanging @src and @dst (or, with @undo, of taking
 * it back): where both names are, swap them; where one is, move it to the
 * other name.
 */
static int exchange_on(struct kvfs *fs, unsigned d, devmask_t sdevs,
		       devmask_t tdevs, const char *src, const char *dst,
		       bool undo)
{
	int root = kv_rootfd(fs, d);
	const char *from = src, *to = dst;
	int rc;

	if ((sdevs & tdevs) & DEVBIT(d))
		return renameat2(root, src, root, dst, RENAME_EXCHANGE) ?
			       -errno : 0;
	if (!(sdevs & DEVBIT(d)) != undo) {
		from = dst;
		to = src;
	}
	rc = renameat2(root, from, root, to, RENAME_NOREPLACE) ? -errno : 0;
	if (rc == -ENOENT && !undo && !kv_make_parents(fs, d, to))
		rc = renameat2(root, from, root, to, RENAME_NOREPLACE) ?
			     -errno : 0;
	return rc;
}

/*
 * Swap two names on every device either is on, taking back the devices
 * done if one fails. Two files on one device swap in one atomic step;
 * otherwise each device's part is atomic, and the namespace lock, held
 * exclusively, makes the whole atomic for everyone using the mount.
 */
static int rename_exchange(struct kvfs *fs, const struct found *s,
			   const struct found *t, const char *src,
			   const char *dst)
{
	devmask_t sdevs = devs_of(s), tdevs = devs_of(t), done = 0;
	int rc = 0;

	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		if (!((sdevs | tdevs) & DEVBIT(d)))
			continue;
		rc = exchange_on(fs, d, sdevs, tdevs, src, dst, false);
		if (!rc)
			done |= DEVBIT(d);
	}
	if (rc)
		for (unsigned d = 0; d < fs->ndev; d++)
			if (done & DEVBIT(d))
				exchange_on(fs, d, sdevs, tdevs, src, dst,
					    true);
	return rc;
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *p = inode_of(fs, parent), *np = inode_of(fs, newparent);
	char src[KV_PATH_MAX], dst[KV_PATH_MAX];
	struct inode *sin, *tin = NULL;
	struct found s, t;
	bool have_dst;
	int rc;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return (void)fuse_reply_err(req, EINVAL);
	rc = kv_check_name(name);
	if (!rc)
		rc = kv_check_name(newname);
	if (rc)
		return (void)fuse_reply_err(req, -rc);

	pthread_rwlock_wrlock(&fs->ns_lock);
	rc = inode_child_path(fs, p, name, src, sizeof(src));
	if (rc >= 0)
		rc = inode_child_path(fs, np, newname, dst, sizeof(dst));
	if (rc >= 0)
		rc = kv_resolve(fs, src, &s);
	if (rc < 0)
		goto out;
	rc = kv_resolve(fs, dst, &t);
	if (rc && rc != -ENOENT)
		goto out;
	have_dst = !rc;
	rc = 0;
	if (have_dst && s.dev == t.dev && s.st.st_ino == t.st.st_ino)
		goto out;	/* two names of one file: nothing to do */
	if (flags & RENAME_EXCHANGE)
		rc = have_dst ? rename_exchange(fs, &s, &t, src, dst) : -ENOENT;
	else if (have_dst && (flags & RENAME_NOREPLACE))
		rc = -EEXIST;
	else if (S_ISDIR(s.st.st_mode))
		rc = rename_dir(fs, &s, &t, have_dst, src, dst);
	else
		rc = rename_file(fs, &s, &t, have_dst, src, dst, flags);
	/* a failed one may have moved copies and moved them back */
	dir_changed(fs, p);
	if (np != p)
		dir_changed(fs, np);
	if (rc)
		goto out;

	sin = inode_find(fs, found_ino(fs, &s));
	if (have_dst)
		tin = inode_find(fs, found_ino(fs, &t));
	if (tin && (flags & RENAME_EXCHANGE)) {
		rc = inode_rename(fs, tin, np, newname, p, name);
	} else if (tin) {
		/* (nothing is created while rename holds ns_lock) */
		inode_gone(fs, tin, &t.st);
		inode_unname(fs, tin, np, newname);
	}
	if (sin && !rc)
		rc = inode_rename(fs, sin, p, name, np, newname);
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
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
	n = rc < 0 ? rc : readlinkat(kv_rootfd(fs, (unsigned)in->dev), path,
				     target, sizeof(target) - 1);
	if (n < 0 && rc >= 0)
		n = -errno;
	pthread_rwlock_unlock(&fs->ns_lock);
	if (n < 0)
		return (void)fuse_reply_err(req, (int)-n);
	target[n] = '\0';
	fuse_reply_readlink(req, target);
}
