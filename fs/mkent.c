/*
 * mkent.c - making names: create (a file on the policy's device, or a less
 * busy one, or, when that one takes no new files, one that does), mkdir
 * (one copy, on the lowest-numbered device that takes new files), mknod,
 * symlink and link (on one device: the policy's or one that takes new
 * files, or the linked file's).
 */
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "dfile.h"
#include "dir.h"
#include "fcache.h"
#include "file.h"
#include "inode.h"
#include "limit.h"
#include "ns.h"
#include "nscall.h"
#include "ops.h"
#include "stats.h"
#include "wmark.h"

static int caller_umask(struct kvfs *fs, fuse_req_t req)
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

static int set_owner(struct kvfs *fs, fuse_req_t req, unsigned dev,
		     const char *path, int fd, bool is_dir)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int root = kv_rootfd(fs, dev);
	uid_t uid = ctx->uid;
	gid_t gid = ctx->gid;
	struct stat parent, st;
	const char *name;
	int dir, obj, rc;

	if (uid == fs->uid && gid == fs->gid)
		return 0;	/* the backing filesystem already did it */
	dir = beneath_parent(root, path, &name);
	if (dir < 0)
		return kv_meta_err(fs, dev, "chown", path, -1, dir);
	rc = fstat(dir, &parent) ? -errno : 0;
	if (!rc && (parent.st_mode & S_ISGID))
		gid = parent.st_gid;	/* BSD group semantics of setgid dirs */
	obj = fd >= 0 || rc ? fd : beneath_open(dir, name, O_PATH, 0);
	if (!rc && obj < 0)
		rc = obj;
	if (!rc)
		rc = (fstat(obj, &st) ? -errno : 0) ?:
		     beneath_fchown(obj, uid, gid);
	/* chown drops set-id bits of files; the creator asked for them */
	if (!rc && !is_dir && !S_ISLNK(st.st_mode) &&
	    (st.st_mode & (S_ISUID | S_ISGID)))
		rc = fd >= 0 ? (fchmod(fd, st.st_mode & 07777) ? -errno : 0) :
		     beneath_fchmod(obj, st.st_mode & 07777);
	if (obj >= 0 && obj != fd)
		close(obj);
	beneath_close(root, dir);
	return kv_meta_err(fs, dev, "chown", path, -1, rc);
}

/*
 * 0, or -EIO if device @dev is failed: a new name there is not made (the
 * call would wait on it), and placing around it is the policy's.
 */
static int dev_live(struct kvfs *fs, unsigned dev)
{
	return health_failed(fs->health, dev) ? -EIO : 0;
}

/* Whether @path names anything on any device: 0 if free, else -errno. */
static int name_free(struct kvfs *fs, const char *path)
{
	struct found f;
	int rc = ns_resolve(fs, path, &f);

	if (!rc)
		return -EEXIST;
	return rc == -ENOENT ? 0 : rc;
}

static void reply_entry_for(fuse_req_t req, struct kvfs *fs,
			    fuse_ino_t parent, const char *name,
			    const char *path)
{
	struct fuse_entry_param e;
	int rc = ns_entry(fs, inode_of(fs, parent), name, path, &e, NULL);

	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	fuse_reply_entry(req, &e);
}

/*
 * Make directory @path on device @d, and its missing parents there, each
 * within the device timeout.
 */
static int mkdir_on(struct kvfs *fs, fuse_req_t req, unsigned d,
		    const char *path, mode_t mode)
{
	struct nsargs a = {
		.path = path, .mode = mode,
		/* with ACLs the kernel left the umask to us (caller_umask) */
		.set_umask = fs->posix_acl, .umask = fuse_req_ctx(req)->umask,
	};
	struct nsres r;

	nscall_one(fs, d, nscall_mkdir, "mkdir", &a, &r);
	if (r.rc == -ENOENT) {
		int rc = ns_make_parents(fs, d, path);

		if (rc)
			return rc;	/* ns_make_parents() told it */
		nscall_one(fs, d, nscall_mkdir, "mkdir", &a, &r);
	}
	return kv_meta_err(fs, d, "mkdir", path, -1, r.rc);
}

/*
 * The device a new directory's one copy goes to: the lowest-numbered one
 * that takes new files, else the lowest-numbered one not failed (a
 * directory takes next to no room), so that a directory's home copy, and
 * with it its inode number, is almost always on device 0. Returns it, or
 * -EIO if every device is failed.
 */
static int mkdir_device(struct kvfs *fs)
{
	for (unsigned d = 0; d < fs->ndev; d++)
		if (health_takes_new(fs->health, d))
			return (int)d;
	for (unsigned d = 0; d < fs->ndev; d++)
		if (!health_failed(fs->health, d))
			return (int)d;
	return -EIO;
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	int rc, d;

	rc = kv_as_caller(req) ?: ns_child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = name_free(fs, path);
	if (!rc)
		rc = caller_umask(fs, req);
	d = rc ? rc : mkdir_device(fs);
	if (!rc && d < 0)
		rc = d;
	if (!rc) {
		rc = mkdir_on(fs, req, (unsigned)d, path, mode);
		if (!rc) {
			dir_changed(fs, inode_of(fs, parent));
			rc = set_owner(fs, req, (unsigned)d, path, -1, true);
			if (rc)
				beneath_unlink(kv_rootfd(fs, (unsigned)d),
					       path, AT_REMOVEDIR);
		}
	}
	if (rc) {
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

	for (;;) {
		if (m->target)
			rc = beneath_symlink(m->target, root, path);
		else
			rc = beneath_mknod(root, path, m->mode, m->rdev);
		if (rc != -ENOENT || tries++)
			break;
		rc = ns_make_parents(fs, dev, path);
		if (rc)
			return rc;	/* ns_make_parents() told it */
	}
	return kv_meta_err(fs, dev, m->target ? "symlink" : "mknod", path, -1,
			   rc);
}

/*
 * The device for a new name at @path the policy puts on @pick: @pick if
 * it takes new files (limit_takes_new()), else place_spill()'s choice
 * among those that do, the roomiest. Free space is sampled at most every
 * SPACE_TTL_MS per device.
 */
static unsigned room_device(struct kvfs *fs, const char *path, unsigned pick)
{
	uint64_t avail[DEV_MAX], minfree[DEV_MAX];

	if (limit_takes_new(fs, pick))
		return pick;
	for (unsigned d = 0; d < fs->ndev; d++) {
		bool takes = limit_takes_new(fs, d);

		avail[d] = takes ?
			   space_avail(&fs->avail[d], kv_rootfd(fs, d)) : 0;
		minfree[d] = takes ? fs->minfree[d] : 1;
	}
	return place_spill(&fs->policy, path, pick, avail, minfree);
}

/* Count a new name made on @dev though the policy chose @pick. */
static void count_spill(struct kvfs *fs, unsigned dev, unsigned pick)
{
	if (dev == pick)
		return;
	atomic_fetch_add_explicit(&fs->spilled, 1, memory_order_relaxed);
	stats_add(fs->stats, pick, STATS_SPILLED_OUT, 1);
	stats_add(fs->stats, dev, STATS_SPILLED_IN, 1);
}

static void make_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
		       const struct maker *m)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	unsigned dev, pick;
	int rc;

	rc = kv_as_caller(req) ?: ns_child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	pick = place_pick(&fs->policy, path);
	dev = room_device(fs, path, pick);
	rc = name_free(fs, path) ?: dev_live(fs, dev);
	if (!rc)
		rc = caller_umask(fs, req);
	if (!rc)
		rc = make_node(fs, dev, path, m);
	if (!rc) {
		rc = set_owner(fs, req, dev, path, -1, false);
		if (rc) {
			beneath_unlink(kv_rootfd(fs, dev), path, 0);
		} else {
			count_spill(fs, dev, pick);
			ns_made(fs, path, dev);
		}
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

	rc = kv_as_caller(req) ?: ns_child_begin(fs, newparent, newname, dst);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = inode_path(fs, in, src, sizeof(src));
	if (rc >= 0 && S_ISDIR(in->type))
		rc = -EPERM;
	/* a link names data where it is, like rename: never EXDEV */
	if (rc >= 0)
		rc = name_free(fs, dst) ?: dev_live(fs, (unsigned)in->dev);
	if (!rc) {
		root = kv_rootfd(fs, (unsigned)in->dev);
		rc = beneath_link(root, src, dst);
		if (rc == -ENOENT &&
		    !ns_make_parents(fs, (unsigned)in->dev, dst))
			rc = beneath_link(root, src, dst);
		kv_meta_err(fs, (unsigned)in->dev, "link", dst, -1, rc);
		if (!rc) {
			ns_made(fs, dst, (unsigned)in->dev);
			dir_changed(fs, inode_of(fs, newparent));
		}
	}
	if (rc) {
		pthread_rwlock_unlock(&fs->ns_lock);
		return (void)fuse_reply_err(req, -rc);
	}
	reply_entry_for(req, fs, newparent, newname, dst);
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
	unsigned dev, pick;
	int rc, marked;

	rc = kv_as_caller(req) ?: kv_check_name(name);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_child_path(fs, inode_of(fs, parent), name, path,
			      sizeof(path));
	if (rc < 0)
		goto out;
	pick = create_device(fs, path);
	dev = room_device(fs, path, pick);
	rc = dev_live(fs, dev) ?: caller_umask(fs, req);
	if (rc)
		goto out;
	rc = dfile_open(fs->io, kv_rootfd(fs, dev), path, flags, mode,
			kv_dev(fs, dev)->dio_align, &df);
	if (rc == -ENOENT && !(rc = ns_make_parents(fs, dev, path)))
		rc = dfile_open(fs->io, kv_rootfd(fs, dev), path, flags, mode,
				kv_dev(fs, dev)->dio_align, &df);
	kv_dev_err(fs, dev, DEVERR_OPEN, "create", path, rc);
	if (rc)
		goto out;
	dfile_set_errors(df, fs->errs, dev);
	dir_changed(fs, inode_of(fs, parent));
	if (kv_dev(fs, dev)->page_cache)
		dfile_set_page_cache(df);
	/* marked before the reply: no byte can come before the mark */
	marked = wmark_create(fs, dev, dfile_fd(df));
	rc = marked < 0 ? marked : set_owner(fs, req, dev, path, dfile_fd(df),
					     false);
	if (!rc)
		rc = fstat(dfile_fd(df), &f.st) ? -errno : 0;
	if (rc) {
		beneath_unlink(kv_rootfd(fs, dev), path, 0);
		goto out;
	}
	count_spill(fs, dev, pick);
	ns_made(fs, path, dev);
	atomic_fetch_add_explicit(&fs->tally_created, 1, memory_order_relaxed);
	f.dev = (int)dev;
	f.dirs = 0;
	in = inode_link(fs, inode_make_ino(fs, dev, f.st.st_ino), S_IFREG,
			(int)dev, inode_of(fs, parent), name);
	if (!in) {
		rc = -ENOMEM;
		goto out;
	}
	df = fcache_install(fs, in, df);
	wmark_created(in, marked > 0);
	f.st.st_size = (off_t)dfile_size(df);
	ns_fill_entry(fs, in, &f.st, &e);
	fcache_put(fs, in);
	pthread_rwlock_unlock(&fs->ns_lock);
	file_open_flags(fs, in, fi);
	/*
	 * A new file's buffered writer (a KV chunk's put: "wb") writes past
	 * the page cache: the kernel hands the daemon the writer's own pages
	 * instead of copying them into cache pages it must first allocate.
	 * Only for write-only opens, so no read on this descriptor misses
	 * the cache, and no shared mmap can be refused (it needs read
	 * access); a new file has nothing cached to go stale. O_DIRECT
	 * writers keep the kernel's parallel split of large writes.
	 */
	fi->direct_io = (fi->flags & O_ACCMODE) == O_WRONLY &&
			!(fi->flags & O_DIRECT);
	fuse_reply_create(req, &e, fi);
	return;
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	dfile_close(df);
	fuse_reply_err(req, -rc);
}
