/*
 * rename.c - RENAME, with RENAME_NOREPLACE and RENAME_EXCHANGE: a file moves
 * on its own device, a directory on every device holding a copy (refused
 * with EIO while a device is failed); a failure puts back what was done.
 * A file's rename shares the namespace lock; a directory's holds it
 * exclusively. Every backing call is made within the device timeout
 * (nscall.h), so the lock is never held longer waiting on a device.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "beneath.h"
#include "dir.h"
#include "inode.h"
#include "limit.h"
#include "nscall.h"
#include "ops.h"
#include "remove.h"

/*
 * Rename @from to @to on device @d within the device timeout, making @to's
 * missing parents there if @parents. Device errors are logged here, for
 * every rename.
 */
static int rename_on(struct kvfs *fs, unsigned d, const char *from,
		     const char *to, unsigned flags, bool parents)
{
	struct nsargs a = { .path = from, .path2 = to, .flags = (int)flags };
	struct nsres r;

	nscall_one(fs, d, nscall_rename, "rename", &a, &r);
	if (r.rc == -ENOENT && parents && !ns_make_parents(fs, d, to))
		nscall_one(fs, d, nscall_rename, "rename", &a, &r);
	if (r.rc == -ETIMEDOUT)
		r.rc = -EIO;
	return kv_meta_err(fs, d, "rename", from, -1, r.rc);
}

/* Rename a non-directory on its own device, over whatever @dst names. */
static int rename_file(struct kvfs *fs, const struct found *s,
		       const struct found *t, bool have_dst,
		       const char *src, const char *dst, unsigned flags)
{
	unsigned dev = (unsigned)s->dev;
	struct inode *tin = NULL;
	int rc;

	if (have_dst && S_ISDIR(t->st.st_mode))
		return -EISDIR;
	if (have_dst && !(flags & RENAME_NOREPLACE)) {
		tin = inode_find(fs, ns_found_ino(fs, t));
		rc = remove_keep_open(fs, tin, t, dst);
		if (rc)
			return rc;
	}
	rc = rename_on(fs, dev, src, dst, flags, true);
	if (rc)
		return rc;
	ns_made(fs, dst, dev);
	/* the file renamed over leaves the count (not a link of the source) */
	if (have_dst && (t->dev != s->dev || t->st.st_ino != s->st.st_ino))
		limit_removed(fs, tin, t);
	/* the replaced file may live elsewhere: the name is ours now */
	if (have_dst)
		remove_sweep_stale(fs, dev, dst, t->files);
	return 0;
}

/*
 * Rename every copy of a directory, all at once; undo the done ones on
 * failure. The caller made sure no device was left out.
 */
static int rename_dir(struct kvfs *fs, const struct found *s,
		      const struct found *t, bool have_dst,
		      const char *src, const char *dst)
{
	struct nsargs a = { .path = src, .path2 = dst };
	struct nsres res[DEV_MAX];
	devmask_t done = 0, again = 0;
	int rc = 0;

	if (have_dst) {
		if (!S_ISDIR(t->st.st_mode))
			return -ENOTDIR;
		rc = remove_dirs_empty(fs, t->dirs, dst);
		if (!rc)
			rc = remove_dirs(fs, t->dirs & ~s->dirs, dst, &t->st);
		if (rc)
			return rc;
	}
	nscall(fs, s->dirs, nscall_rename, "rename", &a, res);
	for (unsigned d = 0; d < fs->ndev; d++) {
		if (!(s->dirs & DEVBIT(d)))
			continue;
		if (!res[d].rc)
			done |= DEVBIT(d);
		else if (res[d].rc == -ENOENT)
			again |= DEVBIT(d);	/* @dst's parent missing */
		else if (!rc)
			rc = kv_meta_err(fs, d, "rename", src, -1,
					 res[d].out ? -EIO : res[d].rc);
	}
	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		if (!(again & DEVBIT(d)))
			continue;
		rc = rename_on(fs, d, src, dst, 0, true);
		if (!rc)
			done |= DEVBIT(d);
	}
	if (rc) {
		for (unsigned d = 0; d < fs->ndev; d++)
			if (done & DEVBIT(d))
				rename_on(fs, d, dst, src, 0, false);
	}
	return rc;
}

/*
 * Whether a directory rename or exchange must be refused: a device is
 * failed, or was left out of resolving either name. Its copy of the
 * directory, if it has one, could not be renamed, and renaming the
 * others would split the directory in two when it returns.
 */
static bool dir_rename_blocked(struct kvfs *fs, const struct found *s,
			       const struct found *t, bool have_dst)
{
	bool dirs = S_ISDIR(s->st.st_mode) ||
		    (have_dst && S_ISDIR(t->st.st_mode));

	if (!dirs)
		return false;
	return s->out || t->out || nscall_live(fs) != nscall_all(fs);
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
	const char *from = src, *to = dst;

	if ((sdevs & tdevs) & DEVBIT(d))
		return rename_on(fs, d, src, dst, RENAME_EXCHANGE, false);
	if (!(sdevs & DEVBIT(d)) != undo) {
		from = dst;
		to = src;
	}
	return rename_on(fs, d, from, to, RENAME_NOREPLACE, !undo);
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

/* Whether @s or, if @have_dst, @t is a directory. */
static bool any_dir(const struct found *s, const struct found *t,
		    bool have_dst)
{
	return S_ISDIR(s->st.st_mode) || (have_dst && S_ISDIR(t->st.st_mode));
}

/*
 * The rename's part on the devices, and on the inode table. Under
 * ns_lock, held exclusively (@excl) for a directory: it moves every name
 * below. A file's rename moves its own name only, and runs beside other
 * operations with the lock shared; a file it replaces is marked gone
 * before its number is free (creates run beside, as for unlink).
 */
static int rename_do(struct kvfs *fs, struct inode *p, const char *name,
		     struct inode *np, const char *newname, unsigned flags,
		     const char *src, const char *dst, const struct found *s,
		     const struct found *t, bool have_dst)
{
	bool exchange = flags & RENAME_EXCHANGE, gone = false;
	struct inode *sin, *tin = NULL;
	int rc;

	if (have_dst)
		tin = inode_find(fs, ns_found_ino(fs, t));
	if (tin && !exchange && !(flags & RENAME_NOREPLACE) &&
	    !any_dir(s, t, have_dst))
		gone = inode_gone(fs, tin, &t->st);
	if (exchange)
		rc = have_dst ? rename_exchange(fs, s, t, src, dst) : -ENOENT;
	else if (have_dst && (flags & RENAME_NOREPLACE))
		rc = -EEXIST;
	else if (S_ISDIR(s->st.st_mode))
		rc = rename_dir(fs, s, t, have_dst, src, dst);
	else
		rc = rename_file(fs, s, t, have_dst, src, dst, flags);
	/* a failed one may have moved copies and moved them back */
	dir_changed(fs, p);
	if (np != p)
		dir_changed(fs, np);
	if (rc) {
		if (gone)
			inode_ungone(fs, tin);
		return rc;
	}
	sin = inode_find(fs, ns_found_ino(fs, s));
	if (tin && exchange) {
		rc = inode_rename(fs, tin, np, newname, p, name);
	} else if (tin) {
		/* a directory's: nothing is created while it is held */
		if (!gone)
			inode_gone(fs, tin, &t->st);
		inode_unname(fs, tin, np, newname);
	}
	if (sin && !rc)
		rc = inode_rename(fs, sin, p, name, np, newname);
	return rc;
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct kvfs *fs = kv_fs(req);
	struct inode *p = inode_of(fs, parent), *np = inode_of(fs, newparent);
	char src[KV_PATH_MAX], dst[KV_PATH_MAX];
	bool have_dst, excl = false;
	struct found s, t;
	int rc;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return (void)fuse_reply_err(req, EINVAL);
	rc = kv_as_caller(req) ?: kv_check_name(name);
	if (!rc)
		rc = kv_check_name(newname);
	if (rc)
		return (void)fuse_reply_err(req, -rc);

	/* shared first: a file's rename need not wait for anyone */
again:
	if (excl)
		pthread_rwlock_wrlock(&fs->ns_lock);
	else
		pthread_rwlock_rdlock(&fs->ns_lock);
	rc = inode_child_path(fs, p, name, src, sizeof(src));
	if (rc >= 0)
		rc = inode_child_path(fs, np, newname, dst, sizeof(dst));
	if (rc >= 0)
		rc = ns_resolve_full(fs, src, &s);
	if (rc == -ENOENT && s.out)
		rc = -EIO;	/* it may be on a device left out */
	if (rc < 0)
		goto out;
	rc = ns_resolve_full(fs, dst, &t);
	if (rc && rc != -ENOENT)
		goto out;
	have_dst = !rc;
	rc = 0;
	if (!excl && any_dir(&s, &t, have_dst)) {
		/* a directory moves every name below it: alone */
		pthread_rwlock_unlock(&fs->ns_lock);
		excl = true;
		goto again;
	}
	if (have_dst && s.dev == t.dev && s.st.st_ino == t.st.st_ino)
		goto out;	/* two names of one file: nothing to do */
	if (dir_rename_blocked(fs, &s, &t, have_dst))
		rc = -EIO;
	else
		rc = rename_do(fs, p, name, np, newname, flags, src, dst, &s,
			       &t, have_dst);
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}
