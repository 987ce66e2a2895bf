/*
 * dfile_sum.c - a dfile's checksums (csum.h): hash what its writes carry,
 * store the record when dfile_seal() is called, and check every read of
 * a file that has one before its bytes are returned. Primitives of the
 * dfile module (dfile_i.h): called by dfile.c and dfio.c, calling only
 * csum.c and the log.
 *
 * A record on the backing file always matches the bytes: the first change
 * through a dfile removes it (a file can change without being sealed
 * again: a shared mapping's writeback), and dfile_seal() stores the new
 * one once the writes have landed.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "align.h"
#include "dfile_i.h"
#include "kvio_i.h"
#include "log.h"

/* Mismatch lines per engine; past them files are only counted. */
#define SUM_LOG_MAX 64

int dfile_sum_init(struct dfile *f)
{
	atomic_init(&f->sum_state, f->io->sum.verify ? SUM_UNKNOWN : SUM_NONE);
	return -pthread_mutex_init(&f->sum_mu, NULL);
}

void dfile_sum_destroy(struct dfile *f)
{
	csum_acc_free(f->acc);
	free(f->sums);
	pthread_mutex_destroy(&f->sum_mu);
}

/* The backing file's name, for a log line. */
static const char *sum_name(const struct dfile *f, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", f->fd);
	n = readlink(link, buf, len - 1);
	if (n < 0)
		return "?";
	buf[n] = '\0';
	return buf;
}

/*
 * Log a line about @f's checksums: SUM_LOG_MAX per engine, then one
 * saying the rest are counted only.
 */
__attribute__((format(printf, 2, 3)))
static void sum_log(struct dfile *f, const char *fmt, ...)
{
	unsigned n = atomic_fetch_add(&f->io->sum.logged, 1);
	char name[PATH_MAX], what[256];
	va_list ap;

	if (n > SUM_LOG_MAX)
		return;
	if (n == SUM_LOG_MAX) {
		log_err("device %u: further checksum problems are counted, "
			"not logged", f->dev);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_err("device %u: '%s': %s", f->dev,
		sum_name(f, name, sizeof(name)), what);
}

void dfile_sum_load(struct dfile *f)
{
	struct csum_rec *r = NULL;
	int rc;

	if (atomic_load(&f->sum_state) != SUM_UNKNOWN)
		return;
	rc = csum_load(f->fd, &r);
	if (!rc && r->size == atomic_load(&f->size)) {
		f->sums = r;
		atomic_store(&f->sum_unit, csum_unit(r));
		atomic_store(&f->sum_state, SUM_LOADED);
		return;
	}
	if (!rc || rc == -EBADMSG) {
		sum_log(f, "its checksum record %s: its reads fail with EIO",
			rc ? "is malformed" : "does not match its size");
		free(r);
		atomic_store(&f->sum_state, SUM_BAD);
		return;
	}
	/* none, a version this build does not know, no xattrs: unverified */
	atomic_store(&f->sum_state, SUM_NONE);
}

int dfile_sum_change(struct dfile *f)
{
	int st = atomic_load(&f->sum_state);
	int rc = 0;

	if (st == SUM_CHANGED)
		return 0;
	/* unknown: there may be one; none: one may have come since open */
	rc = csum_remove(f->fd);
	if (rc == -EOPNOTSUPP)
		rc = 0;
	if (rc)
		return rc;
	free(f->sums);
	f->sums = NULL;
	atomic_store(&f->sum_unit, 0);
	atomic_store(&f->span_ok, 0);
	atomic_store(&f->sum_state, SUM_CHANGED);
	return 0;
}

/* The accumulator, made on first use; NULL with checking off or no memory. */
static struct csum_acc *sum_acc(struct dfile *f)
{
	if (!f->io->sum.verify)
		return NULL;
	if (!f->acc && csum_acc_new(&f->acc))
		f->acc = NULL;	/* sealing reads every chunk back */
	return f->acc;
}

void dfile_sum_wrote(struct dfile *f, const void *data, size_t len,
		     uint64_t off, int rc)
{
	struct csum_acc *a;

	if (!f->io->sum.verify)
		return;	/* nothing hashed: no lock on the write path */
	pthread_mutex_lock(&f->sum_mu);
	a = sum_acc(f);
	if (a && !rc)
		csum_acc_write(a, data, len, off);
	else if (a)
		csum_acc_touch(a, off, len);
	pthread_mutex_unlock(&f->sum_mu);
}

void dfile_sum_truncated(struct dfile *f, uint64_t old)
{
	struct csum_acc *a;

	if (!f->io->sum.verify)
		return;	/* nothing hashed: no lock on the write path */
	pthread_mutex_lock(&f->sum_mu);
	a = sum_acc(f);
	if (a)
		csum_acc_truncate(a, old, atomic_load(&f->size));
	pthread_mutex_unlock(&f->sum_mu);
}

void dfile_sum_touched(struct dfile *f, uint64_t off, uint64_t len)
{
	struct csum_acc *a;

	if (!f->io->sum.verify)
		return;	/* nothing hashed: no lock on the write path */
	pthread_mutex_lock(&f->sum_mu);
	a = sum_acc(f);
	if (a)
		csum_acc_touch(a, off, len);
	pthread_mutex_unlock(&f->sum_mu);
}

/* Whether a failure to store a record leaves the file unverified only. */
static bool sum_cannot_store(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT || rc == -E2BIG ||
	       rc == -EOPNOTSUPP || rc == -ERANGE;
}

/*
 * Store the record of @f's @size bytes from its accumulator's chunk
 * hashes: units as small as the filesystem takes (ext4 keeps a file's
 * attributes in one block; tmpfs or XFS take up to 64 KiB). Returns 0,
 * or -errno of the last store tried.
 */
static int sum_store(struct dfile *f, uint64_t size)
{
	unsigned g = csum_group_shift(size, CSUM_UNITS_MAX);
	struct csum_rec *r;
	uint32_t n;
	int rc;

	for (;; g++) {
		rc = csum_acc_record(f->acc, size, g, &r);
		if (rc)
			return rc;
		n = r->n;
		rc = csum_store(f->fd, r);
		if (!rc)
			break;
		free(r);
		if (!sum_cannot_store(rc) || n <= CSUM_UNITS_FIT)
			return rc;
	}
	free(f->sums);
	f->sums = r;
	atomic_store(&f->span_ok, 0);
	atomic_store(&f->sum_unit, csum_unit(r));
	atomic_store(&f->sum_state, SUM_LOADED);
	atomic_fetch_add(&f->io->sum.sealed, 1);
	return 0;
}

int dfile_sum_seal(struct dfile *f, csum_read_fn read, void *ctx)
{
	uint64_t size = atomic_load(&f->size);
	char name[PATH_MAX];
	int rc;

	if (!f->io->sum.verify)
		return 0;
	dfile_sum_load(f);
	if (atomic_load(&f->sum_state) == SUM_LOADED)
		return 0;	/* unchanged since its record */
	pthread_mutex_lock(&f->sum_mu);
	rc = sum_acc(f) ? csum_acc_finish(f->acc, size, read, ctx) : -ENOMEM;
	if (f->acc)
		atomic_fetch_add(&f->io->sum.reread, csum_acc_reread(f->acc));
	if (!rc)
		rc = sum_store(f, size);
	pthread_mutex_unlock(&f->sum_mu);
	if (!rc || !sum_cannot_store(rc))
		return rc;
	log_warn("device %u: no room for the checksums of '%s' (%s): "
		 "it is served unverified", f->dev,
		 sum_name(f, name, sizeof(name)), strerror(-rc));
	atomic_store(&f->sum_state, SUM_CHANGED);
	return 0;
}

int dfile_sum_span(struct dfile *f, uint64_t off, uint64_t len, uint64_t *lo,
		   uint64_t *hi)
{
	int st = atomic_load(&f->sum_state);
	uint64_t unit, end = off + len;

	if (st == SUM_BAD)
		return -EIO;
	if (st != SUM_LOADED) {
		*lo = off;
		*hi = end;
		return 0;
	}
	unit = csum_unit(f->sums);
	*lo = align_down(off, unit);
	*hi = align_up(end, unit);
	if (*hi > f->sums->size)
		*hi = f->sums->size;
	return 0;
}

/* A unit at @bad did not match: count it, log the file once; -EIO. */
static int sum_mismatch(struct dfile *f, uint64_t bad)
{
	struct kvio_sum *s = &f->io->sum;
	bool no = false;

	atomic_fetch_add(&s->bad_reads, 1);
	if (atomic_compare_exchange_strong(&f->sum_logged, &no, true)) {
		atomic_fetch_add(&s->bad_files, 1);
		sum_log(f, "checksum mismatch at offset %llu: its reads there "
			"fail with EIO", (unsigned long long)bad);
	}
	return -EIO;
}

int dfile_sum_check(struct dfile *f, uint64_t off, const void *p, size_t len)
{
	uint64_t bad = off;
	int rc;

	if (atomic_load(&f->sum_state) != SUM_LOADED)
		return 0;
	rc = csum_check(f->sums, off, p, len, &bad);
	if (!rc)
		return 0;
	if (rc != -EBADMSG) {
		/* a span dfile_sum_span() did not give: never serve it */
		log_err("device %u: a read of %zu bytes at %llu is not whole "
			"checksum units", f->dev, len, (unsigned long long)off);
		return -EIO;
	}
	return sum_mismatch(f, bad);
}

/* A page-cache device's piece: pread into the caller's scratch buffer. */
struct sum_pread {
	int fd;
	char *buf;
};

static long sum_pread(void *arg, uint64_t off, size_t len, const void **p)
{
	struct sum_pread *pr = arg;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(pr->fd, pr->buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : (long)got;
		got += (size_t)n;
	}
	*p = pr->buf;
	return (long)got;
}

int dfile_sum_check_fd(struct dfile *f, int fd, void *buf, size_t buflen,
		       uint64_t lo, uint64_t hi)
{
	struct sum_pread pr = { .fd = fd, .buf = buf };
	uint64_t bad = lo, unit;
	int rc;

	if (atomic_load(&f->sum_state) != SUM_LOADED)
		return 0;
	unit = csum_unit(f->sums);
	if (hi - lo <= unit && atomic_load(&f->span_ok) == lo / unit + 1)
		return 0;
	rc = csum_check_read(f->sums, lo, hi - lo, buflen, sum_pread, &pr,
			     &bad);
	if (!rc) {
		atomic_store(&f->span_ok, (hi - 1) / unit + 1);
		return 0;
	}
	if (rc == -EBADMSG)
		return sum_mismatch(f, bad);
	dfile_note(f, DEVERR_READ, NULL, rc, false);
	return rc == -EINVAL ? -EIO : rc;
}
