/*
 * test_align.c - unit tests for core/align.h.
 *
 * Pure arithmetic: zero, exact multiples, one off either side, alignments
 * from 1 to 2^62, and offsets far past any real file size.
 */
#include <stdint.h>

#include <criterion/criterion.h>

#include "align.h"

TestSuite(align);

Test(align, is_pow2_edges)
{
	unsigned i;

	cr_assert_not(is_pow2(0));
	cr_assert(is_pow2(1));
	cr_assert(is_pow2(2));
	cr_assert_not(is_pow2(3));
	cr_assert_not(is_pow2(6));
	cr_assert_not(is_pow2(4095));
	cr_assert(is_pow2(4096));
	cr_assert_not(is_pow2(4097));
	cr_assert_not(is_pow2(UINT64_MAX));
	for (i = 0; i < 64; i++) {
		uint64_t p = UINT64_C(1) << i;

		cr_assert(is_pow2(p), "2^%u", i);
		if (i > 1)
			cr_assert_not(is_pow2(p + 1), "2^%u + 1", i);
		if (i > 1)
			cr_assert_not(is_pow2(p - 1), "2^%u - 1", i);
	}
}

Test(align, zero_is_aligned_to_everything)
{
	unsigned i;

	for (i = 0; i < 63; i++) {
		uint64_t a = UINT64_C(1) << i;

		cr_assert(is_aligned(0, a));
		cr_assert_eq(align_down(0, a), 0);
		cr_assert_eq(align_up(0, a), 0);
	}
}

Test(align, exact_multiples_are_fixed_points)
{
	static const uint64_t aligns[] = { 1, 2, 512, 4096, 1 << 20 };
	unsigned i, k;

	for (i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		uint64_t a = aligns[i];

		for (k = 1; k < 100; k++) {
			uint64_t x = a * k;

			cr_assert(is_aligned(x, a));
			cr_assert_eq(align_down(x, a), x);
			cr_assert_eq(align_up(x, a), x);
		}
	}
}

Test(align, one_off_either_side)
{
	cr_assert_eq(align_down(4095, 4096), 0);
	cr_assert_eq(align_up(4095, 4096), 4096);
	cr_assert_eq(align_down(4097, 4096), 4096);
	cr_assert_eq(align_up(4097, 4096), 8192);
	cr_assert_eq(align_up(1, 4096), 4096);
	cr_assert_eq(align_down(511, 512), 0);
	cr_assert_eq(align_up(513, 512), 1024);
	cr_assert_eq(align_up(5000, 512), 5120);
	cr_assert_eq(align_down(5000, 512), 4608);
	cr_assert_not(is_aligned(4095, 4096));
	cr_assert_not(is_aligned(4097, 4096));
	cr_assert(is_aligned(4097, 1));
	cr_assert_eq(align_up(4097, 1), 4097);
	cr_assert_eq(align_down(4097, 1), 4097);
}

Test(align, large_values)
{
	uint64_t tib16 = UINT64_C(16) << 40;
	uint64_t big = (uint64_t)INT64_MAX - 4095;	/* 2^63 - 4096 */

	cr_assert_eq(align_up(tib16 - 1, 4096), tib16);
	cr_assert_eq(align_down(tib16 + 4095, 4096), tib16);
	cr_assert(is_aligned(big, 4096));
	cr_assert_eq(align_up(big - 1, 4096), big);
	cr_assert_eq(align_up(big + 1, 4096), UINT64_C(1) << 63);
	cr_assert_eq(align_down((uint64_t)INT64_MAX, 4096), big);
	cr_assert_eq(align_down(UINT64_MAX, 4096), UINT64_MAX - 4095);
	cr_assert_eq(align_down(UINT64_MAX, UINT64_C(1) << 62),
		     UINT64_C(3) << 62);
	cr_assert_eq(align_up((UINT64_C(1) << 62) + 1, UINT64_C(1) << 62),
		     UINT64_C(1) << 63);
	cr_assert(is_aligned(UINT64_C(1) << 63, UINT64_C(1) << 62));
}

Test(align, pointers)
{
	static char block[8192] __attribute__((aligned(4096)));

	cr_assert(ptr_is_aligned(block, 4096));
	cr_assert(ptr_is_aligned(block + 512, 512));
	cr_assert_not(ptr_is_aligned(block + 80, 512));
	cr_assert(ptr_is_aligned(block + 80, 16));
}
