/*
 * test_sources.c - the source list in LMCache's syntax: splitting, blanks,
 * file:// prefixes, lexical normalisation, duplicates, empty entries,
 * control characters and the device limit.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dev.h"
#include "sources.h"

static char t_err[512];

TestSuite(sources);

/* Parse @list and expect @n paths, given as the variadic arguments. */
static void t_parse_ok(const char *list, unsigned n, ...)
{
	char **paths;
	unsigned count, i;
	va_list ap;
	int rc;

	rc = sources_parse(list, &paths, &count, t_err, sizeof(t_err));
	cr_assert_eq(rc, 0, "'%s': %d %s", list, rc, t_err);
	cr_assert_eq(count, n, "'%s': %u paths", list, count);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		cr_expect_str_eq(paths[i], va_arg(ap, const char *),
				 "'%s' entry %u", list, i);
	va_end(ap);
	sources_free(paths, count);
}

static void t_parse_fails(const char *list, int want, const char *msg)
{
	char **paths = (char **)1;
	unsigned count = 99;
	int rc;

	t_err[0] = '\0';
	rc = sources_parse(list, &paths, &count, t_err, sizeof(t_err));
	cr_assert_eq(rc, want, "'%s': got %d", list, rc);
	cr_expect_null(paths);
	cr_expect_eq(count, 0);
	if (msg)
		cr_expect_str_eq(t_err, msg);
}

Test(sources, plain_list)
{
	t_parse_ok("/mnt/nvme0/kv", 1, "/mnt/nvme0/kv");
	t_parse_ok("/mnt/nvme0/kv,/mnt/nvme1/kv,/mnt/nvme2/kv", 3,
		   "/mnt/nvme0/kv", "/mnt/nvme1/kv", "/mnt/nvme2/kv");
}

Test(sources, blanks_around_entries)
{
	t_parse_ok("  /a ,\t/b\t,  /c  ", 3, "/a", "/b", "/c");
	t_parse_ok("/a, /b", 2, "/a", "/b");
	/* blanks inside a path belong to it */
	t_parse_ok(" /my dir ,/b", 2, "/my dir", "/b");
}

Test(sources, file_url_prefix)
{
	t_parse_ok("file:///a", 1, "/a");
	t_parse_ok("file:///a/", 1, "/a");
	t_parse_ok("file:///mnt/nvme0/kv/, file:///mnt/nvme1/kv", 2,
		   "/mnt/nvme0/kv", "/mnt/nvme1/kv");
	t_parse_ok(" file:///a/ , /b", 2, "/a", "/b");
}

Test(sources, duplicates_after_normalisation)
{
	t_parse_fails("file:///a,/a", -EINVAL, "'/a' is listed twice");
	t_parse_fails("/a/,/a", -EINVAL, "'/a' is listed twice");
	t_parse_fails("/a, /b, file:///b/", -EINVAL, "'/b' is listed twice");
	t_parse_fails("/x/./a,/x/b/../a", -EINVAL, "'/x/a' is listed twice");
	t_parse_fails("kv,./kv/", -EINVAL, "'kv' is listed twice");
}

Test(sources, lexical_normalisation)
{
	t_parse_ok("/a/./b/../b", 1, "/a/b");
	t_parse_ok("//a//b//", 1, "/a/b");
	t_parse_ok("/", 1, "/");
	t_parse_ok("///", 1, "/");
	t_parse_ok("/..", 1, "/");
	t_parse_ok("/../../a/..", 1, "/");
	t_parse_ok("/a/b/c/../../d", 1, "/a/d");
	t_parse_ok("file:///a/./b/", 1, "/a/b");
}

Test(sources, relative_paths_stay_relative)
{
	t_parse_ok("kv,./kv2/,a/b/..", 3, "kv", "kv2", "a");
	t_parse_ok("../x/./y", 1, "../x/y");
	t_parse_ok("a/../..", 1, "..");
	t_parse_ok("../../a", 1, "../../a");
	t_parse_ok("a/..", 1, ".");
	t_parse_ok(".", 1, ".");
}

Test(sources, empty_list)
{
	t_parse_fails("", -EINVAL, "no backing directory given");
	t_parse_fails("  \t ", -EINVAL, "no backing directory given");
	t_parse_fails(NULL, -EINVAL, "no backing directory given");
}

Test(sources, empty_entries)
{
	t_parse_fails(",", -EINVAL, "empty entry 1 in source list ','");
	t_parse_fails("/a,,/b", -EINVAL,
		      "empty entry 2 in source list '/a,,/b'");
	t_parse_fails("/a, ,/b", -EINVAL,
		      "empty entry 2 in source list '/a, ,/b'");
	t_parse_fails("/a,/b,", -EINVAL,
		      "empty entry 3 in source list '/a,/b,'");
	t_parse_fails(",/a", -EINVAL, "empty entry 1 in source list ',/a'");
	t_parse_fails("/a, file://", -EINVAL,
		      "empty entry 2 in source list '/a, file://'");
}

Test(sources, control_characters)
{
	t_parse_fails("/a\n", -EINVAL,
		      "control character 0x0a in entry 1 of the source list (only tab is allowed)");
	t_parse_fails("/a, /b\x1b[2J", -EINVAL,
		      "control character 0x1b in entry 2 of the source list (only tab is allowed)");
	t_parse_fails("/a,/b,\x7f", -EINVAL,
		      "control character 0x7f in entry 3 of the source list (only tab is allowed)");
	t_parse_fails("/a,\r\n", -EINVAL,
		      "control character 0x0d in entry 2 of the source list (only tab is allowed)");
	/* before any other complaint about the entry or the list */
	t_parse_fails("/a,/a\x01", -EINVAL,
		      "control character 0x01 in entry 2 of the source list (only tab is allowed)");
	/* a tab is a blank around an entry and a character inside one */
	t_parse_ok("\t/a\tb\t,/c", 2, "/a\tb", "/c");
	/* bytes above 0x7f are a path's own (UTF-8) */
	t_parse_ok("/caf\xc3\xa9,/\x9b", 2, "/caf\xc3\xa9", "/\x9b");
}

Test(sources, too_many_entries)
{
	char list[DEV_MAX * 8 + 16], **paths;
	unsigned i, count;
	size_t len = 0;

	for (i = 0; i < DEV_MAX; i++)
		len += sprintf(list + len, "%s/d%u", i ? "," : "", i);
	cr_assert_eq(sources_parse(list, &paths, &count, t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_assert_eq(count, DEV_MAX);
	cr_expect_str_eq(paths[DEV_MAX - 1], "/d63");
	sources_free(paths, count);

	sprintf(list + len, ",/d%u", DEV_MAX);
	t_parse_fails(list, -E2BIG, NULL);
	cr_expect(strstr(t_err, "too many"), "%s", t_err);
}
