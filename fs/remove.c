/*
 * remove.c - unlink and rmdir: a file goes from its device (its data kept
 * readable while the kernel may have it open), a directory from every
 * device that answers (a failed device's copy stays, see design.md).
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
#include "nscall.h"
#include "ops.h"
#include "remove.h"

/*
 * Remove non-directories named @path on the devices of @where but @keep:
 * stale copies (made by hand) must not resurface under a name that is
 * gone. @where: the devices a lookup just saw holding one. Each is looked
 * at first and written only if it has one: an unlink
 * asks the file system for write access before it looks, so a device
 * that takes no writes (frozen, hung) would hold up every unlink and
 * rename on the others. They are asked at once, each within the device
 * timeout; a failed one is not asked.
 */
void remove_sweep_stale(struct kvfs *fs, unsigned keep, const char *path,
			devmask_t where)
{
	struct nsargs a = { .path = path };
	struct nsres res[DEV_MAX];

	where &= ~DEVBIT(keep);
	if (where)
		nscall(fs, where, nscall_unlink_stale, "unlink", &a, res);
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
	remove_sweep_stale(fs, (unsigned)f->dev, path, f->files);
	return 0;
}

int remove_dirs_empty(struct kvfs *fs, devmask_t dirs, const char *path)
{
	struct nsargs a = { .path = path };
	struct nsres res[DEV_MAX];
	devmask_t out = nscall(fs, dirs, nscall_empty, "listing", &a, res);

	for (unsigned d = 0; d < fs->ndev; d++) {
		int rc = res[d].rc;

		if (!(dirs & DEVBIT(d)))
			continue;
		if (out & DEVBIT(d))
			return -EIO;	/* cannot tell: failed, no answer */
		if (rc)
			return kv_meta_err(fs, d, "listing", path, -1, rc);
	}
	return 0;
}

/*
 * Remove directory copies on @dirs, all at once, each within the device
 * timeout; put back what was removed on failure.
 */
int remove_dirs(struct kvfs *fs, devmask_t dirs, const char *path,
		const struct stat *st)
{
	struct nsargs a = { .path = path };
	struct nsres res[DEV_MAX];
	devmask_t gone = 0;
	int rc = 0;

	nscall(fs, dirs, nscall_rmdir, "rmdir", &a, res);
	for (unsigned d = 0; d < fs->ndev; d++) {
		if (!(dirs & DEVBIT(d)))
			continue;
		kv_meta_err(fs, d, "rmdir", path, -1, res[d].rc);
		if (!res[d].rc)
			gone |= DEVBIT(d);
		else if (!rc)
			rc = res[d].rc == -ETIMEDOUT ? -EIO : res[d].rc;
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
	rc = ns_resolve_full(fs, path, &f);
	if (rc == -ENOENT && f.out)
		rc = -EIO;	/* it may be on a device left out */
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
