/*
 * wmark.c - the write mark on backing files being written (wmark.h).
 *
 * Invariant: while any byte a writer of this daemon sent may be missing
 * from the device, the backing file carries WMARK_XATTR. A write raises
 * in->wbusy and in->wgen before it looks at the state; a FLUSH that ends
 * the session sets WMARK_ENDING before it looks at wbusy (both seq_cst),
 * so either the write sees the session ending and waits for
 * fs->wmark_mu, or the FLUSH sees the write and leaves the mark.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "beneath.h"
#include "dfile.h"
#include "log.h"
#include "wmark.h"

static const char wmark_value[1] = { WMARK_VERSION };

/* A device whose filesystem cannot hold the mark: log once, write on. */
static bool cannot_mark(struct kvfs *fs, unsigned dev, int err)
{
	if (err != EOPNOTSUPP && err != EPERM && err != EACCES)
		return false;
	if (!atomic_exchange(&fs->nomark[dev], true))
		log_warn("device %u: cannot mark files being written (%s): "
			 "a file cut short by a crash is served as it is",
			 dev, strerror(err));
	return true;
}

static void log_torn(struct kvfs *fs, struct inode *in, int fd,
		     const char *path)
{
	unsigned n = atomic_fetch_add(&fs->torn_found, 1) + 1;
	char name[PATH_MAX], proc[64];
	ssize_t len;

	if (n > WMARK_LOG_MAX)
		return;
	if (path) {
		snprintf(name, sizeof(name), "%s/%s",
			 kv_dev(fs, (unsigned)in->dev)->path, path);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		len = readlink(proc, name, sizeof(name) - 1);
		if (len < 0)
			len = 0;
		name[len] = '\0';
	}
	log_warn("torn file %s: it was being written when its daemon "
		 "stopped; reads fail with EIO until it is rewritten with "
		 "O_TRUNC or removed", name);
	if (n == WMARK_LOG_MAX)
		log_warn("%u torn files logged; further ones are only counted "
			 "(user.kvstripe.torn of the mount's root)", n);
}

enum wmark_state wmark_check(struct kvfs *fs, struct inode *in, int fd,
			     const char *path)
{
	enum wmark_state st = atomic_load(&in->wmark);
	bool found;
	char v;
	ssize_t n;

	if (st != WMARK_UNKNOWN)
		return st;
	if (fd >= 0) {
		n = fgetxattr(fd, WMARK_XATTR, &v, 1);
		found = n >= 0 || errno == ERANGE;
	} else {
		/* confined, as every path (core/beneath.h) */
		int pfd = beneath_open(kv_rootfd(fs, (unsigned)in->dev), path,
				       O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);

		if (pfd < 0)
			return WMARK_UNKNOWN;
		n = fgetxattr(pfd, WMARK_XATTR, &v, 1);
		found = n >= 0 || errno == ERANGE;
		close(pfd);
	}
	/* a longer value is a later format's mark: still a mark */
	pthread_mutex_lock(&fs->wmark_mu);
	st = atomic_load(&in->wmark);
	if (st == WMARK_UNKNOWN) {
		st = found ? WMARK_TORN : WMARK_NONE;
		atomic_store(&in->wmark, st);
	} else {
		found = false;	/* another request looked first */
	}
	pthread_mutex_unlock(&fs->wmark_mu);
	if (found)
		log_torn(fs, in, fd, path);
	return st;
}

bool wmark_torn(struct inode *in)
{
	return atomic_load(&in->wmark) == WMARK_TORN;
}

int wmark_create(struct kvfs *fs, unsigned dev, int fd)
{
	if (atomic_load(&fs->nomark[dev]))
		return 0;
	if (!fsetxattr(fd, WMARK_XATTR, wmark_value, sizeof(wmark_value), 0))
		return 1;
	return cannot_mark(fs, dev, errno) ? 0 : -errno;
}

void wmark_created(struct inode *in, bool marked)
{
	atomic_store(&in->wowner, 0);
	atomic_store(&in->wfailed, false);
	atomic_store(&in->wunsynced, false);
	atomic_store(&in->wmark, marked ? WMARK_OURS : WMARK_NONE);
}

int wmark_write_begin(struct kvfs *fs, struct inode *in, struct dfile *df,
		      uint64_t owner, bool trunc0)
{
	enum wmark_state st;
	int rc = 0;

	atomic_fetch_add(&in->wbusy, 1);
	atomic_fetch_add(&in->wgen, 1);
	if (owner)
		atomic_store(&in->wowner, owner);
	st = atomic_load(&in->wmark);
	if (st == WMARK_OURS ||
	    (st == WMARK_NONE && atomic_load(&fs->nomark[in->dev])) ||
	    (st == WMARK_TORN && !trunc0))
		return 0;	/* a write to a torn file leaves it torn */
	if (st == WMARK_UNKNOWN)
		wmark_check(fs, in, dfile_fd(df), NULL);
	pthread_mutex_lock(&fs->wmark_mu);
	st = atomic_load(&in->wmark);
	if (st == WMARK_NONE) {
		if (!fsetxattr(dfile_fd(df), WMARK_XATTR, wmark_value,
			       sizeof(wmark_value), 0)) {
			atomic_store(&in->wmark, WMARK_OURS);
			rc = 1;
		} else if (!cannot_mark(fs, (unsigned)in->dev, errno)) {
			rc = -errno;
		}
	} else if (st == WMARK_TORN && trunc0) {
		/* its mark stays: from now on it is ours */
		atomic_store(&in->wmark, WMARK_OURS);
	}
	if (trunc0)
		atomic_store(&in->wfailed, false);	/* written anew */
	pthread_mutex_unlock(&fs->wmark_mu);
	if (rc < 0)
		atomic_fetch_sub(&in->wbusy, 1);
	return rc;
}

void wmark_write_end(struct inode *in, int rc)
{
	/* bytes a writer sent are missing: the mark stays */
	if (rc < 0 && atomic_load(&in->wmark) == WMARK_OURS)
		atomic_store(&in->wfailed, true);
	atomic_fetch_sub(&in->wbusy, 1);
}

/*
 * Everything written before @gen0 was counted is settled: make it
 * durable if it went through the page cache, then remove the mark unless
 * a write began since.
 */
static int end_session(struct kvfs *fs, struct inode *in, struct dfile *df,
		       unsigned gen0)
{
	int rc = 0;

	if (atomic_load(&in->wfailed))
		return 0;
	if (atomic_load(&in->wunsynced) || dfile_unsynced(df)) {
		rc = dfile_fsync(df, true);
		if (rc)
			return rc;
		atomic_store(&in->wunsynced, false);
	}
	/* the record first: a crash between the two leaves the file torn */
	rc = dfile_seal(df);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->wmark_mu);
	if (atomic_load(&in->wmark) != WMARK_OURS)
		goto out;
	atomic_store(&in->wmark, WMARK_ENDING);
	if (atomic_load(&in->wbusy) || atomic_load(&in->wgen) != gen0) {
		atomic_store(&in->wmark, WMARK_OURS);	/* still written */
		goto out;
	}
	if (fremovexattr(dfile_fd(df), WMARK_XATTR) && errno != ENODATA) {
		/* its callers' errors are told where they are met: this here */
		rc = kv_meta_err(fs, (unsigned)in->dev,
				 "removing the write mark", NULL, dfile_fd(df),
				 -errno);
		atomic_store(&in->wmark, WMARK_OURS);
		goto out;
	}
	atomic_store(&in->wowner, 0);
	atomic_store(&in->wmark, WMARK_NONE);
out:
	pthread_mutex_unlock(&fs->wmark_mu);
	return rc;
}

int wmark_flush(struct kvfs *fs, struct inode *in, struct dfile *df,
		uint64_t owner)
{
	uint64_t last = atomic_load(&in->wowner);
	unsigned gen0 = atomic_load(&in->wgen);
	int rc = dfile_settle(df);

	if (atomic_load(&in->wmark) != WMARK_OURS)
		return rc;
	if (rc) {
		atomic_store(&in->wfailed, true);	/* stays marked */
		return rc;
	}
	/* another process closing: the last writer has it open still */
	if (last && owner != last)
		return 0;
	return end_session(fs, in, df, gen0);
}

int wmark_close(struct kvfs *fs, struct inode *in, struct dfile *df,
		bool forgotten)
{
	unsigned gen0 = atomic_load(&in->wgen);
	int rc;

	if (atomic_load(&in->wmark) != WMARK_OURS)
		return 0;
	rc = dfile_settle(df);
	if (rc) {
		atomic_store(&in->wfailed, true);
		return rc;
	}
	if (forgotten)
		return end_session(fs, in, df, gen0);
	/* reopened later, the file must still be synced before the mark goes */
	if (dfile_unsynced(df))
		atomic_store(&in->wunsynced, true);
	return 0;
}

int wmark_end(struct kvfs *fs, struct inode *in, struct dfile *df)
{
	unsigned gen0 = atomic_load(&in->wgen);
	int rc = dfile_settle(df);

	if (atomic_load(&in->wmark) != WMARK_OURS)
		return rc;
	if (rc) {
		atomic_store(&in->wfailed, true);
		return rc;
	}
	return end_session(fs, in, df, gen0);
}

const char *wmark_state_name(enum wmark_state st)
{
	switch (st) {
	case WMARK_OURS:
	case WMARK_ENDING:
		return "writing";
	case WMARK_TORN:
		return "torn";
	default:
		return "closed";
	}
}
