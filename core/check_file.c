/*
 * check_file.c - verify one backing file: its write mark, its checksum
 * record, and its bytes read back from the device a chunk at a time. The
 * chunks' hashes are combined into units exactly as a writer's are
 * (csum_rec_build()), so the two records compare unit by unit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "beneath.h"
#include "check.h"
#include "csum.h"

/* Bytes of one file counted into the progress as they are read. */
struct progress {
	_Atomic uint64_t *done;	/* the caller's total, or NULL */
	uint64_t added;		/* of this file */
};

static void progress_add(struct progress *pr, uint64_t n)
{
	if (pr->done)
		*pr->done += n;
	pr->added += n;
}

/* Whether @fd carries the write mark: 1, 0, or -errno. */
static int file_marked(int fd)
{
	if (fgetxattr(fd, CSUM_MARK_XATTR, NULL, 0) >= 0)
		return 1;
	if (errno == ENODATA || errno == EOPNOTSUPP)
		return 0;
	return -errno;
}

/* A record csum_load() refused with -EPROTO: keep the bytes that say why. */
static void file_format(int fd, struct check_entry *e)
{
	ssize_t n = fgetxattr(fd, CSUM_XATTR, NULL, 0);
	uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;

	n = b ? fgetxattr(fd, CSUM_XATTR, b, (size_t)n) : -1;
	for (int i = 0; i < 3; i++)
		e->format[i] = n > i ? b[i] : 0;
	free(b);
}

/*
 * Load @fd's record into *@r. Returns 1 with a record; 0 with @e
 * classified (unverified, corrupt or failed) and none.
 */
static int file_record(int fd, struct check_entry *e, struct csum_rec **r)
{
	int rc = csum_load(fd, r);

	switch (rc) {
	case 0:
		if ((*r)->size == e->size)
			return 1;
		e->flags |= CHECK_CORRUPT;
		e->why = CHECK_WHY_SIZE;
		e->off = (*r)->size;
		free(*r);
		*r = NULL;
		return 0;
	case -ENODATA:
		e->flags |= CHECK_UNVERIFIED;
		e->why = CHECK_WHY_NORECORD;
		return 0;
	case -EOPNOTSUPP:
		e->flags |= CHECK_UNVERIFIED;
		e->why = CHECK_WHY_NOXATTR;
		return 0;
	case -EPROTO:
		e->flags |= CHECK_UNVERIFIED;
		e->why = CHECK_WHY_FORMAT;
		file_format(fd, e);
		return 0;
	case -EBADMSG:
		e->flags |= CHECK_CORRUPT;
		e->why = CHECK_WHY_MALFORMED;
		return 0;
	default:
		e->flags |= CHECK_FAILED;
		e->err = rc;
		return 0;
	}
}

/*
 * Read @len bytes at @off into @buf, going on after short reads; an
 * O_DIRECT read the filesystem refuses (EINVAL) turns the descriptor to
 * buffered reads, *@direct false. Returns the count (short only at the
 * end of the file) or -errno.
 */
static ssize_t file_read(int fd, void *buf, size_t len, uint64_t off,
			 bool *direct)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got,
				  (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && *direct) {
			int fl = fcntl(fd, F_GETFL);

			if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT))
				return -EINVAL;
			*direct = false;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
		/* a short O_DIRECT read is the end of the file */
		if (*direct)
			break;
	}
	return (ssize_t)got;
}

/*
 * Hash every chunk of @e's file into @h, reading it through @buf. Returns
 * 0, or -1 with @e marked corrupt (a read failed or the file ended early).
 */
static int file_hash(int fd, struct check_entry *e, void *buf, uint64_t *h,
		     bool *direct, struct progress *pr)
{
	for (uint64_t off = 0, k = 0; off < e->size; off += CSUM_CHUNK, k++) {
		size_t want = e->size - off < CSUM_CHUNK ?
			      (size_t)(e->size - off) : CSUM_CHUNK;
		ssize_t n = file_read(fd, buf, CSUM_CHUNK, off, direct);

		if (n < 0 || (size_t)n < want) {
			e->flags |= CHECK_CORRUPT;
			e->why = CHECK_WHY_READ;
			e->off = off;
			e->err = n < 0 ? (int)n : -ENODATA;
			return -1;
		}
		h[k] = XXH3_64bits(buf, want);
		progress_add(pr, want);
	}
	return 0;
}

/* Compare @e's bytes with @r. Returns the bytes verified. */
static uint64_t file_verify(int fd, struct check_entry *e,
			    const struct csum_rec *r, void *buf,
			    struct progress *pr)
{
	uint64_t nch = (e->size + CSUM_CHUNK - 1) / CSUM_CHUNK;
	uint64_t *h = malloc((nch ? nch : 1) * sizeof(*h));
	struct csum_rec *mine = NULL;
	bool direct = true;
	int rc;

	if (!h) {
		e->flags |= CHECK_FAILED;
		e->err = -ENOMEM;
		return 0;
	}
	rc = file_hash(fd, e, buf, h, &direct, pr);
	if (!direct)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (!rc)
		rc = csum_rec_build(e->size, h, r->group_shift, &mine);
	free(h);
	if (rc == -ENOMEM) {
		e->flags |= CHECK_FAILED;
		e->err = rc;
	}
	if (rc)
		return 0;
	for (uint32_t i = 0; i < r->n; i++) {
		if (mine->h[i] != r->h[i]) {
			e->flags |= CHECK_CORRUPT;
			e->why = CHECK_WHY_UNIT;
			e->off = (uint64_t)i * csum_unit(r);
			break;
		}
	}
	free(mine);
	return e->size;
}

uint64_t check_file(int root, struct check_entry *e, void *buf,
		    _Atomic uint64_t *done)
{
	int flags = O_RDONLY | O_NONBLOCK | O_NOATIME;
	struct progress pr = { .done = done };
	struct csum_rec *r = NULL;
	uint64_t got = 0;
	struct stat st;
	int fd, rc;

	fd = beneath_open(root, e->path, flags | O_DIRECT, 0);
	if (fd == -EINVAL)	/* no O_DIRECT on this filesystem */
		fd = beneath_open(root, e->path, flags, 0);
	if (fd == -EPERM)	/* O_NOATIME on a file root does not own */
		fd = beneath_open(root, e->path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		if (done)
			*done += e->size;
		/* a mount point of the same filesystem (a bind mount) */
		e->flags |= fd == -EXDEV ? CHECK_MOUNT : CHECK_FAILED;
		e->err = fd == -EXDEV ? 0 : fd;
		return 0;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		e->flags |= CHECK_FAILED;
		e->err = S_ISREG(st.st_mode) ? -errno : -ESTALE;
		goto out;
	}
	e->size = (uint64_t)st.st_size;
	rc = file_marked(fd);
	if (rc) {
		e->flags |= rc > 0 ? CHECK_TORN : CHECK_FAILED;
		e->err = rc < 0 ? rc : 0;
		goto out;
	}
	if (file_record(fd, e, &r))
		got = file_verify(fd, e, r, buf, &pr);
	free(r);
out:
	close(fd);
	/* what was not read is done too */
	progress_add(&pr, e->size > pr.added ? e->size - pr.added : 0);
	return got;
}

void check_why_text(const struct check_entry *e, char *buf, size_t len)
{
	const uint8_t *f = e->format;

	switch (e->why) {
	case CHECK_WHY_UNIT:
		snprintf(buf, len, "unit at byte %llu does not match",
			 (unsigned long long)e->off);
		break;
	case CHECK_WHY_SIZE:
		snprintf(buf, len, "record for %llu bytes, file has %llu",
			 (unsigned long long)e->off,
			 (unsigned long long)e->size);
		break;
	case CHECK_WHY_MALFORMED:
		snprintf(buf, len, "malformed record");
		break;
	case CHECK_WHY_READ:
		snprintf(buf, len, "read at byte %llu: %s",
			 (unsigned long long)e->off,
			 e->err == -ENODATA ? "file ends early" :
					      strerror(-e->err));
		break;
	case CHECK_WHY_NORECORD:
		snprintf(buf, len, "no record");
		break;
	case CHECK_WHY_NOXATTR:
		snprintf(buf, len, "no extended attributes here");
		break;
	case CHECK_WHY_FORMAT:
		if (f[0] != CSUM_VERSION)
			snprintf(buf, len, "record version %u", f[0]);
		else if (f[1] != CSUM_ALGO_XXH3_64)
			snprintf(buf, len, "record algorithm %u", f[1]);
		else
			snprintf(buf, len, "record chunk shift %u", f[2]);
		break;
	default:
		if (e->flags & CHECK_FAILED)
			snprintf(buf, len, "%s", strerror(-e->err));
		else if (len)
			buf[0] = '\0';
	}
}
