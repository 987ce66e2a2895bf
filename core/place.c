/*
 * place.c - placement of new files: by GPU directory, by LMCache worker id,
 * else by a stable hash of the path.
 *
 * Everything here is a pure function of its arguments; the hash is XXH3
 * with seed 0, whose output is frozen by xxHash's format guarantee.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "place.h"

/* Parse a run of 1..9 decimal digits spanning exactly [s, end). */
static bool parse_uint(const char *s, const char *end, unsigned *out)
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

bool place_gpu_index(const char *relpath, unsigned *gpu)
{
	const char *slash;

	if (strncmp(relpath, "gpu", 3) != 0)
		return false;
	slash = strchr(relpath, '/');
	/* the gpu<N> directory itself is not below it */
	if (!slash || slash[1] == '\0')
		return false;
	return parse_uint(relpath + 3, slash, gpu);
}

/* Split @name at '@' into exactly five fields; false for any other count. */
static bool split5(const char *name, const char *f[5], const char *e[5])
{
	unsigned n = 0;
	const char *p = name;

	for (;;) {
		const char *at = strchr(p, '@');

		if (n == 5)
			return false;
		f[n] = p;
		e[n] = at ? at : p + strlen(p);
		n++;
		if (!at)
			break;
		p = at + 1;
	}
	return n == 5;
}

static bool field_is(const char *f, const char *e, const char *word)
{
	size_t len = strlen(word);

	return (size_t)(e - f) == len && memcmp(f, word, len) == 0;
}

bool place_lmcache_worker(const char *relpath, unsigned *worker)
{
	const char *name = strrchr(relpath, '/');
	const char *f[5], *e[5];
	unsigned ws, wid;
	bool old_fmt;
	size_t len;

	name = name ? name + 1 : relpath;
	len = strlen(name);
	if (len < 4 || strcmp(name + len - 3, ".pt") != 0)
		return false;
	if (!split5(name, f, e))
		return false;
	/*
	 * Both formats have five fields. The old one starts with the
	 * serving format ("vllm", "huggingface") and carries the numbers in
	 * fields 2 and 3; the current one carries them in fields 1 and 2.
	 */
	old_fmt = field_is(f[0], e[0], "vllm") ||
		  field_is(f[0], e[0], "huggingface");

	if (!old_fmt && parse_uint(f[1], e[1], &ws) &&
	    parse_uint(f[2], e[2], &wid)) {
		*worker = wid;
		return true;
	}
	if (parse_uint(f[2], e[2], &ws) && parse_uint(f[3], e[3], &wid)) {
		*worker = wid;
		return true;
	}
	return false;
}

uint64_t place_hash(const char *relpath)
{
	return XXH3_64bits(relpath, strlen(relpath));
}

unsigned place_pick(const struct place_policy *p, const char *relpath)
{
	unsigned n, owned;

	if (p->ndev <= 1)
		return 0;
	if (place_gpu_index(relpath, &n)) {
		if (!p->gpus || p->ndev <= p->gpus)
			return n % p->ndev;
		/*
		 * GPU n owns devices n%G, n%G+G, n%G+2G, ... below ndev;
		 * spread its files over them by path.
		 */
		n %= p->gpus;
		owned = (p->ndev - n + p->gpus - 1) / p->gpus;
		return n + p->gpus * (unsigned)(place_hash(relpath) % owned);
	}
	if (place_lmcache_worker(relpath, &n))
		return n % p->ndev;
	return (unsigned)(place_hash(relpath) % p->ndev);
}

unsigned place_pick_busy(const struct place_policy *p, const char *relpath,
			 const unsigned *busy)
{
	unsigned best = place_pick(p, relpath), first = 0, step = 1, n;

	if (!busy || p->ndev <= 1)
		return best;
	if (place_gpu_index(relpath, &n)) {
		if (!p->gpus || p->ndev <= p->gpus)
			return best;	/* N's one device */
		first = n % p->gpus;
		step = p->gpus;
	} else if (place_lmcache_worker(relpath, &n)) {
		return best;		/* the worker's device */
	}
	for (unsigned d = first; d < p->ndev; d += step)
		if (busy[d] < busy[best])
			best = d;
	return best;
}

bool place_gpu_owns(const struct place_policy *p, unsigned gpu, unsigned dev)
{
	if (p->ndev <= 1)
		return dev == 0;
	if (!p->gpus || p->ndev <= p->gpus)
		return dev == gpu % p->ndev;
	return dev < p->ndev && dev % p->gpus == gpu % p->gpus;
}

bool place_allows(const struct place_policy *p, const char *relpath,
		  unsigned dev)
{
	unsigned n;

	if (dev >= p->ndev)
		return false;
	if (place_gpu_index(relpath, &n))
		return place_gpu_owns(p, n, dev);
	if (place_lmcache_worker(relpath, &n))
		return dev == n % p->ndev;
	return true;
}

/* The not-full device with the most room, among those allowed if @own. */
static int roomiest(const struct place_policy *p, const char *relpath,
		    bool own, const uint64_t *avail, const uint64_t *minfree)
{
	int best = -1;

	for (unsigned d = 0; d < p->ndev; d++) {
		if (avail[d] < minfree[d])
			continue;
		if (own && !place_allows(p, relpath, d))
			continue;
		if (best < 0 || avail[d] > avail[best])
			best = (int)d;
	}
	return best;
}

unsigned place_spill(const struct place_policy *p, const char *relpath,
		     unsigned pick, const uint64_t *avail,
		     const uint64_t *minfree)
{
	int d;

	if (pick >= p->ndev || avail[pick] >= minfree[pick])
		return pick;
	d = roomiest(p, relpath, true, avail, minfree);
	if (d < 0)
		d = roomiest(p, relpath, false, avail, minfree);
	return d < 0 ? pick : (unsigned)d;
}

/* The order lookups visit devices: the policy's first, then ascending. */
unsigned place_visit(unsigned first, unsigned i)
{
	if (i == 0)
		return first;
	return i <= first ? i - 1 : i;
}
