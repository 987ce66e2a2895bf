/*
 * config.h - kvstripe's settings from the command line and the INI file.
 *
 * Each source fills its own struct kv_config and marks the fields it set;
 * kv_config_merge() then takes each field from the command line if set
 * there, else from the file, else the default. No FUSE header here: the
 * unit tests link this file without libfuse.
 */
#ifndef MOUNT_CONFIG_H
#define MOUNT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dev.h"

#define KV_DEFAULT_THREADS	16
#define KV_DEFAULT_BACKGROUND	64
#define KV_DEFAULT_WRITE_BUFFERS 16
#define KV_WRITE_BUFFERS_MAX	16384
#define KV_DEFAULT_WRITE_BUFFER_KB 4096
#define KV_WRITE_BUFFER_KB_MIN	1024
#define KV_WRITE_BUFFER_KB_MAX	65536
#define KV_DEFAULT_READ_AHEAD	4096	/* KiB */
#define KV_DEFAULT_READ_BUFFERS	16
#define KV_READ_BUFFERS_MAX	16384
#define KV_READ_AHEAD_MAX	(1u << 20)
#define KV_DEFAULT_MAX_INODES	65536
#define KV_MAX_INODES_MAX	(1u << 30)
#define KV_DEFAULT_LISTING_WINDOW 65536
#define KV_LISTING_WINDOW_MIN	64
#define KV_LISTING_WINDOW_MAX	(1u << 24)
#define KV_DEFAULT_TIMEOUT	1.0
#define KV_REQUIRE_MOUNTS_BARE	"30"	/* -o require_mounts alone */
#define KV_GPUS_MAX		1024
#define KV_THREADS_MAX		1024
#define KV_DEVICE_SLOTS_MAX	64	/* core/slots.h SLOTS_MAX */
#define KV_BACKGROUND_MAX	65535
#define KV_ALIGN_MIN		512
#define KV_RULES_MAX		16	/* [placement] rule lines */
#define KV_DEFAULT_STATS_INTERVAL 10	/* seconds */
#define KV_STATS_INTERVAL_MAX	86400

/* Which fields of a struct kv_config were given explicitly. */
enum kv_field {
	KV_SET_SOURCES		= 1 << 0,
	KV_SET_MOUNTPOINT	= 1 << 1,
	KV_SET_GPUS		= 1 << 2,
	KV_SET_THREADS		= 1 << 3,
	KV_SET_BACKGROUND	= 1 << 4,
	KV_SET_ENTRY_TIMEOUT	= 1 << 5,
	KV_SET_ATTR_TIMEOUT	= 1 << 6,
	KV_SET_FOREGROUND	= 1 << 7,
	KV_SET_DEBUG		= 1 << 8,
	KV_SET_SINGLE_THREAD	= 1 << 9,
	KV_SET_FUSE_OPTS	= 1 << 10,
	KV_SET_WRITE_BUFFERS	= 1 << 11,
	KV_SET_READ_AHEAD	= 1 << 12,
	KV_SET_WRITE_BUFFER_KB	= 1 << 13,
	KV_SET_MAX_INODES	= 1 << 14,
	KV_SET_LISTING_WINDOW	= 1 << 15,
	KV_SET_IO_URING		= 1 << 16,
	KV_SET_PRIVATE		= 1 << 17,
	KV_SET_READ_BUFFERS	= 1 << 18,
	KV_SET_VERIFY		= 1 << 19,
	KV_SET_MKDIR		= 1 << 20,
	KV_SET_REQUIRE_MOUNTS	= 1 << 21,
	KV_SET_MINFREE		= 1 << 22,
	KV_SET_DEVICE_TIMEOUT	= 1 << 23,
	KV_SET_MAX_SIZE		= 1 << 24,
	KV_SET_EVICT_HIGH	= 1 << 25,
	KV_SET_EVICT_LOW	= 1 << 26,
	KV_SET_DEVICE_SLOTS	= 1 << 27,
	KV_SET_STATS_FILE	= 1 << 28,
	KV_SET_STATS_INTERVAL	= 1 << 29,
	KV_SET_READ_CACHE	= 1 << 30,
};

struct kv_config {
	unsigned set;		/* enum kv_field bits */
	char *config;		/* -o config=FILE (command line only) */
	char *sources;		/* raw source list, LMCache syntax */
	char *mountpoint;
	unsigned gpus;		/* 0: off */
	unsigned threads;	/* most FUSE worker threads */
	unsigned max_background;
	unsigned write_buffers;	/* write-behind buffers, 0: off */
	unsigned write_buffer_kb; /* size of one, a power of two */
	unsigned read_ahead_kb;	/* the kernel's read-ahead, 0: its default */
	unsigned read_buffers;	/* daemon read-ahead, 1 MiB each, 0: off */
	unsigned max_inodes;	/* inode table limit, 0: none */
	unsigned listing_window; /* entries a listing holds at a time */
	double entry_timeout;	/* seconds */
	double attr_timeout;	/* seconds */
	bool foreground;
	bool debug;
	bool single_thread;
	bool io_uring;		/* serve requests through io_uring too */
	bool private_mount;	/* only the mounting user (no allow_other) */
	bool verify;		/* chunk checksums stored and checked */
	bool read_cache;	/* buffered reads through the page cache */
	bool mkdir;		/* create a missing backing directory */
	double require_mounts;	/* seconds to wait for mounts, < 0: off */
	double device_timeout;	/* seconds a device may take to answer */
	unsigned device_slots;	/* data requests running per device, 0:
				   threads / 2 (fs/devq.h) */
	/* every device's minfree unless its [device N] sets one */
	struct space_setting minfree;
	/* the mount's files take at most this much (not set: no limit) */
	struct space_setting max_size;
	unsigned evict_high;	/* % of the limit that starts eviction, 0: off */
	unsigned evict_low;	/* % of the limit eviction goes down to */
	/* the statistics in Prometheus text, rewritten every stats_interval
	 * seconds (mount/statsfile.h); NULL: none */
	char *stats_file;
	unsigned stats_interval;
	char *fuse_opts;	/* comma list for libfuse, escaped; or NULL */
	struct dev_opts dev[DEV_MAX];	/* align 0, minfree unset: not given */
	/* [placement] rule patterns, in file order (core/place.h
	   place_rules_new()); only the INI file sets them */
	char *rules[KV_RULES_MAX];
	unsigned nrules;
};

enum kv_type {
	KV_STR,		/* a path, not empty */
	KV_UINT,	/* decimal digits, from min to max */
	KV_SECONDS,	/* a decimal number, 0 or more */
	KV_BOOL,	/* yes/no/true/false/on/off/1/0, any case */
	KV_OPTS,	/* a libfuse option list, may be empty */
	KV_SPACE,	/* bytes (K/M/G/T) or a percent, space_parse() */
};

/* How a key is given besides the INI file, and what else it checks. */
enum kv_flag {
	KV_CLI_VALUE	= 1 << 0,	/* -o KEY=VALUE; -o KEY is an error */
	KV_CLI_BARE	= 1 << 1,	/* -o KEY sets a boolean to yes, or
					   another key to its @bare */
	KV_POW2		= 1 << 2,	/* a KV_UINT must be a power of two */
	KV_POSITIVE	= 1 << 3,	/* a KV_SECONDS must be more than 0 */
};

/*
 * One [kvstripe] setting. A key with neither KV_CLI_ flag nor @opt is
 * given on the command line in another way (an argument, -o OPT) or not
 * at all.
 */
struct kv_key {
	const char *name;	/* INI key, and -o name */
	enum kv_type type;
	unsigned field;		/* enum kv_field bit */
	size_t off;		/* of the value in struct kv_config */
	unsigned long min, max;	/* KV_UINT only */
	unsigned flags;		/* enum kv_flag */
	const char *opt;	/* an option of its own that sets it ("-f") */
	const char *arg;	/* the value in --help ("N" in -o gpus=N) */
	const char *bare;	/* what -o KEY alone sets, if not "yes" */
	const char *help;	/* for --help; "{default}" becomes the default */
};

/* Key @i of the table (in --help order), or NULL past the last. */
const struct kv_key *kv_config_key(size_t i);

/* The key named @name, or NULL. */
const struct kv_key *kv_config_find(const char *name);

/*
 * Print the --help lines of every key the command line takes, in table
 * order, with their defaults. One line per option, "    OPTION  TEXT",
 * the text wrapped at 78 columns as kv_config_help_item() does.
 */
void kv_config_help(FILE *out);

/*
 * Print one --help item: @left (e.g. "-o config=FILE") in a column of
 * 22 characters after 4 blanks (alone on its line if longer), then @text
 * word-wrapped at 78 columns, continued under its first word.
 */
void kv_config_help_item(FILE *out, const char *left, const char *text);

/* Fill @c with the defaults and mark nothing as set. */
void kv_config_init(struct kv_config *c);

/* Free @c's strings; @c may be initialised again afterwards. */
void kv_config_release(struct kv_config *c);

/*
 * Set the [kvstripe] key @key (any name in the table, kv_config_key())
 * from the string @value, validating it strictly as its enum kv_type and
 * flags say, and mark it set.
 * Returns 0; -ENOENT for an unknown key (no message); -EINVAL with
 * "invalid value for 'KEY': 'VALUE' (expected ...)" in @err, or for a
 * value holding a control character other than tab "invalid value for
 * 'KEY': control character 0xNN at byte N (only tab is allowed)" (the
 * value itself is not echoed); -ENOMEM.
 */
int kv_config_set(struct kv_config *c, const char *key, const char *value,
		  char *err, size_t errlen);

/*
 * Set per-device key @key ("align", "minfree" or "max_size") of device
 * @index. Returns 0, -ENOENT for an unknown key, -EINVAL for an index >=
 * DEV_MAX, an align that is not a power of two from KV_ALIGN_MIN to
 * DEV_ALIGN_MAX or a minfree or max_size space_parse() refuses (message
 * in @err).
 */
int kv_config_set_dev(struct kv_config *c, unsigned index, const char *key,
		      const char *value, char *err, size_t errlen);

/* Append one libfuse option to @c->fuse_opts, escaping ',' and '\'. */
int kv_config_add_fuse_opt(struct kv_config *c, const char *opt);

/*
 * Read INI file @file into @c (which kv_config_init() prepared): section
 * [kvstripe] with the keys above, [device N] sections with "align" and
 * "path" ("path" lists the devices instead of "sources"; N counts from 0),
 * and [placement] with up to KV_RULES_MAX "rule" lines, each a pattern
 * place_rules_new() compiles (checked here, so a bad one is a FILE:LINE).
 * Returns 0; -errno from opening or reading the file, with "cannot read
 * config 'FILE': REASON" in @err; -EINVAL with "FILE:LINE: ..." in @err for
 * the first bad line; -ENOMEM.
 */
int kv_config_load(struct kv_config *c, const char *file, char *err,
		   size_t errlen);

/*
 * Build @out from the command line @cli and the file @file (which may be
 * NULL): each field from @cli if set there, else from @file, else the
 * default; the libfuse options of both are combined, the file's first.
 * A debug setting implies foreground. Returns 0 or -ENOMEM.
 */
int kv_config_merge(struct kv_config *out, const struct kv_config *cli,
		    const struct kv_config *file);

/*
 * Check the settings that need the device count @ndev, or each other:
 * per-device options (align, minfree, max_size) only for devices
 * 0..ndev-1; evict_high and evict_low given together, with a max_size
 * (the mount's or a device's), and evict_low < evict_high. Returns 0, or
 * -EINVAL with a message.
 */
int kv_config_check_devices(const struct kv_config *c, unsigned ndev,
			    char *err, size_t errlen);

#endif /* MOUNT_CONFIG_H */
