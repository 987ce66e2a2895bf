/*
 * iomem.c - I/O buffers backed by huge pages where it pays (iomem.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "align.h"
#include "iomem.h"

/* From here on a buffer holds whole device requests worth merging. */
#define IOMEM_LARGE	(1u << 20)

size_t iomem_len(size_t len)
{
	return len >= IOMEM_LARGE ? (size_t)align_up(len, IOMEM_HUGE) : len;
}

void *iomem_alloc(size_t len, size_t align)
{
	size_t n = iomem_len(len);
	void *mem;
	int rc;

	if (n >= IOMEM_LARGE)
		align = IOMEM_HUGE;
	rc = posix_memalign(&mem, align, n);
	if (rc) {
		errno = rc;
		return NULL;
	}
	if (align == IOMEM_HUGE)
		madvise(mem, n, MADV_HUGEPAGE);	/* advice: failure is fine */
	return mem;
}
