/*
 * dev.c - the device registry: create (if allowed), open, lock and probe each backing
 * directory of a parsed source list (core/sources.h), check it against the
 * mount point and the others, and answer questions about the set.
 *
 * A missing backing directory is created only when the caller allows it.
 * Nothing here logs: every failure is one line in the caller's buffer that
 * names the path, and the caller decides where it goes. A devset never
 * changes after devset_open() returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "align.h"
#include "dev.h"
#include "log.h"
#include "probe.h"

#define STATFS_BSIZE		4096

struct devset {
	unsigned count;
	ino_t ino[DEV_MAX];	/* of each backing directory, for duplicates */
	/*
	 * What devset_open() created, for devset_discard(): the path as
	 * given, and the length of its first component that did not exist
	 * (0: nothing was created).
	 */
	char *made[DEV_MAX];
	size_t made_len[DEV_MAX];
	struct dev devs[];
};

/*
 * mkdir -p @path with mode 0755; an existing path is left to open(). Sets
 * *@made to the length of the first prefix of @path it created, 0 if none.
 */
static int dev_mkdir_p(const char *path, size_t *made)
{
	struct stat st;
	char *buf, *p;
	int rc = 0;

	*made = 0;
	if (!stat(path, &st))
		return 0;
	if (errno != ENOENT)
		return -errno;
	buf = strdup(path);
	if (!buf)
		return -ENOMEM;
	for (p = buf + 1;; p++) {
		char c = *p;

		if (c && c != '/')
			continue;
		*p = '\0';
		if (!mkdir(buf, 0755)) {
			if (!*made)
				*made = (size_t)(p - buf);
		} else if (errno != EEXIST) {
			rc = -errno;
			break;
		}
		if (!c)
			break;
		*p = c;
	}
	free(buf);
	return rc;
}

/* @dir is @sub, or @sub lies below @dir; both are canonical paths. */
static bool dev_path_within(const char *dir, const char *sub)
{
	size_t len = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(dir, sub, len) && (sub[len] == '/' || !sub[len]);
}

/* Apply the configured alignment @align (0: keep the probed one). */
static int dev_set_align(struct dev *d, unsigned align, const char *shown,
			 char *err, size_t errlen)
{
	if (!align)
		return 0;
	if (!is_pow2(align) || align > DEV_ALIGN_MAX) {
		log_format(err, errlen,
			"alignment %u for '%s' is not a power of two up to %d",
			align, shown, DEV_ALIGN_MAX);
		return -EINVAL;
	}
	if (align < d->dio_align) {
		log_format(err, errlen,
			"alignment %u for '%s' is below the device's %u",
			align, shown, d->dio_align);
		return -EINVAL;
	}
	d->dio_align = align;
	return 0;
}

/*
 * What realpath() will say of @path once its missing tail exists: the
 * nearest existing ancestor resolved, the rest appended as it is (the path
 * is normalised, so the tail holds no "." or ".."). NULL with errno set.
 */
static char *dev_path_resolve(const char *path)
{
	size_t keep = strlen(path);	/* bytes of @path that head holds */
	const char *tail;
	char *head, *real, *out;

	head = strdup(path);
	if (!head)
		return NULL;
	for (;;) {
		char *slash;

		/* a relative path whose first component is missing: cwd */
		real = realpath(keep ? head : ".", NULL);
		if (real || errno != ENOENT || !keep)
			break;
		slash = memrchr(head, '/', keep);
		keep = !slash ? 0 : slash == head ? 1 : (size_t)(slash - head);
		head[keep] = '\0';
	}
	free(head);
	if (!real)
		return NULL;
	for (tail = path + keep; *tail == '/'; tail++)
		;
	if (!*tail)
		return real;
	if (asprintf(&out, "%s/%s", strcmp(real, "/") ? real : "", tail) < 0)
		out = NULL;
	free(real);
	return out;
}

/*
 * Check a device, by its resolved path @real and, once opened, its stat
 * @dst, against the mount point: it must be neither the mount point nor
 * below nor above it, or the daemon would serve its own mount to itself.
 */
static int dev_check_mount(const char *real, const struct stat *dst,
			   const char *shown, const char *mnt,
			   const struct stat *mst, char *err, size_t errlen)
{
	if (!strcmp(real, mnt) || (dst && dst->st_dev == mst->st_dev &&
				   dst->st_ino == mst->st_ino)) {
		log_format(err, errlen,
			"backing directory '%s' is the mount point", shown);
		return -EINVAL;
	}
	if (dev_path_within(mnt, real)) {
		log_format(err, errlen,
			"backing directory '%s' is inside the mount point '%s'",
			shown, mnt);
		return -EINVAL;
	}
	if (dev_path_within(real, mnt)) {
		log_format(err, errlen,
			"backing directory '%s' contains the mount point '%s'",
			shown, mnt);
		return -EINVAL;
	}
	return 0;
}


/*
 * One daemon per backing directory: two would each cache sizes and names
 * the other changes. The lock goes with the daemon's last descriptor of
 * the directory, however it ends. A filesystem without flock() is let be.
 */
int dev_lock_root(int fd)
{
	if (!flock(fd, LOCK_EX | LOCK_NB) || errno != EWOULDBLOCK)
		return 0;
	return -EBUSY;
}

static int dev_lock(struct dev *d, const char *shown, char *err,
		    size_t errlen)
{
	if (!dev_lock_root(d->root_fd))
		return 0;
	log_format(err, errlen,
		"backing directory '%s' is in use by another kvstripe (one mount per directory)",
		shown);
	return -EBUSY;
}

/*
 * Create @shown (mkdir -p) if missing, and note what was made for
 * devset_discard(); a path that would lie in or over the mount point is
 * refused first, so that nothing is created in the mount.
 */
static int dev_create(struct devset *set, unsigned i, const char *shown,
		      const char *mnt, const struct stat *mst, char *err,
		      size_t errlen)
{
	int rc;

	if (mnt) {
		char *real = dev_path_resolve(shown);

		if (real) {
			rc = dev_check_mount(real, NULL, shown, mnt, mst, err,
					     errlen);
			free(real);
			if (rc)
				return rc;
		}
	}
	rc = dev_mkdir_p(shown, &set->made_len[i]);
	if (set->made_len[i]) {
		set->made[i] = strdup(shown);
		if (!set->made[i])	/* cannot undo it: keep it, then */
			set->made_len[i] = 0;
	}
	if (rc)
		log_format(err, errlen,
			"cannot create backing directory '%s': %s", shown,
			strerror(-rc));
	return rc;
}

/* Resolve and open @shown as @d's root; @st is the directory's stat. */
static int dev_open_root(struct dev *d, const char *shown, struct stat *st,
			 char *err, size_t errlen)
{
	int rc;

	d->path = realpath(shown, NULL);
	if (!d->path) {
		rc = -errno;
		log_format(err, errlen, "cannot resolve backing path '%s': %s",
			shown, strerror(-rc));
		return rc;
	}
	d->root_fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd < 0) {
		rc = -errno;
		if (rc == -ENOTDIR)
			log_format(err, errlen,
				"backing path '%s' is not a directory", shown);
		else
			log_format(err, errlen,
				"cannot open backing directory '%s': %s",
				shown, strerror(-rc));
		return rc;
	}
	if (fstat(d->root_fd, st)) {
		rc = -errno;
		log_format(err, errlen, "cannot stat backing directory '%s': %s",
			shown, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st->st_mode)) {
		log_format(err, errlen, "backing path '%s' is not a directory",
			shown);
		return -ENOTDIR;
	}
	d->st_dev = st->st_dev;
	return 0;
}

/* Device @i is one of devices 0..i-1 again, by path or by inode. */
static int dev_check_twice(const struct devset *set, unsigned i,
			   const char *shown, char *err, size_t errlen)
{
	const struct dev *d = &set->devs[i];
	unsigned j;

	for (j = 0; j < i; j++) {
		const struct dev *o = &set->devs[j];

		if (strcmp(o->path, d->path) &&
		    (o->st_dev != d->st_dev || set->ino[j] != set->ino[i]))
			continue;
		log_format(err, errlen, "'%s' is listed twice (as '%s')", shown,
			o->path);
		return -EINVAL;
	}
	return 0;
}

/*
 * Without DEVSET_MKDIR a missing backing directory is an error: at boot it
 * would be made on the filesystem its drive is not mounted on yet.
 */
static int dev_exists(const char *shown, char *err, size_t errlen)
{
	struct stat st;

	if (!stat(shown, &st) || errno != ENOENT)
		return 0;	/* anything else is dev_open_root()'s to say */
	log_format(err, errlen,
		"backing directory '%s' does not exist (-o mkdir creates it)",
		shown);
	return -ENOENT;
}

static int dev_open_one(struct devset *set, unsigned i, const char *shown,
			unsigned align, unsigned flags, const char *mnt,
			const struct stat *mst, char *err, size_t errlen)
{
	struct dev *d = &set->devs[i];
	struct probe pr;
	struct stat st;
	int rc;

	d->index = i;
	d->root_fd = -1;
	set->count = i + 1;	/* so that devset_free() cleans up this one */

	if (flags & DEVSET_MKDIR)
		rc = dev_create(set, i, shown, mnt, mst, err, errlen);
	else
		rc = dev_exists(shown, err, errlen);
	if (!rc)
		rc = dev_open_root(d, shown, &st, err, errlen);
	if (rc)
		return rc;
	set->ino[i] = st.st_ino;
	rc = dev_check_twice(set, i, shown, err, errlen);
	if (!rc && mnt)
		rc = dev_check_mount(d->path, &st, shown, mnt, mst, err,
				     errlen);
	if (!rc)
		rc = dev_lock(d, shown, err, errlen);
	if (!rc)
		rc = probe_dir(d->root_fd, shown, &pr, err, errlen);
	if (rc)
		return rc;
	d->dio_align = pr.dio_align;
	d->mem_align = pr.mem_align;
	d->capacity = pr.capacity;
	d->page_cache = pr.page_cache;
	return dev_set_align(d, align, shown, err, errlen);
}

int devset_open(char *const *paths, unsigned count,
		const struct dev_opts *opts, unsigned flags,
		const char *mountpoint, struct devset **out, char *err,
		size_t errlen)
{
	struct devset *set;
	struct stat mst;
	char *mnt = NULL;
	unsigned i;
	int rc;

	*out = NULL;
	if (!count) {
		log_format(err, errlen, "no backing directory given");
		return -EINVAL;
	}
	if (count > DEV_MAX) {
		log_format(err, errlen,
			"too many backing directories (at most %d)", DEV_MAX);
		return -E2BIG;
	}
	/* a mount point that does not exist yet cannot be mounted on */
	if (mountpoint && !stat(mountpoint, &mst))
		mnt = realpath(mountpoint, NULL);

	set = calloc(1, sizeof(*set) + count * sizeof(set->devs[0]));
	if (!set) {
		rc = -ENOMEM;
		log_format(err, errlen, "out of memory");
		goto err_free_mnt;
	}
	for (i = 0; i < count; i++) {
		rc = dev_open_one(set, i, paths[i], opts ? opts[i].align : 0,
				  flags, mnt, &mst, err, errlen);
		if (rc)
			goto err_free_set;
	}
	free(mnt);
	*out = set;
	return 0;

err_free_set:
	devset_discard(set);
err_free_mnt:
	free(mnt);
	return rc;
}

void devset_free(struct devset *set)
{
	unsigned i;

	if (!set)
		return;
	for (i = 0; i < set->count; i++) {
		if (set->devs[i].root_fd >= 0)
			close(set->devs[i].root_fd);
		free(set->devs[i].path);
		free(set->made[i]);
	}
	free(set);
}

/* rmdir what dev_mkdir_p() made of @path: from the leaf up to @len bytes. */
static void dev_unmake(char *path, size_t len)
{
	while (strlen(path) >= len) {
		char *slash = strrchr(path, '/');

		if (rmdir(path) || !slash)
			return;	/* not empty (no longer ours alone), or done */
		*slash = '\0';
	}
}

void devset_discard(struct devset *set)
{
	unsigned i;

	if (!set)
		return;
	for (i = 0; i < set->count; i++)
		if (set->made_len[i])
			dev_unmake(set->made[i], set->made_len[i]);
	devset_free(set);
}

unsigned devset_count(const struct devset *set)
{
	return set->count;
}

const struct dev *devset_dev(const struct devset *set, unsigned index)
{
	return index < set->count ? &set->devs[index] : NULL;
}

unsigned devset_max_align(const struct devset *set)
{
	unsigned i, max = 0;

	for (i = 0; i < set->count; i++) {
		if (set->devs[i].dio_align > max)
			max = set->devs[i].dio_align;
		if (set->devs[i].mem_align > max)
			max = set->devs[i].mem_align;
	}
	return max;
}

/* @n blocks of @frsize bytes, in STATFS_BSIZE units. */
static uint64_t dev_to_bsize(uint64_t n, unsigned long frsize)
{
	return (uint64_t)((unsigned __int128)n * frsize / STATFS_BSIZE);
}

int devset_check(const struct devset *set, unsigned index)
{
	const struct dev *d = &set->devs[index];
	struct stat held, named;

	if (fstat(d->root_fd, &held))
		return -errno;
	if (!held.st_nlink)
		return -ENOENT;
	if (stat(d->path, &named) || named.st_dev != held.st_dev ||
	    named.st_ino != held.st_ino)
		return -ESTALE;
	return 0;
}

void devset_statfs_sum(const struct devset *set, const struct statvfs *sv,
		       uint64_t have, struct statvfs *out)
{
	bool first = true;
	unsigned i, j;

	memset(out, 0, sizeof(*out));
	out->f_bsize = STATFS_BSIZE;
	out->f_frsize = STATFS_BSIZE;
	out->f_namemax = 255;
	for (i = 0; i < set->count; i++) {
		const struct dev *d = &set->devs[i];
		const struct statvfs *v = &sv[i];
		unsigned long frsize;

		if (!(have & ((uint64_t)1 << i)))
			continue;
		for (j = 0; j < i; j++)
			if ((have & ((uint64_t)1 << j)) &&
			    set->devs[j].st_dev == d->st_dev)
				break;
		if (j < i)
			continue;	/* that filesystem is counted already */
		frsize = v->f_frsize ? v->f_frsize : v->f_bsize;
		out->f_blocks += dev_to_bsize(v->f_blocks, frsize);
		out->f_bfree += dev_to_bsize(v->f_bfree, frsize);
		out->f_bavail += dev_to_bsize(v->f_bavail, frsize);
		out->f_files += v->f_files;
		out->f_ffree += v->f_ffree;
		out->f_favail += v->f_favail;
		if (first) {
			out->f_fsid = v->f_fsid;
			/* a backing mount's nodev, noexec do not apply */
			out->f_flag = v->f_flag & (ST_RDONLY | ST_NOSUID);
			first = false;
		}
	}
}

int devset_statfs(const struct devset *set, struct statvfs *out,
		  unsigned *bad)
{
	struct statvfs sv[DEV_MAX];

	for (unsigned i = 0; i < set->count; i++) {
		if (fstatvfs(set->devs[i].root_fd, &sv[i])) {
			*bad = i;
			return -errno;
		}
	}
	devset_statfs_sum(set, sv, set->count >= 64 ? ~(uint64_t)0 :
			  ((uint64_t)1 << set->count) - 1, out);
	return 0;
}
