/*
 * inode.c - the inode table: kernel node ids, st_ino numbers, names, paths.
 *
 * An inode lives while the kernel holds a lookup reference to it or
 * something inside the daemon does (a child's name, an open file). Its
 * st_ino is the backing inode number with the device index in the low bits,
 * so it is unique across devices and survives renames.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "dfile.h"
#include "dir.h"
#include "evict.h"
#include "fcache.h"
#include "inode.h"

#define BUCKETS_MIN 1024
#define TRIM_EVERY 8192		/* inodes freed between malloc_trim() calls */

static size_t bucket_of(struct kvfs *fs, uint64_t ino)
{
	/* Fibonacci hashing spreads the device bits and the inode bits */
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 20) &
	       (fs->nbuckets - 1);
}

uint64_t inode_make_ino(struct kvfs *fs, unsigned dev, ino_t backing)
{
	uint64_t v = backing, z;

	if (!fs->ino_shift)
		return v;
	if (!(v >> (64 - fs->ino_shift)))
		return (v << fs->ino_shift) | dev;
	/*
	 * An inode number too large to carry the device: mix both (splitmix64
	 * finaliser). Only filesystems with 64-bit inode numbers get here.
	 */
	z = v ^ ((uint64_t)dev << 56) ^ 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int inode_table_init(struct kvfs *fs)
{
	unsigned bits = 0;

	while ((1u << bits) < fs->ndev)
		bits++;
	fs->ino_shift = bits;
	fs->nbuckets = BUCKETS_MIN;
	fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
	if (!fs->buckets)
		return -ENOMEM;
	fs->root = calloc(1, sizeof(*fs->root));
	if (!fs->root) {
		free(fs->buckets);
		return -ENOMEM;
	}
	fs->root->type = S_IFDIR;
	fs->root->dev = -1;
	fs->root->nlookup = 1;	/* the kernel never forgets the root */
	return 0;
}

static void free_names(struct name *n)
{
	while (n) {
		struct name *next = n->next;

		free(n);
		n = next;
	}
}

void inode_table_release(struct kvfs *fs)
{
	for (size_t b = 0; b < fs->nbuckets; b++) {
		struct inode *in = fs->buckets[b];

		while (in) {
			struct inode *next = in->hnext;

			/* still open at unmount: settle what was written */
			dfile_close(in->df);
			dir_listing_free(in);
			free_names(in->names);
			free(in->last);
			free(in);
			in = next;
		}
	}
	free(fs->buckets);
	dir_listing_free(fs->root);
	free(fs->root);
}

struct inode *inode_of(struct kvfs *fs, fuse_ino_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return fs->root;
	return (struct inode *)(uintptr_t)nodeid;
}

fuse_ino_t inode_nodeid(struct kvfs *fs, struct inode *in)
{
	if (in == fs->root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)in;
}

/*
 * The inode of the object numbered @ino. A removed one (gone) is kept
 * only for the kernel's references: the backing file system may have
 * given its number to a new object, which must get an inode, and a
 * nodeid, of its own. (A new directory would otherwise be the one the
 * kernel holds as removed, and nothing could be created in it.) Caller
 * holds fs->lock.
 */
static struct inode *find_locked(struct kvfs *fs, uint64_t ino)
{
	struct inode *in;

	for (in = fs->buckets[bucket_of(fs, ino)]; in; in = in->hnext)
		if (in->ino == ino && !in->gone)
			return in;
	return NULL;
}

struct inode *inode_find(struct kvfs *fs, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&fs->lock);
	in = find_locked(fs, ino);
	pthread_mutex_unlock(&fs->lock);
	return in;
}

static void unhash_locked(struct kvfs *fs, struct inode *in)
{
	struct inode **pp = &fs->buckets[bucket_of(fs, in->ino)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == in) {
			*pp = in->hnext;
			in->hnext = NULL;
			fs->count--;
			return;
		}
	}
}

static void grow_locked(struct kvfs *fs)
{
	size_t old_n = fs->nbuckets;
	struct inode **old = fs->buckets, **nb;

	nb = calloc(old_n * 2, sizeof(*nb));
	if (!nb)
		return;		/* longer chains, still correct */
	fs->buckets = nb;
	fs->nbuckets = old_n * 2;
	for (size_t b = 0; b < old_n; b++) {
		struct inode *in = old[b];

		while (in) {
			struct inode *next = in->hnext;
			size_t nbk = bucket_of(fs, in->ino);

			in->hnext = nb[nbk];
			nb[nbk] = in;
			in = next;
		}
	}
	free(old);
}

static void maybe_free_locked(struct kvfs *fs, struct inode *in);

static void drop_name_locked(struct kvfs *fs, struct name *n)
{
	struct inode *parent = n->parent;

	free(n);
	parent->refs--;
	maybe_free_locked(fs, parent);
}

static void maybe_free_locked(struct kvfs *fs, struct inode *in)
{
	while (in && in != fs->root && !in->nlookup && !in->refs) {
		struct name *n = in->names;
		struct inode *parent = NULL;

		unhash_locked(fs, in);
		/* iterate up the first name's chain instead of recursing */
		if (n) {
			in->names = n->next;
			parent = n->parent;
			free(n);
			parent->refs--;
		}
		while (in->names) {
			n = in->names;
			in->names = n->next;
			drop_name_locked(fs, n);
		}
		dir_listing_free(in);
		free(in->last);
		free(in);
		fs->freed++;
		in = parent;
	}
}

static struct name *name_new(struct inode *parent, const char *str)
{
	size_t len = strlen(str);
	struct name *n = malloc(sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	n->next = NULL;
	n->parent = parent;
	memcpy(n->str, str, len + 1);
	parent->refs++;
	return n;
}

static struct name **name_slot(struct inode *in, struct inode *parent,
			       const char *str)
{
	struct name **pp;

	for (pp = &in->names; *pp; pp = &(*pp)->next)
		if ((*pp)->parent == parent && !strcmp((*pp)->str, str))
			return pp;
	return NULL;
}

struct inode *inode_link(struct kvfs *fs, uint64_t ino, mode_t type, int dev,
			 struct inode *parent, const char *name)
{
	struct inode *in;

	pthread_mutex_lock(&fs->lock);
	in = find_locked(fs, ino);
	if (in && in->type != type) {
		/*
		 * The number was reused for another kind of object: the old
		 * one is gone. It stays in the table, where only FORGET or
		 * inode_table_release() finds it (the kernel forgets nothing
		 * at unmount).
		 */
		in->gone = true;
		in = NULL;
	}
	if (!in) {
		in = calloc(1, sizeof(*in));
		if (!in)
			goto out;
		in->ino = ino;
		in->type = type;
		if (fs->count >= fs->nbuckets)
			grow_locked(fs);
		in->hnext = fs->buckets[bucket_of(fs, ino)];
		fs->buckets[bucket_of(fs, ino)] = in;
		fs->count++;
		evict_kick_locked(fs);
	}
	in->dev = S_ISDIR(type) ? -1 : dev;
	if (!name_slot(in, parent, name)) {
		struct name *n = name_new(parent, name);

		if (!n) {
			maybe_free_locked(fs, in);
			in = NULL;
			goto out;
		}
		if (S_ISDIR(type)) {
			/* a directory has exactly one name: the newest */
			while (in->names) {
				struct name *old = in->names;

				in->names = old->next;
				drop_name_locked(fs, old);
			}
		}
		n->next = in->names;
		in->names = n;
	}
	in->nlookup++;
	in->recent = true;
out:
	pthread_mutex_unlock(&fs->lock);
	return in;
}

void inode_forget(struct kvfs *fs, struct inode *in, uint64_t n)
{
	struct dfile *df;
	bool trim;

	pthread_mutex_lock(&fs->lock);
	in->nlookup = n < in->nlookup ? in->nlookup - n : 0;
	/* no client has it open now: its backing file can go */
	df = fcache_forget_locked(fs, in);
	maybe_free_locked(fs, in);	/* not while df holds it */
	trim = fs->freed >= TRIM_EVERY;
	if (trim)
		fs->freed = 0;
	pthread_mutex_unlock(&fs->lock);
	if (df)
		fcache_close(fs, in, df);
	/*
	 * The kernel forgets inodes in bulk (memory pressure, drop_caches):
	 * hand the freed heap back, so RSS follows what the kernel caches.
	 */
	if (trim)
		malloc_trim(0);
}

void inode_unref(struct kvfs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->lock);
	in->refs--;
	maybe_free_locked(fs, in);
	pthread_mutex_unlock(&fs->lock);
}

void inode_unname(struct kvfs *fs, struct inode *in, struct inode *parent,
		  const char *name)
{
	struct name **pp, *n;

	pthread_mutex_lock(&fs->lock);
	pp = name_slot(in, parent, name);
	if (pp) {
		n = *pp;
		*pp = n->next;
		drop_name_locked(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

bool inode_gone(struct kvfs *fs, struct inode *in, const struct stat *st)
{
	struct stat *last;
	bool marked = false;

	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
		return false;	/* still linked elsewhere */
	last = malloc(sizeof(*last));
	if (last) {
		*last = *st;
		last->st_nlink = 0;
	}
	pthread_mutex_lock(&fs->lock);
	if (!in->gone) {
		in->gone = marked = true;
		in->last = last;
		last = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
	free(last);
	return marked;
}

void inode_ungone(struct kvfs *fs, struct inode *in)
{
	struct stat *last;

	pthread_mutex_lock(&fs->lock);
	in->gone = false;
	last = in->last;
	in->last = NULL;
	pthread_mutex_unlock(&fs->lock);
	free(last);
}

int inode_rename(struct kvfs *fs, struct inode *in, struct inode *oldparent,
		 const char *oldname, struct inode *newparent,
		 const char *newname)
{
	struct name **pp, *n;

	pthread_mutex_lock(&fs->lock);
	n = name_new(newparent, newname);
	if (!n) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	pp = name_slot(in, oldparent, oldname);
	if (pp) {
		struct name *old = *pp;

		n->next = old->next;
		*pp = n;
		drop_name_locked(fs, old);
	} else {
		n->next = in->names;
		in->names = n;
	}
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/* Caller holds fs->lock. */
static int path_locked(struct kvfs *fs, struct inode *in, char *buf,
		       size_t size)
{
	size_t pos = size - 1;

	buf[pos] = '\0';
	for (; in != fs->root; in = in->names->parent) {
		size_t len;

		if (!in->names)
			return -ENOENT;
		len = strlen(in->names->str);
		if (len + (pos != size - 1) > pos)
			return -ENAMETOOLONG;
		if (pos != size - 1)
			buf[--pos] = '/';
		pos -= len;
		memcpy(buf + pos, in->names->str, len);
	}
	memmove(buf, buf + pos, size - pos);
	return (int)(size - 1 - pos);
}

int inode_path(struct kvfs *fs, struct inode *in, char *buf, size_t size)
{
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = path_locked(fs, in, buf, size);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int inode_child_path(struct kvfs *fs, struct inode *parent, const char *name,
		     char *buf, size_t size)
{
	int len = inode_path(fs, parent, buf, size);
	size_t nlen = strlen(name);

	if (len < 0)
		return len;
	if ((size_t)len + 1 + nlen + 1 > size)
		return -ENAMETOOLONG;
	if (len)
		buf[len++] = '/';
	memcpy(buf + len, name, nlen + 1);
	return len + (int)nlen;
}
