/*
 * remove.c - unlink and rmdir: a file goes from its device (its data kept
 * readable while the kernel may have it open), a directory from them all.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "dir.h"
#include "fcache.h"
#include "inode.h"
#include "limit.h"
#include "ops.h"
#include "remove.h"

/*
 * Remove non-directories named @path on every device but @keep: stale
 * copies (made by hand) must not resurface under a name that is gone.
 * Each device is looked at first and written only if it has one: an
 * unlink asks the file system for write access before it looks, so a
 * device that takes no writes (frozen, hung) would hold up every unlink
 * and rename on the others.
 */
void remove_sweep_stale(struct kvfs *fs, unsigned keep, const char *path)
{
	struct stat st;
	const char *name;

	for (unsigned d = 0; d < fs->ndev; d++) {
		int root = kv_rootfd(fs, d), dir;

		if (d == keep)
			continue;
		dir = beneath_parent(root, path, &name);
		if (dir < 0)
			continue;
		if (!fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) &&
		    !S_ISDIR(st.st_mode))
			unlinkat(dir, name, 0);
		beneath_close(root, dir);
	}
}


/*
 * The name @path of regular file @f is about to go: if the kernel knows
 * the file (@in, else NULL), a client may have it open, and its data must
 * stay readable through a backing file opened now (fcache_keep()).
 */
int remove_keep_open(struct kvfs *fs, struct inode *in, const struct found *f,
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
	rc = remove_keep_open(fs, in, f, path);
	if (rc)
		return rc;
	rc = beneath_unlink(kv_rootfd(fs, (unsigned)f->dev), path, 0);
	if (rc) {
		kv_dev_err(fs, (unsigned)f->dev, DEVERR_META, "unlink", path,
			   rc);
		return rc;
	}
	limit_removed(fs, in, f);
	remove_sweep_stale(fs, (unsigned)f->dev, path);
	return 0;
}

/* 0 if directory @path on @dev has no entry, -ENOTEMPTY or -errno. */
static int dir_empty(struct kvfs *fs, unsigned dev, const char *path)
{
	struct dirent *de = NULL;
	DIR *dir;
	int rc = ns_opendir(fs, dev, path, &dir);

	if (!rc) {
		errno = 0;
		while ((de = readdir(dir)) && (!strcmp(de->d_name, ".") ||
					       !strcmp(de->d_name, "..")))
			;
		/* a failed read is no empty directory */
		rc = de ? -ENOTEMPTY : -errno;
		closedir(dir);
	}
	return kv_meta_err(fs, dev, "listing", path, -1, rc);
}

int remove_dirs_empty(struct kvfs *fs, devmask_t dirs, const char *path)
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
int remove_dirs(struct kvfs *fs, devmask_t dirs, const char *path,
		const struct stat *st)
{
	devmask_t gone = 0;
	int rc = 0;

	for (unsigned d = 0; !rc && d < fs->ndev; d++) {
		if (!(dirs & DEVBIT(d)))
			continue;
		rc = beneath_unlink(kv_rootfd(fs, d), path, AT_REMOVEDIR);
		kv_meta_err(fs, d, "rmdir", path, -1, rc);
		if (!rc)
			gone |= DEVBIT(d);
	}
	if (!rc)
		return 0;
	for (unsigned d = 0; d < fs->ndev; d++) {
		int root = kv_rootfd(fs, d);

		if (!(gone & DEVBIT(d)))
			continue;
		if (!beneath_mkdir(root, path, st->st_mode & 07777)) {
			beneath_chown(root, path, st->st_uid, st->st_gid);
			beneath_chmod(root, path, st->st_mode & 07777);
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
	rc = remove_dirs_empty(fs, f->dirs, path);
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

	rc = ns_child_begin(fs, parent, name, path);
	if (rc)
		return (void)fuse_reply_err(req, -rc);
	rc = ns_resolve(fs, path, &f);
	if (!rc) {
		/*
		 * Gone before its number is free: a create running beside
		 * us may get the number and must not get this inode.
		 */
		in = inode_find(fs, ns_found_ino(fs, &f));
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
