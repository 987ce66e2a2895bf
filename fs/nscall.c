/*
 * nscall.c - namespace calls on several devices at once, each within the
 * device timeout; see nscall.h. A call carries copies of its arguments
 * and its own results, since its caller may leave before it ends.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "caller.h"
#include "devcall.h"
#include "nscall.h"

struct nsjob {
	struct devcall c;	/* first */
	nsfn fn;
	int root;
	struct caller who;	/* whom the caller acts for */
	struct nsargs a;
	struct nsres r;
	char str[];		/* a's strings and value */
};

void nscall_res_free(struct nsres *r)
{
	if (r->buf)
		(r->buf_free ? r->buf_free : free)(r->buf);
	r->buf = NULL;
}

static int job_run(struct devcall *c)
{
	struct nsjob *j = (struct nsjob *)c;
	int rc = caller_enter(j->who);

	return rc ?: j->fn(j->root, &j->a, &j->r);
}

static void job_release(struct devcall *c)
{
	struct nsjob *j = (struct nsjob *)c;

	nscall_res_free(&j->r);
	free(j);
}

/* Copy @s into @p, return the copy; NULL stays NULL. */
static const char *put_str(char **p, const char *s)
{
	char *at = *p;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(at, s, n);
	*p += n;
	return at;
}

static struct nsjob *job_new(struct kvfs *fs, unsigned d, nsfn fn,
			     const char *op, const struct nsargs *a)
{
	size_t n = strlen(a->path) + 1 + (a->path2 ? strlen(a->path2) + 1 : 0) +
		   (a->name ? strlen(a->name) + 1 : 0) + a->vlen;
	struct nsjob *j = calloc(1, sizeof(*j) + n);
	char *p;

	if (!j)
		return NULL;
	j->c.run = job_run;
	j->c.release = job_release;
	j->c.op = op;
	j->c.dev = d;
	j->fn = fn;
	j->root = kv_rootfd(fs, d);
	j->who = caller_now();
	j->a = *a;
	p = j->str;
	j->a.path = put_str(&p, a->path);
	j->a.path2 = put_str(&p, a->path2);
	j->a.name = put_str(&p, a->name);
	if (a->val) {
		memcpy(p, a->val, a->vlen);
		j->a.val = p;
	}
	return j;
}

struct until {
	nscall_enough_fn *enough;
	void *ctx;
	struct nsres *res;	/* the caller's: the ended calls' so far */
};

/* devcall_enough_fn for nscall_until(): under devcall's lock. */
static bool until_enough(void *ctx, struct devcall *const *calls,
			 unsigned n)
{
	struct until *u = ctx;
	devmask_t done = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct nsjob *j = (const struct nsjob *)calls[i];

		if (!j->c.done)
			continue;
		done |= DEVBIT(j->c.dev);
		u->res[j->c.dev].rc = j->c.res;
		u->res[j->c.dev].st = j->r.st;
	}
	return u->enough(u->ctx, u->res, done);
}

/*
 * nscall_until(), with the results in @res[d], or in @res[0] if @one;
 * @enough NULL: wait for all.
 */
static devmask_t run(struct kvfs *fs, devmask_t devs, nsfn fn, const char *op,
		     const struct nsargs *a, struct nsres *res, bool one,
		     nscall_enough_fn *enough, void *ctx)
{
	struct until u = { enough, ctx, res };
	struct devcall *calls[DEV_MAX];
	devmask_t out = 0;
	unsigned n = 0;

	for (unsigned d = 0; d < fs->ndev; d++) {
		struct nsjob *j;

		if (!(devs & DEVBIT(d)))
			continue;
		memset(&res[one ? 0 : d], 0, sizeof(*res));
		j = job_new(fs, d, fn, op, a);
		if (!j) {
			res[one ? 0 : d].rc = -ENOMEM;
			continue;
		}
		calls[n++] = &j->c;
	}
	if (!n)
		return 0;
	devcall_run_until(fs->calls, calls, n, enough ? until_enough : NULL,
			  &u);
	for (unsigned i = 0; i < n; i++) {
		struct nsjob *j = (struct nsjob *)calls[i];
		struct nsres *r = &res[one ? 0 : j->c.dev];

		r->rc = j->c.rc;
		r->out = j->c.out;
		if (r->out) {
			out |= DEVBIT(j->c.dev);
		} else {
			r->st = j->r.st;
			r->buf = j->r.buf;
			r->buf_free = j->r.buf_free;
			j->r.buf = NULL;
		}
		devcall_put(fs->calls, &j->c);
	}
	return out;
}

devmask_t nscall(struct kvfs *fs, devmask_t devs, nsfn fn, const char *op,
		 const struct nsargs *a, struct nsres *res)
{
	return run(fs, devs, fn, op, a, res, false, NULL, NULL);
}

devmask_t nscall_until(struct kvfs *fs, devmask_t devs, nsfn fn,
		       const char *op, const struct nsargs *a,
		       struct nsres *res, nscall_enough_fn *enough,
		       void *ctx)
{
	return run(fs, devs, fn, op, a, res, false, enough, ctx);
}

int nscall_one(struct kvfs *fs, unsigned d, nsfn fn, const char *op,
	       const struct nsargs *a, struct nsres *r)
{
	run(fs, DEVBIT(d), fn, op, a, r, true, NULL, NULL);
	return r->rc;
}

devmask_t nscall_all(const struct kvfs *fs)
{
	return fs->ndev >= 64 ? ~(devmask_t)0 : DEVBIT(fs->ndev) - 1;
}

devmask_t nscall_live(const struct kvfs *fs)
{
	devmask_t m = 0;

	for (unsigned d = 0; d < fs->ndev; d++)
		if (!health_failed(fs->health, d))
			m |= DEVBIT(d);
	return m;
}

int nscall_stat(int root, const struct nsargs *a, struct nsres *r)
{
	return beneath_stat(root, a->path, &r->st);
}

int nscall_empty(int root, const struct nsargs *a, struct nsres *r)
{
	struct dirent *de;
	DIR *dir;
	int fd = beneath_open(root, a->path, O_RDONLY | O_DIRECTORY, 0), rc;

	(void)r;
	if (fd < 0)
		return fd;
	dir = fdopendir(fd);
	if (!dir) {
		rc = -errno;
		close(fd);
		return rc;
	}
	errno = 0;
	while ((de = readdir(dir)) && (!strcmp(de->d_name, ".") ||
				       !strcmp(de->d_name, "..")))
		;
	/* a failed read is no empty directory */
	rc = de ? -ENOTEMPTY : -errno;
	closedir(dir);
	return rc;
}

int nscall_mkdir(int root, const struct nsargs *a, struct nsres *r)
{
	static __thread bool own_umask;

	(void)r;
	if (a->set_umask) {
		/* the umask lives in the fs_struct the threads share */
		if (!own_umask && unshare(CLONE_FS))
			return -errno;
		own_umask = true;
		umask(a->umask);
	}
	return beneath_mkdir(root, a->path, a->mode);
}

int nscall_mkdir_as(int root, const struct nsargs *a, struct nsres *r)
{
	int rc = beneath_mkdir(root, a->path, a->mode);

	(void)r;
	if (rc == -EEXIST)
		rc = 0;
	return rc ?: beneath_chown(root, a->path, a->uid, a->gid) ?:
	       beneath_chmod(root, a->path, a->mode);
}

int nscall_chmod(int root, const struct nsargs *a, struct nsres *r)
{
	(void)r;
	return beneath_chmod(root, a->path, a->mode);
}

int nscall_rmdir(int root, const struct nsargs *a, struct nsres *r)
{
	(void)r;
	return beneath_unlink(root, a->path, AT_REMOVEDIR);
}

int nscall_rename(int root, const struct nsargs *a, struct nsres *r)
{
	(void)r;
	return beneath_rename(root, a->path, a->path2, (unsigned)a->flags);
}

int nscall_unlink_stale(int root, const struct nsargs *a, struct nsres *r)
{
	const char *name;
	struct stat st;
	int dir = beneath_parent(root, a->path, &name), rc = 0;

	(void)r;
	if (dir < 0)
		return 0;
	if (!fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) &&
	    !S_ISDIR(st.st_mode))
		rc = unlinkat(dir, name, 0) ? -errno : 0;
	beneath_close(root, dir);
	return rc;
}
