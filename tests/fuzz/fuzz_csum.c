/*
 * fuzz_csum.c - libFuzzer target for the checksum record decoder. The
 * record is read from a backing file's attribute, which anyone with root
 * on the machine (or a disk moved from another) can have written: an
 * accepted one is consistent and encodes back to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t back[CSUM_REC_MAX];
	struct csum_rec *r;

	if (csum_decode(data, size, &r))
		return 0;
	if (r->n > CSUM_UNITS_MAX || r->group_shift > CSUM_GROUP_MAX ||
	    (r->n == 0) != (r->size == 0) ||
	    (uint64_t)(r->n - (r->n > 0)) * csum_unit(r) >= r->size + !r->n)
		abort();
	if (csum_encode(r, back) != size || memcmp(back, data, size))
		abort();
	free(r);
	return 0;
}
