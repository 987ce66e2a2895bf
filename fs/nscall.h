/*
 * nscall.h - namespace calls on several devices at once, each within the
 * device timeout (core/devcall.h): what a lookup, a listing, a directory's
 * attributes or a change to its copies asks of the devices.
 *
 * A device that is failed is not asked; one that does not answer in time
 * is failed and left out. Either way it is "out": its result is not
 * known, and the caller goes on without it (a lookup or listing leaves its
 * entries out) or refuses (what needs every copy).
 */
#ifndef FS_NSCALL_H
#define FS_NSCALL_H

#include <sys/types.h>

#include "fs_i.h"

/* What a call is given: copied into the call, so nothing need outlive it. */
struct nsargs {
	const char *path;	/* below the device's root; required */
	const char *path2;	/* a second path (rename), or NULL */
	const char *name;	/* an xattr's name, or NULL */
	const void *val;	/* an xattr's value, @vlen bytes, or NULL */
	size_t vlen;
	int flags;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec tv[2];
	struct stat st;		/* attributes to give (setattr) */
	bool set_umask;		/* mkdir: under umask @umask, not the */
	mode_t umask;		/* worker's */
	uint64_t floor;		/* a listing's window: after this cookie */
	size_t window;		/* ... this many entries (dirsnap.h) */
};

/* What a call on one device gave. */
struct nsres {
	int rc;			/* the call's result, or -EIO / -ETIMEDOUT if out */
	bool out;		/* not asked, or no answer in time */
	struct stat st;		/* a stat's result */
	void *buf;		/* a result the caller now owns, or NULL */
	void (*buf_free)(void *buf);	/* how to free it; NULL: free() */
	const char *what;	/* which call failed, for the log: a literal */
};

/* Free @r's buf, if any. */
void nscall_res_free(struct nsres *r);

/*
 * The call itself, run in the device's worker with its root descriptor:
 * returns 0 or -errno and may fill @r (r->buf, freed with r->buf_free if
 * the caller has gone).
 */
typedef int (*nsfn)(int root, const struct nsargs *a, struct nsres *r);

/*
 * Run @fn (@op, a literal for the log) with @a on every device of @devs,
 * all at once, and wait for them within the device timeout. Each call
 * acts for the identity the calling thread acts for (core/caller.h). @res[d] is
 * set for each device d of @devs (the caller frees each with
 * nscall_res_free()). Returns
 * the devices of @devs that were out; -ENOMEM is a result on the devices
 * a call could not be made for (not out).
 */
devmask_t nscall(struct kvfs *fs, devmask_t devs, nsfn fn, const char *op,
		 const struct nsargs *a, struct nsres *res);

/*
 * Whether @res (of the devices on @done, those whose calls ended; others'
 * are not to be read) is enough for the caller: see nscall_until().
 */
typedef bool nscall_enough_fn(void *ctx, const struct nsres *res,
			      devmask_t done);

/*
 * nscall(), but the wait ends as soon as @enough says so, checked each
 * time a call ends. The devices whose calls had not ended then are out
 * (rc -ECANCELED), and are not failed for it.
 */
devmask_t nscall_until(struct kvfs *fs, devmask_t devs, nsfn fn,
		       const char *op, const struct nsargs *a,
		       struct nsres *res, nscall_enough_fn *enough,
		       void *ctx);

/*
 * nscall() on device @d alone, its result in *@r. Returns r->rc (-EIO if
 * @d is failed, -ETIMEDOUT if it did not answer in time: r->out).
 */
int nscall_one(struct kvfs *fs, unsigned d, nsfn fn, const char *op,
	       const struct nsargs *a, struct nsres *r);

/* Every device, and those not failed: what may be asked. */
devmask_t nscall_all(const struct kvfs *fs);
devmask_t nscall_live(const struct kvfs *fs);

/*
 * The calls namespace operations share, as nsfn: beneath_stat() of
 * a->path into r->st; 0 if directory a->path has no entry, else
 * -ENOTEMPTY; mkdir of a->path with a->mode (and a->umask if
 * a->set_umask); the same, an existing one
 * taken, then given owner a->uid, a->gid and mode a->mode; chmod of
 * a->path to a->mode; rmdir of a->path; rename of
 * a->path to a->path2 with a->flags; unlink of a non-directory a->path (0
 * if there is none: it looks first, so that a device taking no writes is
 * not asked to write).
 */
int nscall_stat(int root, const struct nsargs *a, struct nsres *r);
int nscall_empty(int root, const struct nsargs *a, struct nsres *r);
int nscall_mkdir(int root, const struct nsargs *a, struct nsres *r);
int nscall_mkdir_as(int root, const struct nsargs *a, struct nsres *r);
int nscall_chmod(int root, const struct nsargs *a, struct nsres *r);
int nscall_rmdir(int root, const struct nsargs *a, struct nsres *r);
int nscall_rename(int root, const struct nsargs *a, struct nsres *r);
int nscall_unlink_stale(int root, const struct nsargs *a, struct nsres *r);

#endif /* FS_NSCALL_H */
