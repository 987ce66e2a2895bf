/*
 * dir.c - merged directory listings.
 *
 * A listing is a snapshot of every device's copy of the directory: each
 * name once, a directory merged, for a non-directory the copy lookup would
 * find (the policy's device first). Snapshots belong to the directory, not
 * to an open handle: the first is retaken at offset 0, and each is dropped
 * once a reader got past it. Offsets are name hashes (see snap_sort()); a
 * snapshot holds at most p.listing_window of them (some 80 bytes each),
 * the smallest after the offset it was taken for: a huge directory is
 * listed in windows, at the price of one scan of it per window, and the
 * daemon's memory does not grow with it.
 *
 * A window outlives the listing that took it, so it also carries when it
 * was taken: a listing that began after a change through the mount, or
 * more than attr_timeout after the window (changes made by hand), never
 * uses it (see snap_fresh()).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "dir.h"
#include "inode.h"
#include "ns.h"
#include "ops.h"

/* Windows a directory keeps, for readers at different places in it. */
#define SNAP_SLOTS	4

struct dent {
	uint64_t cookie;	/* its d_off: a hash of the name, see below */
	uint32_t name;		/* offset into dsnap.names */
	uint8_t type;		/* DT_* of the winning copy */
	int8_t dev;		/* device of the winning copy */
	int8_t dir_dev;		/* lowest device holding it as a directory */
	ino_t ino, dir_ino;	/* backing inode numbers of those copies */
};

/*
 * A window of one merged directory, shared by every reader in it: all its
 * entries with cookies after @floor, up to the @window smallest.
 */
struct dsnap {
	struct dsnap *next;	/* the directory's other windows: fs->lock */
	unsigned refs;		/* protected by fs->lock */
	uint64_t changes;	/* dlisting.changes before it was read */
	uint64_t taken_ms;	/* kv_now_ms() before it was read */
	size_t window;		/* most entries it keeps */
	uint64_t floor;		/* taken for readers after this cookie */
	uint64_t ceil;		/* holds no cookie above this one */
	bool last;		/* ... and there is none above it */
	bool tail;		/* empty, after a window a reader got past */
	struct dent *ents;	/* sorted by cookie once built */
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint32_t *index;	/* while building: open addressing, 0 = empty */
	size_t index_cap;
};

/*
 * What a directory knows about its listings, made by the first one and
 * kept for the inode's life; protected by fs->lock.
 */
struct dlisting {
	struct dsnap *snaps;	/* its windows, most recently used first */
	uint64_t changes;	/* names changed through the mount */
	uint64_t start_changes;	/* ... when the latest listing began */
	uint64_t start_ms;	/* kv_now_ms() then */
};

/*
 * Cookies: an entry's d_off is a hash of its name, kept above the dots'
 * offsets 1 and 2 and below 2^63, and a window is sorted by it. A reader
 * resumes after the entry with the cookie it was given, so a window can be
 * retaken between two of its requests without skipping or repeating a
 * name that stayed (ext4's htree offsets work the same way). Equal hashes
 * are made distinct in sorted order; a window taken for a later offset
 * also holds the COOKIE_SLACK cookies before it, so it makes them distinct
 * the same way.
 */
#define COOKIE_FIRST	3
#define COOKIE_SLACK	64

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

/* The cookie of @name before equal ones are made distinct. */
static uint64_t name_cookie(const char *name)
{
	return (XXH3_64bits(name, strlen(name)) >> 2) + COOKIE_FIRST;
}

static int cookie_cmp(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

static int index_build(struct dsnap *h, size_t cap)
{
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++) {
		size_t slot = h->ents[i].cookie & (cap - 1);

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
static uint32_t *index_slot(struct dsnap *h, const char *name, uint64_t cookie)
{
	size_t slot = cookie & (h->index_cap - 1);

	while (h->index[slot]) {
		const struct dent *e = &h->ents[h->index[slot] - 1];

		if (e->cookie == cookie && !strcmp(dent_name(h, e), name))
			break;
		slot = (slot + 1) & (h->index_cap - 1);
	}
	return &h->index[slot];
}

static int snap_append(struct dsnap *h, const char *name, uint64_t cookie,
		       uint8_t type, unsigned dev, ino_t ino, uint32_t *slot)
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
	e->cookie = cookie;
	e->name = (uint32_t)h->names_len;
	memcpy(h->names + h->names_len, name, len);
	h->names_len += len;
	e->type = type;
	e->dev = (int8_t)dev;
	e->ino = ino;
	e->dir_dev = type == DT_DIR ? (int8_t)dev : -1;
	e->dir_ino = ino;
	*slot = (uint32_t)++h->n;
	return 0;
}

/*
 * Keep the @h->window smallest cookies (all of those equal to the last
 * one kept, too) and leave every larger one out from now on.
 */
static int snap_prune(struct dsnap *h)
{
	size_t keep = h->window, len = 0;
	char *names;

	qsort(h->ents, h->n, sizeof(*h->ents), cookie_cmp);
	while (keep < h->n && h->ents[keep].cookie == h->ents[keep - 1].cookie)
		keep++;
	if (keep == h->n)
		return 0;
	h->ceil = h->ents[keep - 1].cookie;
	h->n = keep;
	for (size_t i = 0; i < keep; i++)
		len += strlen(dent_name(h, &h->ents[i])) + 1;
	names = malloc(len);
	if (!names)
		return -ENOMEM;
	len = 0;
	for (size_t i = 0; i < keep; i++) {
		const char *name = dent_name(h, &h->ents[i]);
		size_t n = strlen(name) + 1;

		memcpy(names + len, name, n);
		h->ents[i].name = (uint32_t)len;
		len += n;
	}
	free(h->names);
	h->names = names;
	h->names_len = h->names_cap = len;
	return h->index ? index_build(h, h->index_cap) : 0;
}

/* Rank of @dev for the entry at @path: the order lookup visits devices. */
static unsigned rank(struct kvfs *fs, const char *path, unsigned dev)
{
	return dev == place_pick(&fs->policy, path) ? 0 : dev + 1;
}

/* Cookies up to this one are not in @h. */
static uint64_t window_lo(const struct dsnap *h)
{
	return h->floor < COOKIE_SLACK ? 0 : h->floor - COOKIE_SLACK;
}

/* Merge one backing entry seen on @dev into the window being taken. */
static int snap_merge(struct kvfs *fs, struct dsnap *h, const char *dirpath,
		      const char *name, uint8_t type, unsigned dev, ino_t ino)
{
	uint64_t cookie = name_cookie(name);
	char path[KV_PATH_MAX];
	uint32_t *slot;
	struct dent *e;

	if (cookie <= window_lo(h) || cookie > h->ceil)
		return 0;
	if ((h->n + 1) * 2 > h->index_cap &&
	    index_build(h, h->index_cap ? h->index_cap * 2 : 256))
		return -ENOMEM;
	slot = index_slot(h, name, cookie);
	if (!*slot) {
		int rc = snap_append(h, name, cookie, type, dev, ino, slot);

		return rc || h->n < 2 * h->window ? rc : snap_prune(h);
	}
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
	int rc = ns_opendir(fs, dev, path, &dir);

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

/* Sort a window by cookie and make equal cookies distinct. */
static void snap_sort(struct dsnap *h)
{
	if (h->n > 1)
		qsort(h->ents, h->n, sizeof(*h->ents), cookie_cmp);
	for (size_t i = 1; i < h->n; i++)
		if (h->ents[i].cookie <= h->ents[i - 1].cookie)
			h->ents[i].cookie = h->ents[i - 1].cookie + 1;
}

/*
 * Take a fresh window of directory @path for readers after cookie @floor
 * (the dots are not in it); @changes: the directory's count before.
 */
static int snap_load(struct kvfs *fs, const char *path, uint64_t floor,
		     uint64_t changes, struct dsnap **out)
{
	struct dsnap *h = calloc(1, sizeof(*h));
	int rc = 0;

	if (!h)
		return -ENOMEM;
	h->changes = changes;
	h->taken_ms = kv_now_ms();
	h->window = fs->p.listing_window;
	h->floor = floor;
	h->ceil = UINT64_MAX;
	for (unsigned d = 0; !rc && d < fs->ndev; d++)
		rc = snap_read_dev(fs, h, d, path);
	free(h->index);
	h->index = NULL;
	if (!rc && h->n > h->window)
		rc = snap_prune(h);
	if (rc) {
		dsnap_free(h);
		return rc;
	}
	h->last = h->ceil == UINT64_MAX;
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

/*
 * Take @h off @l's windows; the caller holds fs->lock and now owns the
 * reference the directory had if this returns true.
 */
static bool snap_unlink_locked(struct dlisting *l, struct dsnap *h)
{
	for (struct dsnap **pp = &l->snaps; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			return true;
		}
	}
	return false;
}

void dir_listing_free(struct inode *in)
{
	struct dlisting *l = in->listing;

	if (!l)
		return;
	while (l->snaps) {
		struct dsnap *h = l->snaps;

		l->snaps = h->next;
		snap_put_locked(h);
	}
	free(l);
	in->listing = NULL;
}

void dir_changed(struct kvfs *fs, struct inode *dir)
{
	pthread_mutex_lock(&fs->lock);
	if (dir->listing)
		dir->listing->changes++;
	pthread_mutex_unlock(&fs->lock);
}

/*
 * Whether window @h may serve the listing that began last, and with it
 * every listing still going (they began no later): no change went
 * through the mount between the window's read and that beginning, and
 * the window is not older than attr_timeout then, the time changes made
 * by hand are given to show. Once stale, a window stays so.
 */
static bool snap_fresh(struct kvfs *fs, const struct dlisting *l,
		       const struct dsnap *h)
{
	return h->changes >= l->start_changes &&
	       (h->taken_ms >= l->start_ms ||
		(double)(l->start_ms - h->taken_ms) <=
			fs->p.attr_timeout * 1000);
}

/* Whether a reader after cookie @off finds what comes next in @h. */
static bool snap_covers(const struct dsnap *h, uint64_t off)
{
	return h->floor <= off &&
	       (h->last || (h->n && off < h->ents[h->n - 1].cookie));
}

/*
 * Make @h the directory's most recent window: it replaces one taken for
 * the same offset, and the least recently used goes past SNAP_SLOTS. A
 * tail speaks only for the window it followed: any new one replaces it.
 */
static void snap_insert_locked(struct dlisting *l, struct dsnap *h)
{
	struct dsnap **pp = &l->snaps, *w;
	unsigned kept = 1;

	while ((w = *pp)) {
		if (w->floor == h->floor || w->tail || kept == SNAP_SLOTS) {
			*pp = w->next;
			snap_put_locked(w);
			continue;
		}
		kept++;
		pp = &w->next;
	}
	h->next = l->snaps;
	l->snaps = h;
}

/*
 * @dir's listing state, made on first use; the caller holds fs->lock.
 * NULL on -ENOMEM.
 */
static struct dlisting *listing_of_locked(struct inode *dir)
{
	if (!dir->listing)
		dir->listing = calloc(1, sizeof(*dir->listing));
	return dir->listing;
}

/*
 * The window a read after cookie @off uses: a new one at offset 0 (opendir
 * and rewinddir begin a listing, which must see every change), else a
 * fresh one of the directory's that goes on from @off, or a new one taken
 * for @off. Returned with a reference.
 */
static int snap_get(struct kvfs *fs, struct inode *dir, uint64_t off,
		    struct dsnap **out)
{
	char path[KV_PATH_MAX];
	struct dsnap **pp, *h = NULL;
	struct dlisting *l;
	uint64_t changes;
	int rc;

	pthread_mutex_lock(&fs->lock);
	l = listing_of_locked(dir);
	if (!l) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	if (!off) {
		l->start_changes = l->changes;
		l->start_ms = kv_now_ms();
	}
	for (pp = &l->snaps; off && (h = *pp);) {
		if (!snap_fresh(fs, l, h)) {
			*pp = h->next;
			snap_put_locked(h);
			continue;
		}
		if (snap_covers(h, off)) {
			*pp = h->next;
			h->next = l->snaps;
			l->snaps = h;
			h->refs++;
			break;
		}
		pp = &h->next;
	}
	changes = l->changes;
	pthread_mutex_unlock(&fs->lock);
	if (h) {
		*out = h;
		return 0;
	}
	rc = inode_path(fs, dir, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = snap_load(fs, path, off < COOKIE_FIRST ? 0 : off, changes, &h);
	if (rc)
		return rc;
	/*
	 * The load's reference goes to the directory, if a listing that
	 * began meanwhile may still use the window; else to the caller.
	 */
	pthread_mutex_lock(&fs->lock);
	if (snap_fresh(fs, l, h)) {
		snap_insert_locked(l, h);
		h->refs++;
	}
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
static void snap_done(struct kvfs *fs, struct inode *dir, struct dsnap *h,
		      bool passed)
{
	struct dsnap *tail = NULL;

	if (passed && h->last && h->n)
		tail = calloc(1, sizeof(*tail));
	pthread_mutex_lock(&fs->lock);
	if (passed && snap_unlink_locked(dir->listing, h)) {
		h->refs--;	/* the directory's: the caller's is still held */
		if (tail) {
			tail->changes = h->changes;
			tail->taken_ms = h->taken_ms;
			tail->floor = h->ents[h->n - 1].cookie;
			tail->ceil = UINT64_MAX;
			tail->last = tail->tail = true;
			tail->refs = 1;
			snap_insert_locked(dir->listing, tail);
			tail = NULL;
		}
	}
	snap_put_locked(h);
	pthread_mutex_unlock(&fs->lock);
	free(tail);
}

/* Index of the first entry after cookie @off. */
static size_t snap_seek(const struct dsnap *h, uint64_t off)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->ents[mid].cookie <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t dent_ino(struct kvfs *fs, const struct dent *e)
{
	if (e->type == DT_DIR)
		return inode_make_ino(fs, (unsigned)e->dir_dev, e->dir_ino);
	return inode_make_ino(fs, (unsigned)e->dev, e->ino);
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
	/* window after window until the buffer is full or the listing ends */
	for (;;) {
		struct dsnap *h;
		bool full = false, last;
		size_t i;

		rc = snap_get(fs, dir, at, &h);
		if (rc)
			break;
		for (i = snap_seek(h, at); i < h->n; i++) {
			const struct dent *e = &h->ents[i];

			len = add_entry(req, fs, dir, plus, lookup, buf + pos,
					size - pos, dent_name(h, e),
					dent_ino(fs, e), e->type,
					(off_t)e->cookie);
			if (len > size - pos) {
				full = true;
				break;
			}
			pos += len;
		}
		last = h->last;
		if (h->n)
			at = h->ents[h->n - 1].cookie;
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
	if (rc == -ENOENT) {
		/* removed while open: nothing of it is left to write */
		pthread_mutex_lock(&fs->lock);
		if (inode_of(fs, ino)->gone)
			rc = 0;
		pthread_mutex_unlock(&fs->lock);
	}
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}
