/*
 * place.h - which device a new file lives on.
 *
 * Placement is a pure function of the file's path relative to the mount and
 * the device count: identical across restarts and machines (xxhash3 with a
 * fixed seed, never a per-process seeded hash). Where a path leaves a
 * choice of devices, place_pick_busy() may steer a new file away from
 * devices busy with other writes; lookup searches every device, so where
 * a file went need not be recomputed later.
 */
#ifndef CORE_PLACE_H
#define CORE_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct place_rules;

struct place_policy {
	unsigned ndev;		/* devices, >= 1 */
	unsigned gpus;		/* 0: off; else GPU N owns d with d%gpus == N%gpus */
	/* the operator's rules, tried first; NULL: none. Borrowed: the
	   caller keeps them alive as long as the policy is used */
	const struct place_rules *rules;
};

/* The client naming schemes place_name_parse() knows. */
enum place_scheme {
	PLACE_NAME_NONE = 0,
	PLACE_NAME_LMCACHE_KEY,	/* LMCache in-process key: LocalDiskBackend
				   "<key>.pt", FSConnector "<key>.data" and
				   its "<key>.tmp" */
	PLACE_NAME_LMCACHE_MP,	/* LMCache multi-process fs / fs_native:
				   "<model>@0x<kv_rank:08x>@...(.data|.tmp)" */
	PLACE_NAME_VLLM_FS,	/* vLLM's fs offload tier:
				   ".../<model>_<hash12>_r<rank>/<hhh>/<hh>_g<g>/
				   <hash>.bin" and its "<hash>.bin_<N>.tmp" */
};

/* What a client's file name says about its owner. */
struct place_name {
	enum place_scheme scheme;
	bool by_hash;		/* no rank to place by (one rank in all):
				   place by @hash */
	unsigned rank;		/* placement's rank, when !by_hash */
	uint64_t hash;		/* when by_hash: XXH3 of the last component
				   without its ".data" or ".tmp", the same
				   for a temporary name and its final one */
};

/*
 * If @relpath lies below a top-level directory "gpu<N>" (N decimal, at most
 * 9 digits), store N in *@gpu and return true.
 */
bool place_gpu_index(const char *relpath, unsigned *gpu);

/*
 * If the last component of @relpath is an LMCache in-process key file name
 * (place_name_parse()'s PLACE_NAME_LMCACHE_KEY: e.g.
 * "model@world_size@worker_id@hash@dtype.pt" or the older
 * "fmt@model@world_size@worker_id@hash.pt"), store the worker id in
 * *@worker and return true.
 */
bool place_lmcache_worker(const char *relpath, unsigned *worker);

/*
 * Recognise the name of a file a KV-cache client writes (core/place_names.c)
 * and fill *@out. Only the last components of @relpath count (a client's
 * root directory may be anywhere below the mount). The rank is what keeps
 * one GPU's files on one device:
 *  - LMCACHE_KEY: "model@ws@wid@hash@dtype[@layer][@tag%value...]" or the
 *    older "fmt@model@ws@wid@hash[@layer][@tag%value...]" with ".pt",
 *    ".data" or ".tmp": rank = wid (the worker's rank in its instance);
 *  - LMCACHE_MP: "model@0x<8 hex>[@group]@hash[@salt]" with ".data" or
 *    ".tmp": rank = local_rank, the low byte of kv_rank (the GPU on this
 *    machine); with world_size 1, by_hash over the name without its
 *    suffix, so that many single-GPU instances sharing one server spread;
 *  - VLLM_FS: rank = the "_r<rank>" directory's number (vLLM's global
 *    rank; rank % D equals local_rank % D when D divides the GPUs per
 *    machine).
 * Returns true for a recognised name; false (and scheme NONE) otherwise.
 */
bool place_name_parse(const char *relpath, struct place_name *out);

/*
 * Compile @n POSIX extended regular expressions into *@out, tried in order
 * against the whole path relative to the mount (no leading slash). A rule
 * places a path it matches on device N % D, N the decimal number (1 to 9
 * digits) its first capture group matched; a match whose group is not
 * such a number does not count and the next rule is tried.
 * Returns 0; -EINVAL for a pattern regcomp() refuses or that has no
 * capture group, with "pattern 'P': REASON" in @err (@err may be NULL);
 * -ENOMEM. @n 0 gives *@out NULL.
 */
int place_rules_new(const char *const *patterns, unsigned n,
		    struct place_rules **out, char *err, size_t errlen);

/* Free rules made by place_rules_new(); NULL is a no-op. */
void place_rules_free(struct place_rules *r);

/*
 * The first rule of @r that places @relpath: true and its rank in *@rank;
 * false if none does (or @r is NULL).
 */
bool place_rules_match(const struct place_rules *r, const char *relpath,
		       unsigned *rank);

/* Stable 64-bit hash of @relpath (XXH3, seed 0). */
uint64_t place_hash(const char *relpath);

/*
 * The device for a new file or symlink at @relpath (relative to the mount,
 * no leading slash): a path one of p->rules places -> its rank % ndev;
 * below gpu<N>/ -> N % ndev, or with gpus set and ndev > gpus, one of GPU
 * N's devices chosen by place_hash(); a client's name (place_name_parse())
 * -> its rank % ndev, or its hash % ndev; anything else ->
 * place_hash() % ndev.
 */
unsigned place_pick(const struct place_policy *p, const char *relpath);

/*
 * Like place_pick(), but where @relpath leaves a choice of devices (below
 * gpu<N>/ with gpus set and N owning several, or a name no rule or
 * scheme owns),
 * take the one with the fewest files open for writing, @busy[d]. Ties go
 * to place_pick()'s choice, so with no other writer the result is
 * place_pick()'s. @busy holds p->ndev counts; NULL means place_pick().
 */
unsigned place_pick_busy(const struct place_policy *p, const char *relpath,
			 const unsigned *busy);

/*
 * Whether device @dev is one of GPU @gpu's devices: N % ndev without the
 * gpus split, else every d with d % gpus == N % gpus.
 */
bool place_gpu_owns(const struct place_policy *p, unsigned gpu, unsigned dev);

/*
 * Whether the policy could have put a new file at @relpath on device
 * @dev: below gpu<N>/, one of GPU N's devices (place_gpu_owns()); a path
 * a rule places or a client's name, place_pick()'s one device; any other
 * name, every device (place_pick_busy() may take any of them).
 */
bool place_allows(const struct place_policy *p, const char *relpath,
		  unsigned dev);

/*
 * Where a new file at @relpath goes when device @pick (the policy's
 * choice, place_pick_busy()) has too little room: device d is full when
 * @avail[d] (its free bytes) is below @minfree[d]. Returns @pick if it is
 * not full; else, of the devices place_allows() that are not full, the one
 * with the most free space; else the same over every device; else @pick
 * (nothing has room: the device itself will say ENOSPC). Ties go to the
 * lower device. @avail and @minfree hold p->ndev entries.
 */
unsigned place_spill(const struct place_policy *p, const char *relpath,
		     unsigned pick, const uint64_t *avail,
		     const uint64_t *minfree);

/* The order lookups visit devices: the policy's first, then ascending. */
unsigned place_visit(unsigned first, unsigned i);

#endif /* CORE_PLACE_H */
