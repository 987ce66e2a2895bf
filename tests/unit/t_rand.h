/*
 * t_rand.h - deterministic random bytes for the I/O unit tests
 * (xorshift64*: the same sequence on every run and machine; a test seeds
 * t_rng to replay its own). Header-only: each test binary is one file.
 */
#ifndef TESTS_T_RAND_H
#define TESTS_T_RAND_H

#include <stddef.h>
#include <stdint.h>

static uint64_t t_rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t t_rand(void)
{
	t_rng ^= t_rng >> 12;
	t_rng ^= t_rng << 25;
	t_rng ^= t_rng >> 27;
	return t_rng * 0x2545f4914f6cdd1dull;
}

static inline void t_rand_fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(t_rand() >> 56);
}

#endif /* TESTS_T_RAND_H */
