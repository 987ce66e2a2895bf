/*
 * fuzz_place.c - libFuzzer target for the placement name parsers: gpu<N>
 * directories and LMCache key names come from clients' file names and are
 * parsed by a daemon running as root. Byte 0 picks the device count and
 * the gpus split; the rest is the path relative to the mount.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "place.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct place_policy p;
	unsigned busy[16] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3 };
	unsigned n, d;
	char *path;

	if (size < 1 || !(path = strndup((const char *)data + 1, size - 1)))
		return 0;
	p.ndev = 1 + data[0] % 16;
	p.gpus = (data[0] >> 4) % 5;
	place_gpu_index(path, &n);
	place_lmcache_worker(path, &n);
	d = place_pick(&p, path);
	if (d >= p.ndev || place_pick_busy(&p, path, busy) >= p.ndev)
		abort();
	if (place_gpu_index(path, &n) && !place_gpu_owns(&p, n, d))
		abort();
	/* kvstripe fsck calls misplaced what place_allows() refuses */
	if (!place_allows(&p, path, d) ||
	    !place_allows(&p, path, place_pick_busy(&p, path, busy)))
		abort();
	free(path);
	return 0;
}
