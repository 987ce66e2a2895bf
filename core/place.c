/*
 * place.c - placement of new files: by the operator's rules, by GPU
 * directory, by a client's rank in its file name (place_names.c), else by
 * a stable hash of the path.
 *
 * Everything here is a pure function of its arguments; the hash is XXH3
 * with seed 0, whose output is frozen by xxHash's format guarantee.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "place.h"
#include "place_i.h"

bool place_gpu_index(const char *relpath, unsigned *gpu)
{
	const char *slash;

	if (strncmp(relpath, "gpu", 3) != 0)
		return false;
	slash = strchr(relpath, '/');
	/* the gpu<N> directory itself is not below it */
	if (!slash || slash[1] == '\0')
		return false;
	return place_parse_uint(relpath + 3, slash, gpu);
}

uint64_t place_hash(const char *relpath)
{
	return XXH3_64bits(relpath, strlen(relpath));
}

/*
 * The one device a rule or a client's name binds @relpath to: true and
 * *@dev. Rules come before gpu<N>/, which comes before names: false for
 * a path below gpu<N>/ that no rule places.
 */
static bool owned_device(const struct place_policy *p, const char *relpath,
			 unsigned *dev)
{
	struct place_name nm;
	unsigned n;

	if (place_rules_match(p->rules, relpath, &n)) {
		*dev = n % p->ndev;
		return true;
	}
	if (place_gpu_index(relpath, &n) || !place_name_parse(relpath, &nm))
		return false;
	*dev = nm.by_hash ? (unsigned)(nm.hash % p->ndev) : nm.rank % p->ndev;
	return true;
}

unsigned place_pick(const struct place_policy *p, const char *relpath)
{
	unsigned n, owned;

	if (p->ndev <= 1)
		return 0;
	if (owned_device(p, relpath, &n))
		return n;
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
	return (unsigned)(place_hash(relpath) % p->ndev);
}

unsigned place_pick_busy(const struct place_policy *p, const char *relpath,
			 const unsigned *busy)
{
	unsigned best = place_pick(p, relpath), first = 0, step = 1, n;

	if (!busy || p->ndev <= 1)
		return best;
	if (owned_device(p, relpath, &n))
		return best;		/* the rule's or the rank's device */
	if (place_gpu_index(relpath, &n)) {
		if (!p->gpus || p->ndev <= p->gpus)
			return best;	/* N's one device */
		first = n % p->gpus;
		step = p->gpus;
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
	if (p->ndev > 1 && owned_device(p, relpath, &n))
		return dev == n;
	if (place_gpu_index(relpath, &n))
		return place_gpu_owns(p, n, dev);
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
