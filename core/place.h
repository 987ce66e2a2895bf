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
#include <stdint.h>

struct place_policy {
	unsigned ndev;		/* devices, >= 1 */
	unsigned gpus;		/* 0: off; else GPU N owns d with d%gpus == N%gpus */
};

/*
 * If @relpath lies below a top-level directory "gpu<N>" (N decimal, at most
 * 9 digits), store N in *@gpu and return true.
 */
bool place_gpu_index(const char *relpath, unsigned *gpu);

/*
 * If the last component of @relpath is an LMCache key file name,
 * "model@world_size@worker_id@hash@dtype.pt" or the older
 * "fmt@model@world_size@worker_id@hash.pt", store the worker id in *@worker
 * and return true.
 */
bool place_lmcache_worker(const char *relpath, unsigned *worker);

/* Stable 64-bit hash of @relpath (XXH3, seed 0). */
uint64_t place_hash(const char *relpath);

/*
 * The device for a new file or symlink at @relpath (relative to the mount,
 * no leading slash): below gpu<N>/ -> N % ndev, or with gpus set and
 * ndev > gpus, one of GPU N's devices chosen by place_hash(); an LMCache key
 * name -> worker_id % ndev; anything else -> place_hash() % ndev.
 */
unsigned place_pick(const struct place_policy *p, const char *relpath);

/*
 * Like place_pick(), but where @relpath leaves a choice of devices (below
 * gpu<N>/ with gpus set and N owning several, or a name with no owner),
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
 * @dev: below gpu<N>/, one of GPU N's devices (place_gpu_owns()); an
 * LMCache key name, its worker's device; any other name, every device
 * (place_pick_busy() may take any of them).
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
