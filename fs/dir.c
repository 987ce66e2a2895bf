/*
 * dir.c - merged directory listings.
 *
 * A listing is a snapshot, taken at offset 0, of every device's copy of the
 * directory: each name once, a directory merged, for a non-directory the
 * copy lookup would find (the policy's device first). Offsets are indexes
 * into the snapshot, so they stay valid while entries come and go.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_i.h"

struct dent {
	uint32_t name;		/* offset into dirh.names */
	uint8_t type;		/* DT_* of the winning copy */
	int8_t dev;		/* device of the winning copy */
	int8_t dir_dev;		/* lowest device holding it as a directory */
	ino_t ino, dir_ino;	/* backing inode numbers of those copies */
};

struct dirh {
	struct dent *ents;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint32_t *index;	/* open addressing over ents, 0 = empty */
	size_t index_cap;
};

static const char *dent_name(const struct dirh *h, const struct dent *e)
{
	return h->names + e->name;
}

static void dirh_clear(struct dirh *h)
{
	free(h->ents);
	free(h->names);
	free(h->index);
	memset(h, 0, sizeof(*h));
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static int index_grow(struct dirh *h)
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
static uint32_t *index_slot(struct dirh *h, const char *name)
{
	size_t slot = name_hash(name) & (h->index_cap - 1);

	while (h->index[slot] &&
	       strcmp(dent_name(h, &h->ents[h->index[slot] - 1]), name))
		slot = (slot + 1) & (h->index_cap - 1);
	return &h->index[slot];
}

static int dirh_append(struct dirh *h, const char *name, uint8_t type,
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
static int dirh_merge(struct kvfs *fs, struct dirh *h, const char *dirpath,
		      const char *name, uint8_t type, unsigned dev, ino_t ino)
{
	char path[KV_PATH_MAX];
	uint32_t *slot;
	struct dent *e;

	if ((h->n + 1) * 2 > h->index_cap && index_grow(h))
		return -ENOMEM;
	slot = index_slot(h, name);
	if (!*slot)
		return dirh_append(h, name, type, dev, ino, slot);
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

static int dirh_read_dev(struct kvfs *fs, struct dirh *h, unsigned dev,
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
		rc = dirh_merge(fs, h, path, de->d_name, type, dev,
				de->d_ino);
	}
	if (!rc && errno)
		rc = -errno;
	closedir(dir);
	return rc;
}

/* Take a fresh snapshot of directory @in; "." and ".." come first. */
static int dirh_load(struct kvfs *fs, struct dirh *h, struct inode *in)
{
	char path[KV_PATH_MAX];
	struct inode *parent;
	int rc;

	dirh_clear(h);
	pthread_mutex_lock(&fs->lock);
	parent = in->names ? in->names->parent : in;
	pthread_mutex_unlock(&fs->lock);
	/* the dots carry the final st_ino already: device slot unused */
	rc = dirh_append(h, ".", DT_DIR, 0, (ino_t)in->ino, NULL);
	if (!rc)
		rc = dirh_append(h, "..", DT_DIR, 0, (ino_t)parent->ino, NULL);
	if (rc)
		return rc;
	rc = inode_path(fs, in, path, sizeof(path));
	for (unsigned d = 0; rc >= 0 && d < fs->ndev; d++)
		rc = dirh_read_dev(fs, h, d, path);
	return rc < 0 ? rc : 0;
}

static bool is_dot(size_t i)
{
	return i < 2;
}

static uint64_t dent_ino(struct kvfs *fs, const struct dent *e, size_t i)
{
	if (is_dot(i))
		return e->ino;
	if (e->type == DT_DIR)
		return kv_make_ino(fs, (unsigned)e->dir_dev, e->dir_ino);
	return kv_make_ino(fs, (unsigned)e->dev, e->ino);
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *h = calloc(1, sizeof(*h));

	(void)ino;
	if (!h)
		return (void)fuse_reply_err(req, ENOMEM);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi))
		free(h);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct kvfs *fs = kv_fs(req);
	struct dirh *h = (struct dirh *)(uintptr_t)fi->fh;
	struct inode *dir = inode_of(fs, ino);
	char *buf = malloc(size);
	size_t pos = 0;
	int rc = 0;

	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_rwlock_rdlock(&fs->ns_lock);
	/* offset 0 is a rewind; a seek on a fresh handle needs a snapshot */
	if (off == 0 || !h->n)
		rc = dirh_load(fs, h, dir);
	for (size_t i = (size_t)off; !rc && i < h->n; i++) {
		const struct dent *e = &h->ents[i];
		const char *name = dent_name(h, e);
		struct fuse_entry_param ep;
		struct inode *child = NULL;
		char path[KV_PATH_MAX];
		size_t len;

		memset(&ep, 0, sizeof(ep));
		ep.attr.st_ino = dent_ino(fs, e, i);
		ep.attr.st_mode = (mode_t)DTTOIF(e->type);
		if (!plus) {
			len = fuse_add_direntry(req, buf + pos, size - pos,
						name, &ep.attr, (off_t)i + 1);
		} else {
			/* the dots get no lookup reference: ino 0 */
			if (!is_dot(i) &&
			    inode_child_path(fs, dir, name, path,
					     sizeof(path)) >= 0 &&
			    kv_entry(fs, dir, name, path, &ep, &child))
				continue;	/* gone since the snapshot */
			len = fuse_add_direntry_plus(req, buf + pos,
						     size - pos, name, &ep,
						     (off_t)i + 1);
		}
		if (len > size - pos) {
			if (child)
				inode_forget(fs, child, 1);
			break;
		}
		pos += len;
	}
	pthread_rwlock_unlock(&fs->ns_lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *h = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	dirh_clear(h);
	free(h);
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
