/*
 * config.c - settings: the one table of [kvstripe] keys, strict value
 * parsing shared by the command line and the INI file (config_ini.c), the
 * merge in which the command line wins (--help from the table: config_help.c).
 *
 * Every error is one line in the caller's buffer; nothing here prints or
 * exits. No FUSE header: the unit tests link this without libfuse.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_i.h"
#include "health.h"
#include "log.h"

#define KV_OFF(f)	offsetof(struct kv_config, f)
#define KV_SPACE_WANT	"bytes with K, M, G or T, or a percentage like 5%"

/*
 * Every [kvstripe] key, in --help order. Adding a setting: a field in
 * struct kv_config with its KV_SET_ bit, its default in kv_config_init(),
 * a line here, and the three documents the unit tests check for its name
 * (docs/configuration.md, docs/kvstripe.1, docs/kvstripe.example.ini).
 * The command-line spec and --help are made from this table.
 */
static const struct kv_key kv_keys[] = {
	{ .name = "sources", .type = KV_STR, .field = KV_SET_SOURCES,
	  .off = KV_OFF(sources), .help = "the backing directories, "
	  "comma-separated (the SOURCES argument on the command line)" },
	{ .name = "mountpoint", .type = KV_STR, .field = KV_SET_MOUNTPOINT,
	  .off = KV_OFF(mountpoint), .help = "where the one logical "
	  "directory appears (the MOUNTPOINT argument)" },
	{ .name = "foreground", .type = KV_BOOL, .field = KV_SET_FOREGROUND,
	  .off = KV_OFF(foreground), .opt = "-f",
	  .help = "stay in the foreground, log to stderr" },
	{ .name = "debug", .type = KV_BOOL, .field = KV_SET_DEBUG,
	  .off = KV_OFF(debug), .flags = KV_CLI_BARE, .opt = "-d",
	  .help = "log every request (implies -f)" },
	{ .name = "single_thread", .type = KV_BOOL,
	  .field = KV_SET_SINGLE_THREAD, .off = KV_OFF(single_thread),
	  .opt = "-s", .help = "serve all requests from one thread" },
	{ .name = "gpus", .type = KV_UINT, .field = KV_SET_GPUS,
	  .off = KV_OFF(gpus), .max = KV_GPUS_MAX, .flags = KV_CLI_VALUE,
	  .arg = "N", .help = "GPUs in the machine, for gpu<N>/ placement "
	  "(0: off, the default)" },
	{ .name = "threads", .type = KV_UINT, .field = KV_SET_THREADS,
	  .off = KV_OFF(threads), .min = 1, .max = KV_THREADS_MAX,
	  .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "N threads serve /dev/fuse (default {default})" },
	{ .name = "max_background", .type = KV_UINT,
	  .field = KV_SET_BACKGROUND, .off = KV_OFF(max_background),
	  .min = 1, .max = KV_BACKGROUND_MAX, .flags = KV_CLI_VALUE,
	  .arg = "N", .help = "async requests the kernel may queue "
	  "(default {default})" },
	{ .name = "write_buffers", .type = KV_UINT,
	  .field = KV_SET_WRITE_BUFFERS, .off = KV_OFF(write_buffers),
	  .max = KV_WRITE_BUFFERS_MAX, .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "write-behind buffers (default {default}, 0: off)" },
	{ .name = "write_buffer_kb", .type = KV_UINT,
	  .field = KV_SET_WRITE_BUFFER_KB, .off = KV_OFF(write_buffer_kb),
	  .min = KV_WRITE_BUFFER_KB_MIN, .max = KV_WRITE_BUFFER_KB_MAX,
	  /* a buffer size must keep every device alignment */
	  .flags = KV_CLI_VALUE | KV_POW2, .arg = "N",
	  .help = "size of one, KiB, a power of two (default {default})" },
	{ .name = "read_ahead_kb", .type = KV_UINT,
	  .field = KV_SET_READ_AHEAD, .off = KV_OFF(read_ahead_kb),
	  .max = KV_READ_AHEAD_MAX, .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "the kernel's read-ahead on the mount (default {default})" },
	{ .name = "read_buffers", .type = KV_UINT,
	  .field = KV_SET_READ_BUFFERS, .off = KV_OFF(read_buffers),
	  .max = KV_READ_BUFFERS_MAX, .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "1 MiB buffers the daemon reads ahead into for buffered "
	  "readers (default {default}, 0: off)" },
	{ .name = "read_cache", .type = KV_BOOL, .field = KV_SET_READ_CACHE,
	  .off = KV_OFF(read_cache), .flags = KV_CLI_BARE | KV_CLI_VALUE,
	  .help = "buffered readers read through the kernel's page cache "
	  "(default {default}: past it; see configuration.md)" },
	{ .name = "max_inodes", .type = KV_UINT, .field = KV_SET_MAX_INODES,
	  .off = KV_OFF(max_inodes), .max = KV_MAX_INODES_MAX,
	  .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "files the daemon keeps track of before it asks the kernel "
	  "to forget some (default {default}, 0: no limit)" },
	{ .name = "listing_window", .type = KV_UINT,
	  .field = KV_SET_LISTING_WINDOW, .off = KV_OFF(listing_window),
	  .min = KV_LISTING_WINDOW_MIN, .max = KV_LISTING_WINDOW_MAX,
	  .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "directory entries a listing holds in memory at a time; "
	  "larger directories are read in windows (default {default})" },
	{ .name = "entry_timeout", .type = KV_SECONDS,
	  .field = KV_SET_ENTRY_TIMEOUT, .off = KV_OFF(entry_timeout),
	  .flags = KV_CLI_VALUE, .arg = "S",
	  .help = "seconds the kernel may cache names (default {default})" },
	{ .name = "attr_timeout", .type = KV_SECONDS,
	  .field = KV_SET_ATTR_TIMEOUT, .off = KV_OFF(attr_timeout),
	  .flags = KV_CLI_VALUE, .arg = "S", .help = "seconds the kernel may "
	  "cache attributes (default {default})" },
	{ .name = "io_uring", .type = KV_BOOL, .field = KV_SET_IO_URING,
	  .off = KV_OFF(io_uring), .flags = KV_CLI_BARE | KV_CLI_VALUE,
	  .help = "also take requests through io_uring (kernel 6.14+ with "
	  "fuse.enable_uring=1; see configuration.md)" },
	{ .name = "private", .type = KV_BOOL, .field = KV_SET_PRIVATE,
	  .off = KV_OFF(private_mount), .flags = KV_CLI_BARE | KV_CLI_VALUE,
	  .help = "only the user who mounts may use the mount (started by "
	  "root, everyone may, as permissions allow)" },
	{ .name = "verify", .type = KV_BOOL, .field = KV_SET_VERIFY,
	  .off = KV_OFF(verify), .flags = KV_CLI_BARE | KV_CLI_VALUE,
	  .help = "store each file's chunk checksums when it is written and "
	  "check every read against them (default {default}; "
	  "see configuration.md)" },
	{ .name = "mkdir", .type = KV_BOOL, .field = KV_SET_MKDIR,
	  .off = KV_OFF(mkdir), .flags = KV_CLI_BARE | KV_CLI_VALUE,
	  .help = "create a missing backing directory (default {default}: "
	  "a missing one is an error)" },
	{ .name = "require_mounts", .type = KV_SECONDS,
	  .field = KV_SET_REQUIRE_MOUNTS, .off = KV_OFF(require_mounts),
	  .flags = KV_CLI_BARE | KV_CLI_VALUE, .arg = "S",
	  .bare = KV_REQUIRE_MOUNTS_BARE,
	  .help = "wait up to S seconds (alone: " KV_REQUIRE_MOUNTS_BARE
	  ") until every backing directory is on a filesystem other than "
	  "the one holding /, then refuse to start (default: off)" },
	{ .name = "minfree", .type = KV_SPACE, .field = KV_SET_MINFREE,
	  .off = KV_OFF(minfree), .flags = KV_CLI_VALUE, .arg = "SIZE",
	  .help = "new files go to other devices when a device has less "
	  "free space: bytes (K, M, G, T) or a percentage of the device "
	  "(default: the smaller of 4G and 5%; 0: never)" },
	{ .name = "max_size", .type = KV_SPACE, .field = KV_SET_MAX_SIZE,
	  .off = KV_OFF(max_size), .flags = KV_CLI_VALUE, .arg = "SIZE",
	  .help = "the most the mount's files may take, shown by df: bytes "
	  "(K, M, G, T) or a percentage of all devices' capacity; writes "
	  "past it get ENOSPC (default: none)" },
	{ .name = "evict_high", .type = KV_UINT, .field = KV_SET_EVICT_HIGH,
	  .off = KV_OFF(evict_high), .min = 1, .max = 100,
	  .flags = KV_CLI_VALUE, .arg = "PCT",
	  .help = "with a max_size: when usage passes PCT % of it, remove "
	  "the least recently read closed files (default: off)" },
	{ .name = "evict_low", .type = KV_UINT, .field = KV_SET_EVICT_LOW,
	  .off = KV_OFF(evict_low), .min = 0, .max = 99,
	  .flags = KV_CLI_VALUE, .arg = "PCT",
	  .help = "eviction goes on until usage is below PCT % of the "
	  "max_size (below evict_high)" },
	{ .name = "device_timeout", .type = KV_SECONDS,
	  .field = KV_SET_DEVICE_TIMEOUT, .off = KV_OFF(device_timeout),
	  .flags = KV_CLI_VALUE | KV_POSITIVE, .arg = "S",
	  .help = "a device that has not answered a call within S seconds "
	  "is failed: its files get EIO, lookups and listings go on "
	  "without it (default {default})" },
	{ .name = "device_slots", .type = KV_UINT,
	  .field = KV_SET_DEVICE_SLOTS, .off = KV_OFF(device_slots),
	  .max = KV_DEVICE_SLOTS_MAX, .flags = KV_CLI_VALUE, .arg = "N",
	  .help = "data requests that run at once on one device; more wait "
	  "in its queue, so a slow or hung device holds at most N worker "
	  "threads (default 0: half of threads)" },
	{ .name = "stats_file", .type = KV_STR, .field = KV_SET_STATS_FILE,
	  .off = KV_OFF(stats_file), .flags = KV_CLI_VALUE, .arg = "PATH",
	  .help = "write the statistics in Prometheus text format to PATH "
	  "(absolute) every stats_interval seconds, through a temporary "
	  "file and rename, for node_exporter's textfile collector "
	  "(default: none)" },
	{ .name = "stats_interval", .type = KV_UINT,
	  .field = KV_SET_STATS_INTERVAL, .off = KV_OFF(stats_interval),
	  .min = 1, .max = KV_STATS_INTERVAL_MAX, .flags = KV_CLI_VALUE,
	  .arg = "S", .help = "seconds between writes of stats_file "
	  "(default {default})" },
	{ .name = "fuse_options", .type = KV_OPTS, .field = KV_SET_FUSE_OPTS,
	  .off = KV_OFF(fuse_opts), .help = "options passed to FUSE, "
	  "comma-separated (on the command line, any -o option not ours)" },
};

#define KV_NKEYS	(sizeof(kv_keys) / sizeof(kv_keys[0]))

void kv_config_init(struct kv_config *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = KV_DEFAULT_THREADS;
	c->max_background = KV_DEFAULT_BACKGROUND;
	c->write_buffers = KV_DEFAULT_WRITE_BUFFERS;
	c->verify = true;
	c->device_timeout = HEALTH_TIMEOUT_MS / 1000.0;
	c->write_buffer_kb = KV_DEFAULT_WRITE_BUFFER_KB;
	c->read_ahead_kb = KV_DEFAULT_READ_AHEAD;
	c->read_buffers = KV_DEFAULT_READ_BUFFERS;
	c->max_inodes = KV_DEFAULT_MAX_INODES;
	c->listing_window = KV_DEFAULT_LISTING_WINDOW;
	c->entry_timeout = KV_DEFAULT_TIMEOUT;
	c->attr_timeout = KV_DEFAULT_TIMEOUT;
	c->require_mounts = -1;
	c->stats_interval = KV_DEFAULT_STATS_INTERVAL;
}

void kv_config_release(struct kv_config *c)
{
	free(c->config);
	free(c->sources);
	free(c->mountpoint);
	free(c->fuse_opts);
	free(c->stats_file);
	c->config = c->sources = c->mountpoint = c->fuse_opts = NULL;
	for (unsigned i = 0; i < c->nrules; i++) {
		free(c->rules[i]);
		c->rules[i] = NULL;
	}
	c->nrules = 0;
	c->stats_file = NULL;
}

const struct kv_key *kv_config_key(size_t i)
{
	return i < KV_NKEYS ? &kv_keys[i] : NULL;
}

const struct kv_key *kv_config_find(const char *name)
{
	size_t i;

	for (i = 0; i < KV_NKEYS; i++)
		if (!strcmp(kv_keys[i].name, name))
			return &kv_keys[i];
	return NULL;
}

int kv_config_parse_ulong(const char *s, unsigned long min, unsigned long max,
			  unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A finite, non-negative decimal number of seconds. */
static int parse_seconds(const char *s, double *out)
{
	double v;
	char *end;

	if (!isdigit((unsigned char)*s) && *s != '.')
		return -EINVAL;
	if (strpbrk(s, "xX"))
		return -EINVAL;	/* strtod would take hex */
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

const char *kv_config_ctrl(const char *s, size_t len)
{
	for (; len; s++, len--)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return s;
	return NULL;
}

static int set_invalid(const char *key, const char *value, const char *want,
		       char *err, size_t errlen)
{
	log_format(err, errlen, "invalid value for '%s': '%s' (expected %s)",
		key, value, want);
	return -EINVAL;
}

int kv_config_set(struct kv_config *c, const char *key, const char *value,
		  char *err, size_t errlen)
{
	const struct kv_key *k = kv_config_find(key);
	char *field, want[64], *s;
	const char *bad;
	unsigned long u;
	double d;
	bool b;

	if (!k)
		return -ENOENT;
	bad = kv_config_ctrl(value, strlen(value));
	if (bad) {
		/* not echoed: it could be a terminal's escape sequence */
		log_format(err, errlen,
			"invalid value for '%s': control character 0x%02x at byte %zu (only tab is allowed)",
			key, (unsigned char)*bad, (size_t)(bad - value) + 1);
		return -EINVAL;
	}
	field = (char *)c + k->off;
	switch (k->type) {
	case KV_STR:
		if (!*value)
			return set_invalid(key, value, "a path", err, errlen);
		s = strdup(value);
		if (!s)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = s;
		break;
	case KV_OPTS:
		s = NULL;
		if (*value && !(s = strdup(value)))
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = s;
		break;
	case KV_UINT:
		if (kv_config_parse_ulong(value, k->min, k->max, &u)) {
			snprintf(want, sizeof(want), "an integer from %lu to %lu",
				 k->min, k->max);
			return set_invalid(key, value, want, err, errlen);
		}
		if ((k->flags & KV_POW2) && (u & (u - 1))) {
			snprintf(want, sizeof(want), "a power of two from %lu to %lu",
				 k->min, k->max);
			return set_invalid(key, value, want, err, errlen);
		}
		*(unsigned *)field = u;
		break;
	case KV_SECONDS:
		if (parse_seconds(value, &d))
			return set_invalid(key, value, "seconds, 0 or more",
					   err, errlen);
		if ((k->flags & KV_POSITIVE) && (d < 0.001 || d > 3600))
			return set_invalid(key, value,
					   "seconds, from 0.001 to 3600", err,
					   errlen);
		*(double *)field = d;
		break;
	case KV_BOOL:
		if (parse_bool(value, &b))
			return set_invalid(key, value, "yes or no", err,
					   errlen);
		*(bool *)field = b;
		break;
	case KV_SPACE:
		if (space_parse(value, (struct space_setting *)field))
			return set_invalid(key, value, KV_SPACE_WANT, err,
					   errlen);
		break;
	}
	c->set |= k->field;
	return 0;
}

int kv_config_set_dev(struct kv_config *c, unsigned index, const char *key,
		      const char *value, char *err, size_t errlen)
{
	unsigned long v;
	char want[64];

	if (strcmp(key, "align") && strcmp(key, "minfree") &&
	    strcmp(key, "max_size"))
		return -ENOENT;
	if (index >= DEV_MAX) {
		log_format(err, errlen,
			"invalid device number %u (expected 0 to %d)", index,
			DEV_MAX - 1);
		return -EINVAL;
	}
	if (!strcmp(key, "minfree") || !strcmp(key, "max_size")) {
		if (space_parse(value, !strcmp(key, "minfree") ?
					&c->dev[index].minfree :
					&c->dev[index].max_size))
			return set_invalid(key, value, KV_SPACE_WANT, err,
					   errlen);
		return 0;
	}
	if (kv_config_parse_ulong(value, KV_ALIGN_MIN, DEV_ALIGN_MAX, &v) ||
	    (v & (v - 1))) {
		snprintf(want, sizeof(want), "a power of two from %d to %d",
			 KV_ALIGN_MIN, DEV_ALIGN_MAX);
		return set_invalid(key, value, want, err, errlen);
	}
	c->dev[index].align = v;
	return 0;
}

int kv_config_add_fuse_opt(struct kv_config *c, const char *opt)
{
	size_t len = c->fuse_opts ? strlen(c->fuse_opts) : 0;
	const char *p;
	char *s, *q;

	/* each byte may need a backslash, plus the comma and the NUL */
	s = realloc(c->fuse_opts, len + 2 * strlen(opt) + 2);
	if (!s)
		return -ENOMEM;
	q = s + len;
	if (len)
		*q++ = ',';
	for (p = opt; *p; p++) {
		if (*p == ',' || *p == '\\')
			*q++ = '\\';
		*q++ = *p;
	}
	*q = '\0';
	c->fuse_opts = s;
	c->set |= KV_SET_FUSE_OPTS;
	return 0;
}

static int kv_copy(struct kv_config *dst, const struct kv_config *src,
		   const struct kv_key *k)
{
	const char *from = (const char *)src + k->off;
	char *to = (char *)dst + k->off, *s = NULL;

	switch (k->type) {
	case KV_STR:
	case KV_OPTS:
		if (*(char *const *)from && !(s = strdup(*(char *const *)from)))
			return -ENOMEM;
		free(*(char **)to);
		*(char **)to = s;
		break;
	case KV_UINT:
		*(unsigned *)to = *(const unsigned *)from;
		break;
	case KV_SECONDS:
		*(double *)to = *(const double *)from;
		break;
	case KV_BOOL:
		*(bool *)to = *(const bool *)from;
		break;
	case KV_SPACE:
		*(struct space_setting *)to =
			*(const struct space_setting *)from;
		break;
	}
	dst->set |= k->field;
	return 0;
}

int kv_config_merge(struct kv_config *out, const struct kv_config *cli,
		    const struct kv_config *file)
{
	const struct kv_config *from;
	size_t i;
	int rc = 0;

	kv_config_init(out);
	if (cli->config && !(out->config = strdup(cli->config)))
		goto err_nomem;
	for (i = 0; i < KV_NKEYS; i++) {
		if (cli->set & kv_keys[i].field)
			from = cli;
		else if (file && (file->set & kv_keys[i].field))
			from = file;
		else
			continue;
		rc = kv_copy(out, from, &kv_keys[i]);
		if (rc)
			goto err_nomem;
	}
	/* libfuse options add up; the command line's come last and win */
	if (file && file->fuse_opts && cli->fuse_opts) {
		free(out->fuse_opts);
		if (asprintf(&out->fuse_opts, "%s,%s", file->fuse_opts,
			     cli->fuse_opts) < 0) {
			out->fuse_opts = NULL;
			goto err_nomem;
		}
	}
	for (i = 0; i < DEV_MAX; i++) {
		out->dev[i] = cli->dev[i];
		if (!file)
			continue;
		if (!out->dev[i].align)
			out->dev[i].align = file->dev[i].align;
		if (!out->dev[i].minfree.set)
			out->dev[i].minfree = file->dev[i].minfree;
		if (!out->dev[i].max_size.set)
			out->dev[i].max_size = file->dev[i].max_size;
	}
	from = cli->nrules ? cli : file;
	for (i = 0; from && i < from->nrules; i++) {
		out->rules[i] = strdup(from->rules[i]);
		if (!out->rules[i])
			goto err_nomem;
		out->nrules = i + 1;
	}
	if (out->debug)
		out->foreground = true;
	return 0;

err_nomem:
	kv_config_release(out);
	return -ENOMEM;
}

/* evict_high and evict_low: together, with a limit, low below high. */
static int kv_config_check_evict(const struct kv_config *c, unsigned ndev,
				 char *err, size_t errlen)
{
	bool high = c->set & KV_SET_EVICT_HIGH, low = c->set & KV_SET_EVICT_LOW;
	bool limit = c->max_size.set;

	for (unsigned i = 0; i < ndev && i < DEV_MAX; i++)
		limit = limit || c->dev[i].max_size.set;
	if (!high && !low)
		return 0;
	if (high != low) {
		log_format(err, errlen, "'%s' is set without '%s' (eviction "
			   "needs both)", high ? "evict_high" : "evict_low",
			   high ? "evict_low" : "evict_high");
		return -EINVAL;
	}
	if (!limit) {
		log_format(err, errlen, "'evict_high' and 'evict_low' need a "
			   "'max_size' (they are percentages of it)");
		return -EINVAL;
	}
	if (c->evict_low >= c->evict_high) {
		log_format(err, errlen, "'evict_low' (%u) must be below "
			   "'evict_high' (%u)", c->evict_low, c->evict_high);
		return -EINVAL;
	}
	return 0;
}

int kv_config_check_devices(const struct kv_config *c, unsigned ndev,
			    char *err, size_t errlen)
{
	unsigned i;

	for (i = ndev; i < DEV_MAX; i++) {
		if (!c->dev[i].align && !c->dev[i].minfree.set &&
		    !c->dev[i].max_size.set)
			continue;
		log_format(err, errlen,
			"'%s' is set for device %u, but there %s only %u backing director%s",
			c->dev[i].align ? "align" : c->dev[i].minfree.set ?
			"minfree" : "max_size", i,
			ndev == 1 ? "is" : "are", ndev,
			ndev == 1 ? "y" : "ies");
		return -EINVAL;
	}
	return kv_config_check_evict(c, ndev, err, errlen);
}
