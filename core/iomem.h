/*
 * iomem.h - memory for device I/O buffers.
 *
 * A device request is a list of physically contiguous segments, and a
 * device takes a limited number of segments at a time (a virtio disk
 * without indirect descriptors: about 254 for all its requests in
 * flight). A 1 MiB request into 4 KiB pages is 256 segments; into one
 * 2 MiB transparent huge page it is one. So large I/O buffers are 2 MiB
 * aligned, a whole number of 2 MiB long, and ask for huge pages.
 */
#ifndef CORE_IOMEM_H
#define CORE_IOMEM_H

#include <stddef.h>

#define IOMEM_HUGE	(2u << 20)	/* the huge page size asked for */

/*
 * At least @len bytes aligned to @align (a power of two, at most
 * IOMEM_HUGE). From 1 MiB up the area is rounded up to whole huge pages,
 * aligned to them and advised to be backed by them (MADV_HUGEPAGE: no
 * more than advice; without transparent huge pages it is 4 KiB pages).
 * Returns NULL with errno set on failure. Free with free().
 */
void *iomem_alloc(size_t len, size_t align);

/* The length iomem_alloc() gives for @len: the buffer may use all of it. */
size_t iomem_len(size_t len);

#endif /* CORE_IOMEM_H */
