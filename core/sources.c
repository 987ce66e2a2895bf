/*
 * sources.c - the source list in LMCache's local_disk syntax: split,
 * strip "file://", normalise each path lexically, refuse duplicates and
 * control characters.
 *
 * Nothing here touches the filesystem or logs: every failure is one line
 * in the caller's buffer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "log.h"
#include "sources.h"

static bool sources_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The first control character but tab in [@s, @end), or NULL. */
static const char *sources_ctrl(const char *s, const char *end)
{
	for (; s < end; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return s;
	return NULL;
}

/* Drop the last component of @out; @abs says whether it starts with '/'. */
static void sources_pop(char *out, bool abs)
{
	char *slash = strrchr(out, '/');

	if (!slash)
		out[0] = '\0';
	else if (abs && slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
}

/*
 * Normalise the @len bytes at @in lexically: no "//", no "." components,
 * ".." resolved against what precedes it (never above "/"), no trailing
 * slash. Relative paths stay relative; one that cancels out becomes ".".
 */
static char *sources_normalise(const char *in, size_t len)
{
	bool abs = in[0] == '/';
	const char *p = in, *end = in + len;
	char *out;

	/* the result is never longer than the input, or "." */
	out = malloc(len + 2);
	if (!out)
		return NULL;
	strcpy(out, abs ? "/" : "");
	while (p < end) {
		const char *c = p, *last;
		size_t clen;

		while (p < end && *p != '/')
			p++;
		clen = p - c;
		if (p < end)
			p++;
		if (clen == 0 || (clen == 1 && c[0] == '.'))
			continue;
		if (clen == 2 && c[0] == '.' && c[1] == '.') {
			last = strrchr(out, '/');
			last = last ? last + 1 : out;
			if (*last && strcmp(last, "..")) {
				sources_pop(out, abs);
				continue;
			}
			if (abs)
				continue;	/* "/.." is "/" */
		}
		if (out[0] && strcmp(out, "/"))
			strcat(out, "/");
		strncat(out, c, clen);
	}
	if (!out[0])
		strcpy(out, ".");
	return out;
}

void sources_free(char **paths, unsigned count)
{
	unsigned i;

	if (!paths)
		return;
	for (i = 0; i < count; i++)
		free(paths[i]);
	free(paths);
}

int sources_parse(const char *list, char ***paths, unsigned *count,
		  char *err, size_t errlen)
{
	const char *p, *s, *e, *end;
	unsigned n = 0, entry = 0, j;
	char **v;
	int rc;

	*paths = NULL;
	*count = 0;
	for (s = list; s && sources_blank(*s); s++)
		;
	if (!s || !*s) {
		log_format(err, errlen, "no backing directory given");
		return -EINVAL;
	}
	v = calloc(DEV_MAX, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (p = list;; p = end + 1) {
		end = strchrnul(p, ',');
		entry++;
		s = sources_ctrl(p, end);
		if (s) {
			/* not echoed: it could be a terminal's escape sequence */
			log_format(err, errlen,
				"control character 0x%02x in entry %u of the source list (only tab is allowed)",
				(unsigned char)*s, entry);
			rc = -EINVAL;
			goto err_free;
		}
		for (s = p; s < end && sources_blank(*s); s++)
			;
		for (e = end; e > s && sources_blank(e[-1]); e--)
			;
		if (e - s >= 7 && !strncmp(s, "file://", 7))
			s += 7;
		if (s == e) {
			log_format(err, errlen,
				"empty entry %u in source list '%s'", entry,
				list);
			rc = -EINVAL;
			goto err_free;
		}
		if (n == DEV_MAX) {
			log_format(err, errlen,
				"too many backing directories (at most %d)",
				DEV_MAX);
			rc = -E2BIG;
			goto err_free;
		}
		v[n] = sources_normalise(s, e - s);
		if (!v[n]) {
			log_format(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto err_free;
		}
		for (j = 0; j < n; j++) {
			if (!strcmp(v[j], v[n])) {
				log_format(err, errlen, "'%s' is listed twice",
					v[n]);
				n++;
				rc = -EINVAL;
				goto err_free;
			}
		}
		n++;
		if (!*end)
			break;
	}
	*paths = v;
	*count = n;
	return 0;

err_free:
	sources_free(v, n);
	return rc;
}
