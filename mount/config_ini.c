/*
 * config_ini.c - the INI file (inih): [kvstripe] keys through the key
 * table, [device N] sections, [placement] rules (compiled once here to
 * check them), and one "FILE:LINE: ..." line for the first bad line.
 * No FUSE header: the unit tests link this without libfuse.
 */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_i.h"
#include "log.h"
#include "place.h"

/* State of one kv_config_load(); the reader and the handler share it. */
struct ini_ctx {
	struct kv_config *c;
	const char *file;
	FILE *fp;
	char *buf;		/* the physical line, from getline() */
	size_t cap;
	unsigned line;		/* number of the line being parsed */
	int read_errno;
	int rc;			/* of the first error, reported in err */
	unsigned err_line;
	char *err;
	size_t errlen;
	char *path[DEV_MAX];	/* [device N] path = ... */
	unsigned path_line[DEV_MAX];
};

static void ini_error(struct ini_ctx *x, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record "FILE:LINE: message" unless an earlier line already failed. */
static void ini_error(struct ini_ctx *x, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (x->rc)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_format(x->err, x->errlen, "%s:%u: %s", x->file, line, msg);
	x->rc = -EINVAL;
	x->err_line = line;
}

/*
 * inih's reader: one physical line at a time, so that x->line is the line
 * the handler is looking at. Leading blanks are dropped: indentation is
 * cosmetic here and never makes a continuation line. A line that does not
 * fit inih's buffer, or that holds a control character other than tab
 * (inih would end a value at a NUL), is reported and replaced by a blank
 * one, instead of being split into two lines or cut short.
 */
static char *ini_read(char *str, int num, void *stream)
{
	struct ini_ctx *x = stream;
	const char *bad;
	size_t len;
	ssize_t n;
	char *s;

	errno = 0;
	n = getline(&x->buf, &x->cap, x->fp);
	if (n < 0) {
		if (ferror(x->fp))
			x->read_errno = errno ? errno : EIO;
		return NULL;
	}
	x->line++;
	len = n;
	while (len && (x->buf[len - 1] == '\n' || x->buf[len - 1] == '\r'))
		len--;
	bad = kv_config_ctrl(x->buf, len);
	if (bad) {
		ini_error(x, x->line,
			  "control character 0x%02x at column %zu (only tab is allowed)",
			  (unsigned char)*bad, (size_t)(bad - x->buf) + 1);
		len = 0;
	}
	for (s = x->buf; s < x->buf + len && (*s == ' ' || *s == '\t'); s++)
		;
	len -= s - x->buf;
	if (len + 2 > (size_t)num) {
		ini_error(x, x->line, "line too long (at most %d characters)",
			  num - 2);
		len = 0;
	}
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/* "device N" with blanks between, N a decimal device number. */
static int ini_device_section(const char *sec, unsigned long *index)
{
	if (strncasecmp(sec, "device", 6) || (sec[6] != ' ' && sec[6] != '\t'))
		return -ENOENT;
	sec += 6;
	while (*sec == ' ' || *sec == '\t')
		sec++;
	return kv_config_parse_ulong(sec, 0, DEV_MAX - 1, index);
}

static void ini_main_key(struct ini_ctx *x, const char *name,
			 const char *value)
{
	const struct kv_key *k = kv_config_find(name);
	char msg[400];
	unsigned i;
	int rc;

	if (!k) {
		if (!strcmp(name, "path") || !strcmp(name, "align"))
			ini_error(x, x->line,
				  "'%s' belongs in a [device N] section", name);
		else
			ini_error(x, x->line,
				  "unknown key '%s' in section [kvstripe]",
				  name);
		return;
	}
	if (x->c->set & k->field) {
		ini_error(x, x->line, "'%s' is set twice in section [kvstripe]",
			  name);
		return;
	}
	if (k->field == KV_SET_SOURCES) {
		for (i = 0; i < DEV_MAX && !x->path[i]; i++)
			;
		if (i < DEV_MAX) {
			ini_error(x, x->line,
				  "'sources' conflicts with 'path' in [device %u] (use one or the other)",
				  i);
			return;
		}
	}
	rc = kv_config_set(x->c, name, value, msg, sizeof(msg));
	if (rc == -ENOMEM)
		x->rc = rc;
	else if (rc)
		ini_error(x, x->line, "%s", msg);
}

static void ini_dev_key(struct ini_ctx *x, const char *sec, unsigned index,
			const char *name, const char *value)
{
	char msg[400];
	int rc;

	if (!strcmp(name, "path")) {
		if (x->path[index]) {
			ini_error(x, x->line,
				  "'path' is set twice in section [%s]", sec);
		} else if (x->c->set & KV_SET_SOURCES) {
			ini_error(x, x->line,
				  "'path' in [device %u] conflicts with 'sources' (use one or the other)",
				  index);
		} else if (!*value || strchr(value, ',')) {
			ini_error(x, x->line,
				  "invalid value for 'path': '%s' (expected one path without ',')",
				  value);
		} else {
			x->path[index] = strdup(value);
			x->path_line[index] = x->line;
			if (!x->path[index])
				x->rc = -ENOMEM;
		}
		return;
	}
	if ((!strcmp(name, "align") && x->c->dev[index].align) ||
	    (!strcmp(name, "minfree") && x->c->dev[index].minfree.set) ||
	    (!strcmp(name, "max_size") && x->c->dev[index].max_size.set)) {
		ini_error(x, x->line, "'%s' is set twice in section [%s]",
			  name, sec);
		return;
	}
	rc = kv_config_set_dev(x->c, index, name, value, msg, sizeof(msg));
	if (rc == -ENOENT)
		ini_error(x, x->line, "unknown key '%s' in section [%s]", name,
			  sec);
	else if (rc)
		ini_error(x, x->line, "%s", msg);
}

/* [placement] rule = PATTERN: a regex with a capture group for the rank. */
static void ini_placement_key(struct ini_ctx *x, const char *name,
			      const char *value)
{
	struct place_rules *r;
	char msg[400];
	int rc;

	if (strcmp(name, "rule")) {
		ini_error(x, x->line, "unknown key '%s' in section [placement]",
			  name);
		return;
	}
	if (x->c->nrules == KV_RULES_MAX) {
		ini_error(x, x->line,
			  "too many rules in section [placement] (at most %d)",
			  KV_RULES_MAX);
		return;
	}
	rc = place_rules_new(&value, 1, &r, msg, sizeof(msg));
	if (rc == -ENOMEM) {
		x->rc = rc;
		return;
	}
	if (rc) {
		ini_error(x, x->line, "invalid value for 'rule': %s", msg);
		return;
	}
	place_rules_free(r);
	x->c->rules[x->c->nrules] = strdup(value);
	if (!x->c->rules[x->c->nrules])
		x->rc = -ENOMEM;
	else
		x->c->nrules++;
}

static int ini_on_key(void *user, const char *section, const char *name,
		       const char *value)
{
	struct ini_ctx *x = user;
	unsigned long index;
	char sec[64], *end;
	const char *s;
	int dev;

	if (x->rc == -ENOMEM)
		return 0;
	for (s = section; *s == ' ' || *s == '\t'; s++)
		;
	snprintf(sec, sizeof(sec), "%s", s);
	for (end = sec + strlen(sec); end > sec &&
	     (end[-1] == ' ' || end[-1] == '\t'); end--)
		end[-1] = '\0';

	dev = ini_device_section(sec, &index);
	if (!*sec)
		ini_error(x, x->line,
			  "'%s' is outside any section (put it under [kvstripe])",
			  name);
	else if (!strcasecmp(sec, "kvstripe"))
		ini_main_key(x, name, value);
	else if (!strcasecmp(sec, "placement"))
		ini_placement_key(x, name, value);
	else if (!dev)
		ini_dev_key(x, sec, index, name, value);
	else if (dev == -EINVAL)
		ini_error(x, x->line,
			  "invalid device number in section [%s] (expected 0 to %d)",
			  sec, DEV_MAX - 1);
	else
		ini_error(x, x->line, "unknown section [%s]", sec);
	return !x->rc;
}

/* Turn [device N] path keys into the source list, in device order. */
static int ini_join_paths(struct ini_ctx *x)
{
	size_t len = 0;
	unsigned i, n = 0, gap = DEV_MAX;
	char *s;

	for (i = 0; i < DEV_MAX; i++) {
		if (!x->path[i]) {
			if (gap == DEV_MAX)
				gap = i;
			continue;
		}
		if (gap < i) {
			ini_error(x, x->path_line[i],
				  "[device %u] has a path but [device %u] has none",
				  i, gap);
			return x->rc;
		}
		n = i + 1;
		len += strlen(x->path[i]) + 1;
	}
	if (!n)
		return 0;
	s = malloc(len);
	if (!s)
		return -ENOMEM;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, x->path[i]);
	}
	free(x->c->sources);
	x->c->sources = s;
	x->c->set |= KV_SET_SOURCES;
	return 0;
}

int kv_config_load(struct kv_config *c, const char *file, char *err,
		   size_t errlen)
{
	struct ini_ctx x;
	unsigned i;
	int rc;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.file = file;
	x.err = err;
	x.errlen = errlen;
	x.fp = fopen(file, "re");
	if (!x.fp) {
		rc = -errno;
		log_format(err, errlen, "cannot read config '%s': %s", file,
			strerror(-rc));
		return rc;
	}
	rc = ini_parse_stream(ini_read, &x, ini_on_key, &x);
	if (x.read_errno) {
		x.rc = -x.read_errno;
		log_format(err, errlen, "cannot read config '%s': %s", file,
			strerror(x.read_errno));
	} else if (rc == -2) {
		x.rc = -ENOMEM;
	} else if (rc > 0 && x.rc != -ENOMEM &&
		   (!x.rc || (unsigned)rc < x.err_line)) {
		/* inih found a line that is neither a section nor a key */
		x.rc = 0;
		ini_error(&x, rc,
			  "cannot parse line (expected '[section]' or 'key = value')");
	}
	if (!x.rc)
		x.rc = ini_join_paths(&x);
	if (x.rc == -ENOMEM)
		log_format(err, errlen, "out of memory");

	for (i = 0; i < DEV_MAX; i++)
		free(x.path[i]);
	free(x.buf);
	fclose(x.fp);
	return x.rc;
}
