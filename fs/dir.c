/*
 * dir.c - merged directory listings.
 *
 * A listing is a snapshot of every device's copy of the directory: each
 * name once, a directory merged, for a non-directory the copy lookup would
 * find (the policy's device first). Snapshots belong to the directory, not
 * to an open handle: the first is retaken at offset 0, and each is dropped
 * once a reader got past it. Offsets are name hashes (dirsnap.h); a
 * snapshot holds at most p.listing_window of them (some 80 bytes each),
 * the smallest after the offset it was taken for: a huge directory is
 * listed in windows, at the price of one scan of it per window, and the
 * daemon's memory does not grow with it.
 *
 * A window outlives the listing that took it, so it also carries when it
 * was taken: a listing that began after a change through the mount, or
 * more than attr_timeout after the window (changes made by hand), never
 * uses it (see dirsnap_listing_fresh()).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beneath.h"
#include "dir.h"
#include "dirsnap.h"
#include "inode.h"
#include "ns.h"
#include "nscall.h"
#include "ops.h"

struct rank_ctx {
	struct kvfs *fs;
	const char *dirpath;
};

/*
 * The rank of @dev for the entry @name of the directory being read: the
 * order lookup visits devices (the policy's first). Names too long for a
 * path rank alike, and so keep the copy seen first.
 */
static unsigned rank(void *ctx, const char *name, unsigned dev)
{
	const struct rank_ctx *c = ctx;
	char path[KV_PATH_MAX];

	if (snprintf(path, sizeof(path), "%s%s%s", c->dirpath,
		     *c->dirpath ? "/" : "", name) >= (int)sizeof(path))
		return 0;
	return dev == place_pick(&c->fs->policy, path) ? 0 : dev + 1;
}

/* Within one device's copy, a name is there once: no rank is needed. */
static unsigned rank_one(void *ctx, const char *name, unsigned dev)
{
	(void)ctx;
	(void)name;
	(void)dev;
	return 0;
}

static void snap_free(void *h)
{
	dirsnap_put(h);
}

/*
 * nscall.h's call that reads one device's copy of directory a->path: its
 * entries in the window a->floor, a->window, as a finished dirsnap in
 * r->buf (dev 0: the caller knows the device).
 */
static int list_dev(int root, const struct nsargs *a, struct nsres *r)
{
	int fd = beneath_open(root, a->path, O_RDONLY | O_DIRECTORY, 0);
	struct dirsnap *h = NULL;
	struct dirent *de;
	DIR *dir;
	int rc;

	if (fd < 0)
		return fd;
	dir = fdopendir(fd);
	if (!dir) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = dirsnap_new(a->floor, a->window, 0, 0, &h);
	while (!rc && (errno = 0, de = readdir(dir))) {
		uint8_t type = de->d_type;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (type == DT_UNKNOWN) {
			if (fstatat(dirfd(dir), de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW))
				continue;
			type = (uint8_t)IFTODT(st.st_mode);
		}
		rc = dirsnap_add(h, de->d_name, type, 0, de->d_ino, rank_one,
				 NULL);
	}
	if (!rc && errno)
		rc = -errno;
	closedir(dir);
	rc = rc ?: dirsnap_finish(h);
	if (rc) {
		dirsnap_put(h);
		return rc;
	}
	r->buf = h;
	r->buf_free = snap_free;
	return 0;
}

/* Merge device @dev's window @part of directory @path into @h. */
static int snap_merge(struct kvfs *fs, struct dirsnap *h, unsigned dev,
		      const struct dirsnap *part, const char *path)
{
	struct rank_ctx ctx = { fs, path };
	int rc = 0;

	for (size_t i = 0; !rc && i < dirsnap_count(part); i++) {
		const struct dirsnap_ent *e = dirsnap_ent(part, i);

		rc = dirsnap_add(h, dirsnap_name(part, e), e->type, dev,
				 e->type == DT_DIR ? e->dir_ino : e->ino, rank,
				 &ctx);
	}
	return rc;
}

/*
 * Take a fresh window of directory @path for readers after cookie @floor
 * (the dots are not in it); @changes: the directory's count before. The
 * devices are read all at once, each within the device timeout; one that
 * is failed or does not answer is left out, its entries with it.
 */
static int snap_load(struct kvfs *fs, const char *path, uint64_t floor,
		     uint64_t changes, struct dirsnap **out)
{
	struct nsargs a = {
		.path = path, .floor = floor, .window = fs->p.listing_window,
	};
	struct nsres res[DEV_MAX];
	struct dirsnap *h = NULL;
	devmask_t left;
	int rc = dirsnap_new(floor, fs->p.listing_window, changes, kv_now_ms(),
			     &h);

	if (rc)
		return rc;
	left = nscall(fs, nscall_all(fs), list_dev, "listing", &a, res);
	for (unsigned d = 0; d < fs->ndev; d++) {
		int r = res[d].rc;

		if (left & DEVBIT(d))
			continue;
		/* no copy here, or a planted link refused (logged) */
		if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP ||
		    r == -EXDEV)
			r = 0;
		kv_dev_err(fs, d, DEVERR_META, "listing", path, r);
		/* a failing device's entries are left out, as a failed one's */
		if (deverr_is_device(r))
			r = 0;
		if (!r && !rc && res[d].buf)
			r = snap_merge(fs, h, d, res[d].buf, path);
		rc = rc ?: r;
		nscall_res_free(&res[d]);
	}
	if (!rc)
		rc = dirsnap_finish(h);
	if (rc) {
		dirsnap_put(h);
		return rc;
	}
	*out = h;
	return 0;
}

void dir_listing_free(struct inode *in)
{
	dirsnap_listing_free(in->listing);
	in->listing = NULL;
}

void dir_changed(struct kvfs *fs, struct inode *dir)
{
	pthread_mutex_lock(&fs->lock);
	if (dir->listing)
		dirsnap_listing_changed(dir->listing);
	pthread_mutex_unlock(&fs->lock);
}

/*
 * @dir's listing state, made on first use; the caller holds fs->lock.
 * NULL on -ENOMEM.
 */
static struct dirsnap_listing *listing_of_locked(struct inode *dir)
{
	if (!dir->listing)
		dir->listing = dirsnap_listing_new();
	return dir->listing;
}

/*
 * The window a read after cookie @off uses: a new one at offset 0 (opendir
 * and rewinddir begin a listing, which must see every change), else a
 * fresh one of the directory's that goes on from @off, or a new one taken
 * for @off. Returned with a reference.
 */
static int snap_get(struct kvfs *fs, struct inode *dir, uint64_t off,
		    struct dirsnap **out)
{
	double max_age_ms = fs->p.attr_timeout * 1000;
	char path[KV_PATH_MAX];
	struct dirsnap *h = NULL;
	struct dirsnap_listing *l;
	uint64_t changes;
	int rc;

	pthread_mutex_lock(&fs->lock);
	l = listing_of_locked(dir);
	if (!l) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	if (!off)
		dirsnap_listing_begin(l, kv_now_ms());
	else
		h = dirsnap_listing_find(l, off, max_age_ms);
	changes = dirsnap_listing_changes(l);
	pthread_mutex_unlock(&fs->lock);
	if (h) {
		*out = h;
		return 0;
	}
	rc = inode_path(fs, dir, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = snap_load(fs, path, off < DIRSNAP_COOKIE_FIRST ? 0 : off, changes,
		       &h);
	if (rc)
		return rc;
	/*
	 * The load's reference goes to the directory, if a listing that
	 * began meanwhile may still use the window; else to the caller.
	 */
	pthread_mutex_lock(&fs->lock);
	dirsnap_listing_keep(l, h, max_age_ms);
	pthread_mutex_unlock(&fs->lock);
	*out = h;
	return 0;
}

/*
 * A reader is done with @h; @passed: it got past its end, and the window
 * goes. Past the last one, an empty tail takes its place: the kernel
 * reads once more at the end offset to learn that it is the end, and
 * that read then needs no scan of the directory.
 */
static void snap_done(struct kvfs *fs, struct inode *dir, struct dirsnap *h,
		      bool passed)
{
	struct dirsnap *tail = passed ? dirsnap_tail_new(h) : NULL;

	pthread_mutex_lock(&fs->lock);
	dirsnap_listing_done(dir->listing, h, passed, &tail);
	pthread_mutex_unlock(&fs->lock);
	dirsnap_put(tail);
}

static uint64_t dent_ino(struct kvfs *fs, const struct dirsnap_ent *e)
{
	if (e->type == DT_DIR)
		return inode_make_ino(fs, (unsigned)e->dir_dev, e->dir_ino);
	return inode_make_ino(fs, (unsigned)e->dev, e->ino);
}

/*
 * Whether a readdirplus reply should look its entries up: not while the
 * inode table is at its limit. Entries then go without attributes (nodeid
 * 0), which the kernel takes as plain ones, so a walk over a huge tree
 * cannot outrun the evictor (see evict.c); stat() still looks each name up.
 */
static bool table_has_room(struct kvfs *fs)
{
	bool room;

	if (!fs->p.max_inodes)
		return true;
	pthread_mutex_lock(&fs->lock);
	room = fs->count < fs->p.max_inodes;
	pthread_mutex_unlock(&fs->lock);
	return room;
}

/*
 * Put one entry into @buf at @pos. Returns its length (more than the room
 * left when it did not fit), or 0 to skip it: gone since the snapshot.
 */
static size_t add_entry(fuse_req_t req, struct kvfs *fs, struct inode *dir,
			bool plus, bool lookup, char *buf, size_t room,
			const char *name, uint64_t ino, uint8_t type,
			off_t next)
{
	struct fuse_entry_param ep;
	struct inode *child = NULL;
	char path[KV_PATH_MAX];
	bool dot = next < DIRSNAP_COOKIE_FIRST;
	size_t len;

	memset(&ep, 0, sizeof(ep));
	ep.attr.st_ino = ino;
	ep.attr.st_mode = (mode_t)DTTOIF(type);
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &ep.attr, next);
	/* the dots get no lookup reference: ino 0 */
	if (!dot && lookup &&
	    (inode_child_path(fs, dir, name, path, sizeof(path)) < 0 ||
	     ns_entry(fs, dir, name, path, &ep, &child)))
		return 0;
	len = fuse_add_direntry_plus(req, buf, room, name, &ep, next);
	if (len > room && child)
		inode_forget(fs, child, 1);
	return len;
}

/*
 * Listings need no open handle (the kernel is told opendir is not
 * implemented), so the kernel keeps them in its own cache and drops that
 * whenever a change goes through the mount or the directory's mtime moves.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, bool plus)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *dir = inode_of(fs, ino);
	uint64_t parent_ino, at = (uint64_t)off;
	size_t pos = 0, len;
	bool lookup;
	char *buf;
	int rc = 0;

	if (off < 0)
		return (void)fuse_reply_err(req, EINVAL);
	buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_mutex_lock(&fs->lock);
	parent_ino = dir->names ? dir->names->parent->ino : dir->ino;
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_rdlock(&fs->ns_lock);
	lookup = plus && table_has_room(fs);
	if (off < 1) {
		len = add_entry(req, fs, dir, plus, lookup, buf, size, ".",
				dir->ino, DT_DIR, 1);
		if (len > size)
			goto out;
		pos += len;
	}
	if (off < 2) {
		len = add_entry(req, fs, dir, plus, lookup, buf + pos,
				size - pos, "..", parent_ino, DT_DIR, 2);
		if (len > size - pos)
			goto out;
		pos += len;
	}
	/* window after window until the buffer is full or the listing ends */
	for (;;) {
		struct dirsnap *h;
		bool full = false, last;
		size_t i;

		rc = snap_get(fs, dir, at, &h);
		if (rc)
			break;
		for (i = dirsnap_seek(h, at); i < dirsnap_count(h); i++) {
			const struct dirsnap_ent *e = dirsnap_ent(h, i);

			len = add_entry(req, fs, dir, plus, lookup, buf + pos,
					size - pos, dirsnap_name(h, e),
					dent_ino(fs, e), e->type,
					(off_t)e->cookie);
			if (len > size - pos) {
				full = true;
				break;
			}
			pos += len;
		}
		last = dirsnap_last(h);
		if (dirsnap_count(h))
			at = dirsnap_ent(h, dirsnap_count(h) - 1)->cookie;
		snap_done(fs, dir, h, !full);
		if (full || last)
			break;
	}
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* where the kernel can do without opendir, it also caches listings */
	if (kv_fs(req)->no_opendir)
		return (void)fuse_reply_err(req, ENOSYS);
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* fsync (a->flags: fdatasync) of a directory's copy, as an nsfn. */
static int fsync_dev(int root, const struct nsargs *a, struct nsres *r)
{
	int fd = beneath_open(root, a->path, O_RDONLY | O_DIRECTORY, 0), rc;

	(void)r;
	if (fd < 0)
		return 0;	/* no copy on this device */
	rc = (a->flags ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
	close(fd);
	return rc;
}

/*
 * Every copy at once, each within the device timeout; a device failed or
 * not answering is left out (nothing made through the mount meanwhile is
 * on it).
 */
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	struct nsres res[DEV_MAX];
	devmask_t out;
	int rc;

	(void)fi;
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_path(fs, inode_of(fs, ino), path, sizeof(path));
	if (rc >= 0) {
		out = nscall(fs, nscall_all(fs), fsync_dev, "fsync",
			     &(struct nsargs){ .path = path,
					       .flags = datasync }, res);
		rc = 0;
		for (unsigned d = 0; !rc && d < fs->ndev; d++)
			if (!(out & DEVBIT(d)))
				rc = res[d].rc;
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc == -ENOENT) {
		/* removed while open: nothing of it is left to write */
		pthread_mutex_lock(&fs->lock);
		if (inode_of(fs, ino)->gone)
			rc = 0;
		pthread_mutex_unlock(&fs->lock);
	}
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}
