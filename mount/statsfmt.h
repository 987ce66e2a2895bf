/*
 * statsfmt.h - the mount's statistics (the "NAME VALUE" lines of the
 * root's user.kvstripe.stats, kvfs_stats()) parsed, and rendered for
 * people (a table), programs (JSON) and Prometheus (the text exposition
 * format). Shared by `kvstripe stats` and the daemon's stats_file. No
 * FUSE header: the unit tests link it.
 */
#ifndef MOUNT_STATSFMT_H
#define MOUNT_STATSFMT_H

#include <stddef.h>
#include <stdio.h>

struct statsfmt;

/*
 * Parse @text (NUL-terminated; copied): lines "NAME VALUE", the value
 * the rest of the line after the first blank. Lines without a blank are
 * skipped. Returns 0 and the result in *@out, -EINVAL when there is no
 * "devices" line, or -ENOMEM.
 */
int statsfmt_parse(const char *text, struct statsfmt **out);

/* NULL is a no-op. */
void statsfmt_free(struct statsfmt *sf);

/* The devices the text describes. */
unsigned statsfmt_devices(const struct statsfmt *sf);

/* The value of @name ("uptime_seconds"), or NULL. */
const char *statsfmt_get(const struct statsfmt *sf, const char *name);

/* The value of device @dev's @key ("read_bytes": device.DEV.read_bytes),
 * or NULL. */
const char *statsfmt_dev(const struct statsfmt *sf, unsigned dev,
			 const char *key);

/*
 * Escape @in as a Prometheus label value into @out (@size bytes,
 * NUL-terminated, truncated): backslash, double quote and newline as
 * \\, \" and \n. Returns the length it needed, as snprintf().
 */
size_t statsfmt_label_escape(const char *in, char *out, size_t size);

/*
 * Write @sf in the Prometheus text format: for each metric family one
 * "# HELP" and one "# TYPE" line, then its samples; names kvstripe_*,
 * counters end in _total, base units (bytes, seconds); device metrics
 * labelled device="N",path="DIR". Names not known are left out. Returns
 * 0, or -EIO when writing failed.
 */
int statsfmt_prometheus(const struct statsfmt *sf, FILE *out);

/*
 * Write @sf as one JSON object: the mount's values as members (but the
 * count "devices"), numbers as numbers, and "devices": an array of objects with "index" and each
 * device's values. Returns 0, or -EIO when writing failed.
 */
int statsfmt_json(const struct statsfmt *sf, FILE *out);

/*
 * Write @sf as a table for people, headed by @title (the mount point):
 * a line for the mount, one per device. With @prev (the same mount's,
 * @seconds earlier), reads and writes are rates over that time instead
 * of totals. Returns 0, or -EIO when writing failed.
 */
int statsfmt_table(const struct statsfmt *sf, const struct statsfmt *prev,
		   double seconds, const char *title, FILE *out);

#endif /* MOUNT_STATSFMT_H */
