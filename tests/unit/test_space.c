/*
 * test_space.c - the minfree setting: bytes with suffixes, percentages,
 * the default, and the cached free space.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "space.h"

static struct space_setting parsed(const char *s)
{
	struct space_setting v = { 0 };

	cr_assert_eq(space_parse(s, &v), 0, "'%s'", s);
	cr_assert(v.set, "'%s'", s);
	return v;
}

Test(space, bytes_and_binary_suffixes)
{
	cr_assert_eq(parsed("0").value, 0);
	cr_assert_eq(parsed("12345").value, 12345);
	cr_assert_eq(parsed("4K").value, 4096);
	cr_assert_eq(parsed("4k").value, 4096);
	cr_assert_eq(parsed("3M").value, 3ull << 20);
	cr_assert_eq(parsed("4G").value, 4ull << 30);
	cr_assert_eq(parsed("2t").value, 2ull << 40);
	cr_assert_not(parsed("4G").percent);
	cr_assert_eq(parsed("18446744073709551615").value, UINT64_MAX);
}

Test(space, percentages_in_hundredths)
{
	struct space_setting v = parsed("5%");

	cr_assert(v.percent);
	cr_assert_eq(v.value, 500);
	cr_assert_eq(parsed("2.5%").value, 250);
	cr_assert_eq(parsed("0.01%").value, 1);
	cr_assert_eq(parsed("100%").value, 10000);
	cr_assert_eq(parsed("0%").value, 0);
}

Test(space, rejects_anything_else)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1KB", "1KiB", "1P", "1.5G", "G",
		"101%", "100.01%", "1.234%", "5%%", "%", ".5%", "5.%", "0x10",
		"18446744073709551616", "17179869184G", "abc",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct space_setting v = { 0 };

		cr_assert_eq(space_parse(bad[i], &v), -EINVAL, "'%s'", bad[i]);
		cr_assert_not(v.set, "'%s' left *out alone", bad[i]);
	}
}

Test(space, bytes_on_a_device)
{
	struct space_setting unset = { 0 };
	struct space_setting pct = parsed("10%"), abs = parsed("1M");

	/* the default: 5 %, at most 4 GiB */
	cr_assert_eq(space_bytes(&unset, 64ull << 20), (64ull << 20) / 20);
	cr_assert_eq(space_bytes(NULL, 1000ull << 30), 4ull << 30);
	cr_assert_eq(space_bytes(&unset, 80ull << 30), 4ull << 30);
	cr_assert_eq(space_bytes(&pct, 1000), 100);
	cr_assert_eq(space_bytes(&pct, UINT64_MAX), UINT64_MAX / 10);
	cr_assert_eq(space_bytes(&abs, 1000), 1 << 20);
}

Test(space, avail_is_sampled_then_cached)
{
	struct space_avail c = { 0 };
	int fd = open("/", O_RDONLY | O_DIRECTORY);
	uint64_t a;

	cr_assert_geq(fd, 0);
	a = space_avail(&c, fd);
	cr_assert_neq(atomic_load(&c.at_ms), 0);
	cr_assert_eq(atomic_load(&c.bytes), a);
	/* within SPACE_TTL_MS the sample stands, even a made-up one */
	atomic_store(&c.bytes, 7);
	cr_assert_eq(space_avail(&c, fd), 7);
	close(fd);
	/* a descriptor that fails: the last sample; none yet: UINT64_MAX */
	atomic_store(&c.at_ms, 1);
	cr_assert_eq(space_avail(&c, -1), 7);
	atomic_store(&c.at_ms, 0);
	cr_assert_eq(space_avail(&c, -1), UINT64_MAX);
}
