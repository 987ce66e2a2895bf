/*
 * deverr.h - device errors for the log: per device, the first error of
 * each kind (and of each named operation, e.g. "rename", "setxattr") is
 * one line naming the file and the operation, repeats are
 * summed in one line at most every DEVERR_SUMMARY_MS, and a device whose
 * errors keep coming is reported as failing once. However many requests
 * fail, the lines per device are bounded in time, never by requests.
 *
 * Only the error path calls in: nothing is done while there is no error.
 * Thread-safe: one mutex per device.
 */
#ifndef CORE_DEVERR_H
#define CORE_DEVERR_H

#include <stdbool.h>
#include <stdint.h>

/* Repeats of a device's errors are summed in one line this often at most. */
#define DEVERR_SUMMARY_MS	10000
/*
 * A device is failing once its errors (device errors, deverr_is_device())
 * without a pause of DEVERR_QUIET_MS number DEVERR_FAIL_COUNT, or number 3
 * and have kept coming for DEVERR_FAIL_SPAN_MS. After a pause of
 * DEVERR_QUIET_MS the device starts afresh: the next error of each kind is
 * logged as a first, and failing may be reported again.
 */
#define DEVERR_FAIL_COUNT	16
#define DEVERR_FAIL_SPAN_MS	30000
#define DEVERR_QUIET_MS		600000
/*
 * Operation names (deverr_at.op) told as firsts per device and quiet
 * period; errors of names past these are only summed.
 */
#define DEVERR_OPS_MAX		32

enum deverr_kind {
	DEVERR_READ,		/* a read a client waits for */
	DEVERR_WRITE,		/* a write a client waits for */
	DEVERR_WRITE_BEHIND,	/* a write answered before it landed */
	DEVERR_READ_AHEAD,	/* a read no client asked for yet */
	DEVERR_FSYNC,
	DEVERR_OPEN,		/* opening or creating a backing file */
	DEVERR_META,		/* lookup, stat, listing, unlink, trim, ... */
	DEVERR_KINDS
};

/* Where an error happened. */
struct deverr_at {
	unsigned dev;
	enum deverr_kind kind;
	/* NULL: the kind's name; else e.g. "unlink", a string that outlives
	 * the deverr (a literal): its first error is told apart from the
	 * kind's and other names' */
	const char *op;
	/* the file: @path (relative to the device root) if not NULL, else
	 * the name of descriptor @fd, shortened to below the device root */
	const char *path;
	int fd;
};

struct deverr_params {
	unsigned count;			/* devices, 1..DEV_MAX */
	const char *const *roots;	/* each device's directory, or NULL */
	uint64_t (*now_ms)(void);	/* NULL: CLOCK_MONOTONIC_COARSE */
	/*
	 * NULL, or called by deverr_note() for every device error, after its
	 * lines, with @on_device_arg, the device and the error: the health
	 * probe's hook (core/hprobe.h). It must not call back in.
	 */
	void (*on_device)(void *arg, unsigned dev, int err);
	void *on_device_arg;
};

struct deverr;

/*
 * Make the error log of @p->count devices (@p and its roots are copied).
 * Returns 0 and the object in *@out, -EINVAL for a count of 0 or over
 * DEV_MAX, or -ENOMEM.
 */
int deverr_new(const struct deverr_params *p, struct deverr **out);

/* Log what is still to be summed (deverr_tick() at any time) and free.
 * NULL is a no-op. */
void deverr_free(struct deverr *de);

/*
 * Whether -@err (a negative errno) says the device or its filesystem
 * failed: EIO, EUCLEAN (a corrupt filesystem), EBADMSG (a bad checksum),
 * ENODEV, ENXIO, ENOMEDIUM, ETIMEDOUT, ENOLINK, EREMOTEIO, EBADE, EILSEQ
 * (the block layer's), ENOTCONN (a FUSE or network backing filesystem
 * gone), EROFS (the backing filesystem turned read-only, as ext4 does
 * with errors=remount-ro after a failed write: what a failing device
 * ends as). Not ENOSPC, EDQUOT, EFBIG, ENOMEM, nor errors a client's
 * request causes (ENOENT, EACCES, ...): those go back to the client and
 * are not the device's failure.
 */
bool deverr_is_device(int err);

/*
 * Note one error -@err (negative) at @at. Every error given counts for the
 * lines (the first of its kind, or with @at->op of its kind and op, on
 * the device is logged at once, with strerror; the others go into the
 * next summary, counted by kind); only device errors
 * count toward failing. Callers that only want device errors logged test
 * deverr_is_device() first. @at->dev past the count is ignored.
 */
void deverr_note(struct deverr *de, const struct deverr_at *at, int err);

/*
 * Log the summaries that are due (DEVERR_SUMMARY_MS after the last one, or
 * after the first error). Call every few seconds, so repeats are told
 * while no new error comes. NULL is a no-op.
 */
void deverr_tick(struct deverr *de);

#endif /* CORE_DEVERR_H */
