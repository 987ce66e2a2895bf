/*
 * bufpool.h - a fixed set of equal, aligned I/O buffers.
 *
 * All memory is allocated up front, so the daemon's footprint is set by
 * its configuration, not by its load: a caller that finds the pool empty
 * waits until a buffer comes back.
 */
#ifndef CORE_BUFPOOL_H
#define CORE_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct bufpool;

/*
 * Allocate @count buffers of @size bytes, each aligned to @align (a power
 * of two), from iomem_alloc(): a pool of 1 MiB or more asks for huge
 * pages. Returns 0 and the pool in *@out, -EINVAL for a zero count or
 * size or a bad alignment, -ENOMEM.
 */
int bufpool_new(unsigned count, size_t size, size_t align,
		struct bufpool **out);

/* Free the pool; every buffer must have been put back. NULL is a no-op. */
void bufpool_free(struct bufpool *pool);

/* Take a buffer, waiting for one if @wait, else NULL when none is free. */
void *bufpool_get(struct bufpool *pool, bool wait);

/* Give back a buffer taken from @pool. */
void bufpool_put(struct bufpool *pool, void *buf);

size_t bufpool_size(const struct bufpool *pool);
unsigned bufpool_count(const struct bufpool *pool);

/* Buffers taken and not put back now (takes the pool's lock). */
unsigned bufpool_in_use(struct bufpool *pool);

/* The whole area: buffer i starts at base + i * size. */
void *bufpool_base(const struct bufpool *pool);

#endif /* CORE_BUFPOOL_H */
