/*
 * fuzz_place.c - libFuzzer target for the placement name parsers: gpu<N>
 * directories, the LMCache and vLLM names (place_names.c) and the rules
 * come from clients' file names and are parsed by a daemon running as
 * root. Byte 0 picks the device count, the gpus split and whether a rule
 * is set; the rest is the path relative to the mount.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "place.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct place_rules *rules;
	static const char *const pat[] = { "^rules/([0-9]+)/" };
	struct place_policy p;
	struct place_name nm;
	unsigned busy[16] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3 };
	unsigned n, d;
	char *path;

	if (size < 1 || !(path = strndup((const char *)data + 1, size - 1)))
		return 0;
	p.ndev = 1 + data[0] % 16;
	p.gpus = (data[0] >> 4) % 5;
	if (!rules && place_rules_new(pat, 1, &rules, NULL, 0))
		abort();
	p.rules = data[0] & 0x80 ? rules : NULL;
	place_gpu_index(path, &n);
	place_lmcache_worker(path, &n);
	if (place_name_parse(path, &nm) != (nm.scheme != PLACE_NAME_NONE))
		abort();
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
