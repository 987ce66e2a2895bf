/*
 * align.h - alignment arithmetic for O_DIRECT offsets, lengths and buffers.
 *
 * Every alignment @a passed here must be a power of two (check with
 * is_pow2() first); the results are undefined otherwise.
 */
#ifndef CORE_ALIGN_H
#define CORE_ALIGN_H

#include <stdbool.h>
#include <stdint.h>

/* Whether @x is a power of two. 0 is not. */
static inline bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* @x rounded down to a multiple of @a. */
static inline uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

/*
 * @x rounded up to a multiple of @a. Wraps to 0 when the result does not
 * fit in 64 bits (x > UINT64_MAX - a + 1); callers bound their offsets by
 * the off_t range first, which keeps them far away from that.
 */
static inline uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + (a - 1)) & ~(a - 1);
}

/* Whether @x is a multiple of @a. */
static inline bool is_aligned(uint64_t x, uint64_t a)
{
	return (x & (a - 1)) == 0;
}

/* Whether the address @p is a multiple of @a. */
static inline bool ptr_is_aligned(const void *p, uint64_t a)
{
	return is_aligned((uint64_t)(uintptr_t)p, a);
}

#endif /* CORE_ALIGN_H */
