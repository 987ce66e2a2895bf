/*
 * check.h - the offline checker behind `kvstripe fsck`: walk each device's
 * backing directory, classify every entry by its integrity (the write mark,
 * the checksum record, core/csum.h) and its placement (which copy of a
 * name the daemon serves), and remove what cannot be served as whole.
 *
 * The walk stays inside each device: every directory is opened beneath
 * its parent (core/beneath.h); a symlink is noted and never followed; a
 * mount point (another st_dev, or one openat2's RESOLVE_NO_XDEV refuses)
 * is noted and not entered. Files are verified by reads that go to the
 * device: O_DIRECT into aligned buffers of one chunk (CSUM_CHUNK), or,
 * where a filesystem refuses O_DIRECT, buffered reads whose pages are
 * dropped after (posix_fadvise DONTNEED); several files at a time, one per
 * thread. Nothing here takes the devices' locks: the caller does
 * (dev_lock_root()), so no daemon writes while they are checked.
 */
#ifndef CORE_CHECK_H
#define CORE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "place.h"

/* What was found about an entry (struct check_entry.flags). */
enum check_flag {
	/* carries the write mark: its writer never finished */
	CHECK_TORN	= 1 << 0,
	/* its record does not match its bytes or size, or is malformed */
	CHECK_CORRUPT	= 1 << 1,
	/* another device's copy of the name is the one the daemon serves */
	CHECK_STALE	= 1 << 2,
	/* no record this build can use (check_entry.why says which) */
	CHECK_UNVERIFIED = 1 << 3,
	/* the only copy, on a device the policy would not put it on */
	CHECK_MISPLACED	= 1 << 4,
	/* a symlink: not followed (the daemon serves it as a link) */
	CHECK_SYMLINK	= 1 << 5,
	/* a mount point: not entered */
	CHECK_MOUNT	= 1 << 6,
	/* could not be checked: check_entry.err says why */
	CHECK_FAILED	= 1 << 7,
};

/* The classes --repair removes: never served as whole, or never served. */
#define CHECK_ERRORS	(CHECK_TORN | CHECK_CORRUPT | CHECK_STALE)

/* The detail of CHECK_CORRUPT and CHECK_UNVERIFIED. */
enum check_why {
	CHECK_WHY_NONE = 0,
	CHECK_WHY_UNIT,		/* corrupt: the unit at @off does not match */
	CHECK_WHY_SIZE,		/* corrupt: the record is for @off bytes */
	CHECK_WHY_MALFORMED,	/* corrupt: csum_decode() said -EBADMSG */
	CHECK_WHY_READ,		/* corrupt: reading at @off failed, @err */
	CHECK_WHY_NORECORD,	/* unverified: no record */
	CHECK_WHY_FORMAT,	/* unverified: a format this build lacks */
	CHECK_WHY_NOXATTR,	/* unverified: the filesystem has no xattrs */
};

struct check_entry {
	char *path;		/* relative to the device's directory */
	unsigned dev;
	mode_t type;		/* S_IFMT bits: S_IFDIR only for mount points
				   and (internally) directories */
	ino_t ino;		/* as the walk saw it: repair removes only it */
	uint64_t size;		/* bytes, regular files */
	unsigned flags;		/* enum check_flag */
	enum check_why why;
	uint64_t off;		/* CHECK_WHY_UNIT, _SIZE, _READ */
	uint8_t format[3];	/* CHECK_WHY_FORMAT: version, algorithm and
				   chunk shift bytes of the record */
	int err;		/* CHECK_FAILED, CHECK_WHY_READ: -errno */
	int repair;		/* 1 removed, -errno not removed, 0 untried */
};

/* Totals of one device. */
struct check_stats {
	uint64_t files;		/* regular files */
	uint64_t bytes;		/* bytes read and verified */
	uint64_t torn, corrupt, stale, unverified, misplaced;
	uint64_t symlinks, mounts, failed;
	uint64_t repaired;	/* entries removed */
	uint64_t unrepaired;	/* CHECK_ERRORS entries left */
};

struct check_progress {
	uint64_t files_done, files;	/* regular files verified, to verify */
	uint64_t bytes_done, bytes;	/* of their sizes */
};

struct check_opts {
	struct place_policy policy;	/* ndev: the devices in @roots */
	unsigned threads;		/* files verified at once, >= 1 */
	bool repair;			/* remove CHECK_ERRORS entries */
	/*
	 * Called from check_run()'s thread about every 200 ms while files
	 * are verified, and once at the end; may be NULL.
	 */
	void (*progress)(void *ctx, const struct check_progress *p);
	void *ctx;
};

struct check_result {
	/*
	 * Every entry with a flag, and with @all every regular file too,
	 * sorted by path, then device.
	 */
	struct check_entry *e;
	size_t n;
	struct check_stats *dev;	/* per device, policy.ndev of them */
	/* a directory that could not be listed: -errno, its device, path */
	int walk_err;
	unsigned walk_dev;
	char *walk_path;
};

/*
 * Check the devices whose directory descriptors are @roots (opts->policy
 * .ndev of them, in device order); with opts->repair remove, beneath its
 * device's root and without following links, each torn, corrupt or stale
 * entry that is still the file the walk saw. @all: keep clean regular
 * files in the result too (for a verbose listing).
 *
 * Returns 0 and the result in *@out (check_result_free() it); its entries
 * say what could not be checked (CHECK_FAILED) or removed. Returns
 * -ENOMEM, -EAGAIN (no thread could be started), or the -errno of listing
 * a device's directory itself (also in walk_err): then *@out still holds
 * what was learnt, with walk_dev and walk_path naming where it stopped.
 */
int check_run(const int *roots, const struct check_opts *opts, bool all,
	      struct check_result **out);

/* Free a result; NULL is a no-op. */
void check_result_free(struct check_result *r);

/*
 * Verify the regular file @path beneath @root: fill @e's flags (CHECK_TORN,
 * CHECK_CORRUPT, CHECK_UNVERIFIED or CHECK_FAILED), why, off, format, err
 * and size. @buf is CSUM_CHUNK bytes aligned to DEV_ALIGN_MAX. Returns
 * the bytes read and verified (0 for a file with no usable record).
 * Thread-safe for distinct @e and @buf. @done (may be NULL) is added the
 * file's size (as seen by the walk, then by fstat): the bytes as they
 * are read, what was not read when it returns.
 */
uint64_t check_file(int root, struct check_entry *e, void *buf,
		    _Atomic uint64_t *done);

/*
 * The text of @e's detail, for a listing: "unit at 1048576 does not
 * match", "no record", "record version 2" and the like; "" if none.
 */
void check_why_text(const struct check_entry *e, char *buf, size_t len);

#endif /* CORE_CHECK_H */
