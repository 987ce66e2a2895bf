/*
 * config.c - settings: strict value parsing shared by the command line and
 * the INI file (inih), and the merge in which the command line wins.
 *
 * Every error is one line in the caller's buffer; nothing here prints or
 * exits. No FUSE header: the unit tests link this without libfuse.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_i.h"
#include "log.h"

#define KV_OFF(f)	offsetof(struct kv_config, f)

static const struct kv_key kv_keys[] = {
	{ "sources", KV_STR, KV_SET_SOURCES, KV_OFF(sources), 0, 0 },
	{ "mountpoint", KV_STR, KV_SET_MOUNTPOINT, KV_OFF(mountpoint), 0, 0 },
	{ "gpus", KV_UINT, KV_SET_GPUS, KV_OFF(gpus), 0, KV_GPUS_MAX },
	{ "threads", KV_UINT, KV_SET_THREADS, KV_OFF(threads), 1,
	  KV_THREADS_MAX },
	{ "max_background", KV_UINT, KV_SET_BACKGROUND,
	  KV_OFF(max_background), 1, KV_BACKGROUND_MAX },
	{ "write_buffers", KV_UINT, KV_SET_WRITE_BUFFERS,
	  KV_OFF(write_buffers), 0, KV_WRITE_BUFFERS_MAX },
	{ "write_buffer_kb", KV_UINT, KV_SET_WRITE_BUFFER_KB,
	  KV_OFF(write_buffer_kb), KV_WRITE_BUFFER_KB_MIN,
	  KV_WRITE_BUFFER_KB_MAX },
	{ "read_ahead_kb", KV_UINT, KV_SET_READ_AHEAD,
	  KV_OFF(read_ahead_kb), 0, KV_READ_AHEAD_MAX },
	{ "read_buffers", KV_UINT, KV_SET_READ_BUFFERS,
	  KV_OFF(read_buffers), 0, KV_READ_BUFFERS_MAX },
	{ "max_inodes", KV_UINT, KV_SET_MAX_INODES, KV_OFF(max_inodes), 0,
	  KV_MAX_INODES_MAX },
	{ "listing_window", KV_UINT, KV_SET_LISTING_WINDOW,
	  KV_OFF(listing_window), KV_LISTING_WINDOW_MIN,
	  KV_LISTING_WINDOW_MAX },
	{ "entry_timeout", KV_SECONDS, KV_SET_ENTRY_TIMEOUT,
	  KV_OFF(entry_timeout), 0, 0 },
	{ "attr_timeout", KV_SECONDS, KV_SET_ATTR_TIMEOUT,
	  KV_OFF(attr_timeout), 0, 0 },
	{ "foreground", KV_BOOL, KV_SET_FOREGROUND, KV_OFF(foreground), 0, 0 },
	{ "debug", KV_BOOL, KV_SET_DEBUG, KV_OFF(debug), 0, 0 },
	{ "single_thread", KV_BOOL, KV_SET_SINGLE_THREAD,
	  KV_OFF(single_thread), 0, 0 },
	{ "io_uring", KV_BOOL, KV_SET_IO_URING, KV_OFF(io_uring), 0, 0 },
	{ "private", KV_BOOL, KV_SET_PRIVATE, KV_OFF(private_mount), 0, 0 },
	{ "fuse_options", KV_OPTS, KV_SET_FUSE_OPTS, KV_OFF(fuse_opts), 0, 0 },
};

#define KV_NKEYS	(sizeof(kv_keys) / sizeof(kv_keys[0]))

void kv_config_init(struct kv_config *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = KV_DEFAULT_THREADS;
	c->max_background = KV_DEFAULT_BACKGROUND;
	c->write_buffers = KV_DEFAULT_WRITE_BUFFERS;
	c->write_buffer_kb = KV_DEFAULT_WRITE_BUFFER_KB;
	c->read_ahead_kb = KV_DEFAULT_READ_AHEAD;
	c->read_buffers = KV_DEFAULT_READ_BUFFERS;
	c->max_inodes = KV_DEFAULT_MAX_INODES;
	c->listing_window = KV_DEFAULT_LISTING_WINDOW;
	c->entry_timeout = KV_DEFAULT_TIMEOUT;
	c->attr_timeout = KV_DEFAULT_TIMEOUT;
}

void kv_config_release(struct kv_config *c)
{
	free(c->config);
	free(c->sources);
	free(c->mountpoint);
	free(c->fuse_opts);
	c->config = c->sources = c->mountpoint = c->fuse_opts = NULL;
}

const struct kv_key *kv_find(const char *name)
{
	size_t i;

	for (i = 0; i < KV_NKEYS; i++)
		if (!strcmp(kv_keys[i].name, name))
			return &kv_keys[i];
	return NULL;
}

/* Decimal digits only: no sign, no blanks, no trailing junk. */
int parse_ulong(const char *s, unsigned long min, unsigned long max,
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
	const struct kv_key *k = kv_find(key);
	char *field, want[64], *s;
	unsigned long u;
	double d;
	bool b;

	if (!k)
		return -ENOENT;
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
		if (parse_ulong(value, k->min, k->max, &u)) {
			snprintf(want, sizeof(want), "an integer from %lu to %lu",
				 k->min, k->max);
			return set_invalid(key, value, want, err, errlen);
		}
		/* a buffer size must keep every device alignment */
		if (k->field == KV_SET_WRITE_BUFFER_KB && (u & (u - 1))) {
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
		*(double *)field = d;
		break;
	case KV_BOOL:
		if (parse_bool(value, &b))
			return set_invalid(key, value, "yes or no", err,
					   errlen);
		*(bool *)field = b;
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

	if (strcmp(key, "align"))
		return -ENOENT;
	if (index >= DEV_MAX) {
		log_format(err, errlen,
			"invalid device number %u (expected 0 to %d)", index,
			DEV_MAX - 1);
		return -EINVAL;
	}
	if (parse_ulong(value, KV_ALIGN_MIN, DEV_ALIGN_MAX, &v) ||
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
		if (!out->dev[i].align && file)
			out->dev[i] = file->dev[i];
	}
	if (out->debug)
		out->foreground = true;
	return 0;

err_nomem:
	kv_config_release(out);
	return -ENOMEM;
}

int kv_config_check_devices(const struct kv_config *c, unsigned ndev,
			    char *err, size_t errlen)
{
	unsigned i;

	for (i = ndev; i < DEV_MAX; i++) {
		if (!c->dev[i].align)
			continue;
		log_format(err, errlen,
			"'align' is set for device %u, but there %s only %u backing director%s",
			i, ndev == 1 ? "is" : "are", ndev,
			ndev == 1 ? "y" : "ies");
		return -EINVAL;
	}
	return 0;
}
