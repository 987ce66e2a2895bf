/*
 * dir.c - merged directory listings.
 *
 * A listing is a snapshot of every device's copy of the directory: each
 * name once, a directory merged, for a non-directory the copy lookup would
 * find (the policy's device first). The snapshot belongs to the directory,
 * not to an open handle: it is retaken at offset 0 and dropped once a
 * reader got to its end. Offsets are name hashes (see snap_sort()).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "fs_i.h"

struct dent {
	uint64_t cookie;	/* its d_off: a hash of the name, see below */
	uint32_t name;		/* offset into dsnap.names */
	uint8_t type;		/* DT_* of the winning copy */
	int8_t dev;		/* device of the winning copy */
	int8_t dir_dev;		/* lowest device holding it as a directory */
	ino_t ino, dir_ino;	/* backing inode numbers of those copies */
};

/* A snapshot of one merged directory, shared by every reader of it. */
struct dsnap {
	unsigned refs;		/* protected by fs->lock */
	struct dent *ents;	/* sorted by cookie once built */
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint32_t *index;	/* while building: open addressing, 0 = empty */
	size_t index_cap;
};

static const char *dent_name(const struct dsnap *h, const struct dent *e)
{
	return h->names + e->name;
}

static void dsnap_free(struct dsnap *h)
{
	free(h->ents);
	free(h->names);
	free(h->index);
	free(h);
}

static uint64_t name_hash(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

static int index_grow(struct dsnap *h)
{
	size_t cap = h->index_cap ? h->index_cap * 2 : 256;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++) {
		size_t slot = name_hash(dent_name(h, &h->ents[i])) & (cap - 1);

		while (idx[slot])
			slot = (slot + 1) & (cap - 1);
		idx[slot] = (uint32_t)i + 1;
	}
	free(h->index);
	h->index = idx;
	h->index_cap = cap;
	return 0;
}

/* The entry named @name, or the empty slot where it belongs. */
static uint32_t *index_slot(struct dsnap *h, const char *name)
{
	size_t slot = name_hash(name) & (h->index_cap - 1);

	while (h->index[slot] &&
	       strcmp(dent_name(h, &h->ents[h->index[slot] - 1]), name))
		slot = (slot + 1) & (h->index_cap - 1);
	return &h->index[slot];
}

static int snap_append(struct dsnap *h, const char *name, uint8_t type,
		       unsigned dev, ino_t ino, uint32_t *slot)
{
	size_t len = strlen(name) + 1;
	struct dent *e;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct dent *ents = realloc(h->ents, cap * sizeof(*ents));

		if (!ents)
			return -ENOMEM;
		h->ents = ents;
		h->cap = cap;
	}
	if (h->names_len + len > h->names_cap) {
		size_t cap = h->names_cap ? h->names_cap * 2 : 4096;
		char *names;

		while (cap < h->names_len + len)
			cap *= 2;
		names = realloc(h->names, cap);
		if (!names)
			return -ENOMEM;
		h->names = names;
		h->names_cap = cap;
	}
	e = &h->ents[h->n];
	e->name = (uint32_t)h->names_len;
	memcpy(h->names + h->names_len, name, len);
	h->names_len += len;
	e->type = type;
	e->dev = (int8_t)dev;
	e->ino = ino;
	e->dir_dev = type == DT_DIR ? (int8_t)dev : -1;
	e->dir_ino = ino;
	if (slot)
		*slot = (uint32_t)++h->n;
	else
		h->n++;
	return 0;
}

/* Rank of @dev for the entry at @path: the order lookup visits devices. */
static unsigned rank(struct kvfs *fs, const char *path, unsigned dev)
{
	return dev == place_pick(&fs->policy, path) ? 0 : dev + 1;
}

/* Merge one backing entry seen on @dev into the listing. */
static int snap_merge(struct kvfs *fs, struct dsnap *h, const char *dirpath,
		      const char *name, uint8_t type, unsigned dev, ino_t ino)
{
	char path[KV_PATH_MAX];
	uint32_t *slot;
	struct dent *e;

	if ((h->n + 1) * 2 > h->index_cap && index_grow(h))
		return -ENOMEM;
	slot = index_slot(h, name);
	if (!*slot)
		return snap_append(h, name, type, dev, ino, slot);
	e = &h->ents[*slot - 1];
	if (type == DT_DIR && e->dir_dev < 0) {
		e->dir_dev = (int8_t)dev;
		e->dir_ino = ino;
	}
	if (type == DT_DIR && e->type == DT_DIR)
		return 0;
	if (snprintf(path, sizeof(path), "%s%s%s", dirpath,
		     *dirpath ? "/" : "", name) >= (int)sizeof(path))
		return 0;
	if (rank(fs, path, dev) < rank(fs, path, (unsigned)e->dev)) {
		e->dev = (int8_t)dev;
		e->type = type;
		e->ino = ino;
	}
	return 0;
}

static int snap_read_dev(struct kvfs *fs, struct dsnap *h, unsigned dev,
			 const char *path)
{
	struct dirent *de;
	DIR *dir;
	int rc = kv_opendir(fs, dev, path, &dir);

	if (rc)
		return rc == -ENOENT || rc == -ENOTDIR ? 0 : rc;
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
		rc = snap_merge(fs, h, path, de->d_name, type, dev,
				de->d_ino);
	}
	if (!rc && errno)
		rc = -errno;
	closedir(dir);
	return rc;
}

/*
 * Cookies: an entry's d_off is a hash of its name, kept above the dots'
 * offsets 1 and 2 and below 2^63, and the snapshot is sorted by it. A
 * reader resumes after the entry with the cookie it was given, so a
 * snapshot can be retaken between two of its requests without skipping
 * or repeating a name that stayed (ext4's htree offsets work the same way).
 * Equal hashes are made distinct in sorted order.
 */
#define COOKIE_FIRST 3

static int cookie_cmp(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

static void snap_sort(struct dsnap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->ents[i].cookie = (name_hash(dent_name(h, &h->ents[i])) >> 2) +
				    COOKIE_FIRST;
	if (h->n > 1)
		qsort(h->ents, h->n, sizeof(*h->ents), cookie_cmp);
	for (size_t i = 1; i < h->n; i++)
		if (h->ents[i].cookie <= h->ents[i - 1].cookie)
			h->ents[i].cookie = h->ents[i - 1].cookie + 1;
}

/* Take a fresh snapshot of directory @path (the dots are not in it). */
static int snap_load(struct kvfs *fs, const char *path, struct dsnap **out)
{
	struct dsnap *h = calloc(1, sizeof(*h));
	int rc = 0;

	if (!h)
		return -ENOMEM;
	for (unsigned d = 0; !rc && d < fs->ndev; d++)
		rc = snap_read_dev(fs, h, d, path);
	free(h->index);
	h->index = NULL;
	if (rc) {
		dsnap_free(h);
		return rc;
	}
	snap_sort(h);
	h->refs = 1;
	*out = h;
	return 0;
}

static void snap_put_locked(struct dsnap *h)
{
	if (h && !--h->refs)
		dsnap_free(h);
}

void dir_snap_drop(struct inode *in)
{
	snap_put_locked(in->snap);
	in->snap = NULL;
}

/*
 * The snapshot a read at @off uses: a new one at offset 0 (opendir and
 * rewinddir must see every change), else the directory's current one, or
 * a new one if none is kept. Returned with a reference.
 */
static int snap_get(struct kvfs *fs, struct inode *dir, off_t off,
		    struct dsnap **out)
{
	char path[KV_PATH_MAX];
	struct dsnap *h;
	int rc;

	if (off) {
		pthread_mutex_lock(&fs->lock);
		h = dir->snap;
		if (h)
			h->refs++;
		pthread_mutex_unlock(&fs->lock);
		if (h) {
			*out = h;
			return 0;
		}
	}
	rc = inode_path(fs, dir, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = snap_load(fs, path, &h);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->lock);
	snap_put_locked(dir->snap);
	dir->snap = h;
	h->refs++;
	pthread_mutex_unlock(&fs->lock);
	*out = h;
	return 0;
}

/* A reader got to the end: the directory need not keep @h any longer. */
static void snap_done(struct kvfs *fs, struct inode *dir, struct dsnap *h,
		      bool at_end)
{
	pthread_mutex_lock(&fs->lock);
	if (at_end && dir->snap == h)
		dir_snap_drop(dir);
	snap_put_locked(h);
	pthread_mutex_unlock(&fs->lock);
}

/* Index of the first entry after cookie @off. */
static size_t snap_seek(const struct dsnap *h, off_t off)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->ents[mid].cookie <= (uint64_t)off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t dent_ino(struct kvfs *fs, const struct dent *e)
{
	if (e->type == DT_DIR)
		return kv_make_ino(fs, (unsigned)e->dir_dev, e->dir_ino);
	return kv_make_ino(fs, (unsigned)e->dev, e->ino);
}

/*
 * Whether a readdirplus reply should look its entries up: not while the
 * inode table is at its limit. Entries then go without attributes (nodeid 0), which the
 * kernel takes as plain ones, so a walk over a huge tree cannot outrun the
 * evictor (see evict.c); stat() still looks each name up.
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
			const char *name, uint64_t ino, uint8_t type, off_t next)
{
	struct fuse_entry_param ep;
	struct inode *child = NULL;
	char path[KV_PATH_MAX];
	bool dot = next < COOKIE_FIRST;
	size_t len;

	memset(&ep, 0, sizeof(ep));
	ep.attr.st_ino = ino;
	ep.attr.st_mode = (mode_t)DTTOIF(type);
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &ep.attr, next);
	/* the dots get no lookup reference: ino 0 */
	if (!dot && lookup &&
	    (inode_child_path(fs, dir, name, path, sizeof(path)) < 0 ||
	     kv_entry(fs, dir, name, path, &ep, &child)))
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
	uint64_t parent_ino;
	struct dsnap *h;
	size_t pos = 0, len, i;
	bool at_end = false, lookup;
	char *buf;
	int rc;

	if (off < 0)
		return (void)fuse_reply_err(req, EINVAL);
	buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = snap_get(fs, dir, off, &h);
	if (rc) {
		pthread_rwlock_unlock(&fs->ns_lock);
		free(buf);
		return (void)fuse_reply_err(req, -rc);
	}
	pthread_mutex_lock(&fs->lock);
	parent_ino = dir->names ? dir->names->parent->ino : dir->ino;
	pthread_mutex_unlock(&fs->lock);
	lookup = plus && table_has_room(fs);
	if (off < 1) {
		len = add_entry(req, fs, dir, plus, lookup, buf, size, ".", dir->ino,
				DT_DIR, 1);
		if (len > size)
			goto out;
		pos += len;
	}
	if (off < 2) {
		len = add_entry(req, fs, dir, plus, lookup, buf + pos, size - pos, "..",
				parent_ino, DT_DIR, 2);
		if (len > size - pos)
			goto out;
		pos += len;
	}
	for (i = snap_seek(h, off); i < h->n; i++) {
		const struct dent *e = &h->ents[i];

		len = add_entry(req, fs, dir, plus, lookup, buf + pos, size - pos,
				dent_name(h, e), dent_ino(fs, e), e->type,
				(off_t)e->cookie);
		if (len > size - pos)
			break;
		pos += len;
	}
	at_end = i == h->n;
out:
	snap_done(fs, dir, h, at_end);
	pthread_rwlock_unlock(&fs->ns_lock);
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

void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct kvfs *fs = kv_fs(req);
	char path[KV_PATH_MAX];
	int rc;

	(void)fi;
	pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_path(fs, inode_of(fs, ino), path, sizeof(path));
	for (unsigned d = 0; rc >= 0 && d < fs->ndev; d++) {
		int fd = openat(kv_rootfd(fs, d), kv_at(path),
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			continue;	/* no copy on this device */
		rc = (datasync ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
		close(fd);
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}
