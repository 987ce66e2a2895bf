/*
 * place_names.c - who owns a file, read from its path alone: the names
 * KV-cache clients write (LMCache in-process keys, LMCache multi-process
 * fs/fs_native, vLLM's fs tier) and the operator's regex rules.
 *
 * Pure functions. A temporary name a client renames over its final name
 * parses to the same owner, so the rename never leaves a file on another
 * device than the one its final name is placed on.
 */
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "log.h"
#include "place.h"
#include "place_i.h"

#define NAME_FIELDS_MAX	32	/* '@' fields of a key name we look at */

struct place_rules {
	unsigned n;
	regex_t re[];		/* REG_EXTENDED; regexec() on a shared one is
				   thread-safe */
};

bool place_parse_uint(const char *s, const char *end, unsigned *out)
{
	unsigned v = 0;

	if (s == end || end - s > 9)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* [s, end) is 1 to 20 decimal digits (any unsigned 64-bit number). */
static bool is_digits(const char *s, const char *end)
{
	if (s == end || end - s > 20)
		return false;
	for (; s < end; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* [s, end) is one or more hex digits (exactly @len of them if @len). */
static bool is_hex(const char *s, const char *end, size_t len)
{
	if (s == end || (len && (size_t)(end - s) != len))
		return false;
	for (; s < end; s++)
		if (hexval(*s) < 0)
			return false;
	return true;
}

/*
 * Split [s, end) at '@' into fields; the count, or 0 if there are more
 * than @max.
 */
static unsigned split_at(const char *s, const char *end, const char **f,
			 const char **e, unsigned max)
{
	unsigned n = 0;

	for (;;) {
		const char *at = memchr(s, '@', (size_t)(end - s));

		if (n == max)
			return 0;
		f[n] = s;
		e[n] = at ? at : end;
		n++;
		if (!at)
			return n;
		s = at + 1;
	}
}

static bool field_is(const char *f, const char *e, const char *word)
{
	size_t len = strlen(word);

	return (size_t)(e - f) == len && memcmp(f, word, len) == 0;
}

/* If @name ends in @suffix (and has more before it), where the stem ends. */
static const char *strip(const char *name, size_t len, const char *suffix)
{
	size_t sl = strlen(suffix);

	if (len <= sl || memcmp(name + len - sl, suffix, sl) != 0)
		return NULL;
	return name + len - sl;
}

/*
 * An in-process key: five fields, then an optional layer number, then
 * "tag%value" fields. The old layout starts with the serving format word
 * and carries the numbers in fields 2 and 3; the current one in 1 and 2.
 */
static bool lmcache_key(const char *s, const char *end, unsigned *worker)
{
	const char *f[NAME_FIELDS_MAX], *e[NAME_FIELDS_MAX];
	unsigned n = split_at(s, end, f, e, NAME_FIELDS_MAX), i = 5, v, ws;
	bool old_fmt;

	if (n < 5)
		return false;
	if (i < n && place_parse_uint(f[i], e[i], &v))
		i++;			/* a layerwise key's layer */
	for (; i < n; i++)
		if (!memchr(f[i], '%', (size_t)(e[i] - f[i])))
			return false;
	old_fmt = field_is(f[0], e[0], "vllm") ||
		  field_is(f[0], e[0], "huggingface");
	if (!old_fmt && place_parse_uint(f[1], e[1], &ws) &&
	    place_parse_uint(f[2], e[2], worker))
		return true;
	return place_parse_uint(f[2], e[2], &ws) &&
	       place_parse_uint(f[3], e[3], worker);
}

bool place_lmcache_worker(const char *relpath, unsigned *worker)
{
	const char *name = strrchr(relpath, '/'), *end;
	size_t len;

	name = name ? name + 1 : relpath;
	len = strlen(name);
	if (!(end = strip(name, len, ".pt")) &&
	    !(end = strip(name, len, ".data")) &&
	    !(end = strip(name, len, ".tmp")))
		return false;
	return lmcache_key(name, end, worker);
}

/*
 * A multi-process adapter's name: "model@0x<kv_rank:08x>" then the group
 * and the hash (fs), or the hash alone (older fs_native), then an
 * optional salt. kv_rank packs (world_size << 24) | (rank << 16) |
 * (local_world_size << 8) | local_rank.
 */
static bool lmcache_mp(const char *s, const char *end, struct place_name *out)
{
	const char *f[6], *e[6];
	unsigned n = split_at(s, end, f, e, 6), kv = 0;

	if (n < 3 || n > 5)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (f[i] == e[i])
			return false;
	if (e[1] - f[1] != 10 || f[1][0] != '0' || f[1][1] != 'x' ||
	    !is_hex(f[1] + 2, e[1], 8) || !is_hex(f[2], e[2], 0))
		return false;
	if (n == 5 && !is_hex(f[3], e[3], 0))
		return false;
	for (const char *p = f[1] + 2; p < e[1]; p++)
		kv = kv << 4 | (unsigned)hexval(*p);
	out->scheme = PLACE_NAME_LMCACHE_MP;
	if (kv >> 24 <= 1) {
		/* one rank holds whole chunks: nothing ties them to a GPU */
		out->by_hash = true;
		out->hash = XXH3_64bits(s, (size_t)(end - s));
	} else {
		out->rank = kv & 0xff;	/* local_rank: the GPU here */
	}
	return true;
}

/* The last @k components of @path, [c[i], ce[i]), c[k-1] the last. */
static bool last_components(const char *path, unsigned k, const char **c,
			    const char **ce)
{
	const char *end = path + strlen(path);

	for (unsigned i = k; i-- > 0;) {
		const char *s = end;

		while (s > path && s[-1] != '/')
			s--;
		c[i] = s;
		ce[i] = end;
		if (s == end)
			return false;	/* an empty component */
		if (i && s == path)
			return false;	/* fewer than @k */
		end = s - 1;
	}
	return true;
}

/*
 * vLLM's fs tier: "<model>_<hash12>_r<rank>/<hhh>/<hh>_g<g>/<hash>.bin",
 * the temporary file "<hash>.bin_<N>.tmp" beside it; hhh and hh are the
 * hash's first five hex digits.
 */
static bool vllm_fs(const char *relpath, struct place_name *out)
{
	const char *c[4], *ce[4], *p, *bin, *hash_end;
	unsigned v;

	if (!last_components(relpath, 4, c, ce))
		return false;
	/* the file */
	bin = memmem(c[3], (size_t)(ce[3] - c[3]), ".bin", 4);
	if (!bin)
		return false;
	hash_end = bin;
	p = bin + 4;
	if (p != ce[3]) {
		const char *tmp = strip(p, (size_t)(ce[3] - p), ".tmp");

		/* vLLM's suffix: "_" and a random 63-bit number */
		if (!tmp || *p != '_' || !is_digits(p + 1, tmp))
			return false;
	}
	if (hash_end - c[3] < 5 || !is_hex(c[3], hash_end, 0))
		return false;
	/* <hh>_g<g> and <hhh>, the hash's first digits */
	if (ce[2] - c[2] < 5 || memcmp(c[2], c[3] + 3, 2) != 0 ||
	    c[2][2] != '_' || c[2][3] != 'g' ||
	    !place_parse_uint(c[2] + 4, ce[2], &v))
		return false;
	if (ce[1] - c[1] != 3 || memcmp(c[1], c[3], 3) != 0)
		return false;
	/* <model>_<hash12>_r<rank> */
	p = ce[0];
	while (p > c[0] && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p - c[0] < 16 || p[-1] != 'r' || p[-2] != '_' ||
	    !place_parse_uint(p, ce[0], &out->rank) ||
	    !is_hex(p - 14, p - 2, 12) || p[-15] != '_')
		return false;
	out->scheme = PLACE_NAME_VLLM_FS;
	return true;
}

bool place_name_parse(const char *relpath, struct place_name *out)
{
	const char *name = strrchr(relpath, '/'), *end;
	size_t len;

	memset(out, 0, sizeof(*out));
	name = name ? name + 1 : relpath;
	len = strlen(name);
	if (vllm_fs(relpath, out))
		return true;
	if ((end = strip(name, len, ".data")) ||
	    (end = strip(name, len, ".tmp"))) {
		if (lmcache_mp(name, end, out))
			return true;
		memset(out, 0, sizeof(*out));
	}
	if (place_lmcache_worker(relpath, &out->rank)) {
		out->scheme = PLACE_NAME_LMCACHE_KEY;
		return true;
	}
	memset(out, 0, sizeof(*out));
	return false;
}

int place_rules_new(const char *const *patterns, unsigned n,
		    struct place_rules **out, char *err, size_t errlen)
{
	struct place_rules *r;
	unsigned i;
	int rc;

	*out = NULL;
	if (!n)
		return 0;
	r = calloc(1, sizeof(*r) + n * sizeof(r->re[0]));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char why[256];

		rc = regcomp(&r->re[i], patterns[i], REG_EXTENDED);
		if (rc) {
			regerror(rc, &r->re[i], why, sizeof(why));
			if (err)
				log_format(err, errlen, "pattern '%s': %s",
					   patterns[i], why);
			rc = rc == REG_ESPACE ? -ENOMEM : -EINVAL;
			goto err_free;
		}
		r->n = i + 1;
		if (r->re[i].re_nsub < 1) {
			if (err)
				log_format(err, errlen,
					   "pattern '%s': no capture group for the rank (put it in parentheses)",
					   patterns[i]);
			rc = -EINVAL;
			goto err_free;
		}
	}
	*out = r;
	return 0;

err_free:
	place_rules_free(r);
	return rc;
}

void place_rules_free(struct place_rules *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->n; i++)
		regfree(&r->re[i]);
	free(r);
}

bool place_rules_match(const struct place_rules *r, const char *relpath,
		       unsigned *rank)
{
	regmatch_t m[2];

	for (unsigned i = 0; r && i < r->n; i++) {
		if (regexec(&r->re[i], relpath, 2, m, 0) != 0 ||
		    m[1].rm_so < 0)
			continue;
		if (place_parse_uint(relpath + m[1].rm_so,
				     relpath + m[1].rm_eo, rank))
			return true;
	}
	return false;
}
