/*
 * test_iomem.c - unit tests for I/O buffer memory (core/iomem.c): the
 * lengths and alignments it gives, and that a large buffer really comes
 * in huge pages where the kernel has transparent huge pages.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "iomem.h"

#define MIB (1024u * 1024u)

TestSuite(iomem);

Test(iomem, small_lengths_are_kept_large_ones_rounded_to_huge_pages)
{
	cr_expect_eq(iomem_len(4096), 4096);
	cr_expect_eq(iomem_len(MIB - 1), MIB - 1);
	cr_expect_eq(iomem_len(MIB), 2 * MIB);
	cr_expect_eq(iomem_len(MIB + 8192), 2 * MIB);
	cr_expect_eq(iomem_len(2 * MIB), 2 * MIB);
	cr_expect_eq(iomem_len(4 * MIB + 1), 6 * MIB);
	cr_expect_eq(iomem_len(64 * MIB), 64 * MIB);
}

Test(iomem, alignment)
{
	char *small = iomem_alloc(65536, 4096);
	char *large = iomem_alloc(MIB + 8192, 4096);

	cr_assert(small && large);
	cr_expect_eq((uintptr_t)small % 4096, 0);
	cr_expect_eq((uintptr_t)large % IOMEM_HUGE, 0);
	memset(small, 1, 65536);
	memset(large, 2, iomem_len(MIB + 8192));	/* all of it is ours */
	free(small);
	free(large);
}

/* kB of AnonHugePages in the mapping that holds @p, or -1. */
static long huge_kb_at(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = -1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') <
		    strchr(line, ' ')) {
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* A counter of /proc/vmstat, or -1. */
static long vmstat(const char *name)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char key[64];
	long v, found = -1;

	cr_assert_not_null(f);
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

static bool thp_available(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char mode[128] = "";
	bool ok;

	if (!f)
		return false;
	ok = fgets(mode, sizeof(mode), f) && !strstr(mode, "[never]");
	fclose(f);
	return ok;
}

/*
 * The kernel backs the buffer with huge pages, or at least tried to (it
 * counts a fallback when none was free): with THP in "madvise" mode it
 * would not even try without the advice.
 */
Test(iomem, large_buffers_come_in_huge_pages)
{
	long fallback = vmstat("thp_fault_fallback");
	size_t len = 8 * MIB;
	char *buf;

	if (!thp_available())
		cr_skip_test("no transparent huge pages here");
	buf = iomem_alloc(len, 4096);
	cr_assert_not_null(buf);
	memset(buf, 3, len);
	cr_expect(huge_kb_at(buf) > 0 || vmstat("thp_fault_fallback") > fallback,
		  "no huge page for the buffer, and none was tried");
	free(buf);
}
