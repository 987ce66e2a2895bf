/*
 * test_config.c - settings: every INI key, defaults, strict values, every
 * error with its FILE:LINE message, the command line winning the merge,
 * the key table and --help made from it, docs/kvstripe.example.ini staying
 * valid, and every key documented in docs/.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char t_file[64];
static char t_err[1024];
static struct kv_config t_c;

static void setup(void)
{
	t_file[0] = '\0';
	t_err[0] = '\0';
	kv_config_init(&t_c);
}

static void teardown(void)
{
	if (t_file[0])
		unlink(t_file);
	kv_config_release(&t_c);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Write the @len bytes at @text to a fresh file and load it into t_c. */
static int t_load_bytes(const char *text, size_t len)
{
	FILE *f;
	int fd;

	if (t_file[0])
		unlink(t_file);
	strcpy(t_file, "/tmp/kvstripe-test-config-XXXXXX");
	fd = mkstemp(t_file);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	kv_config_release(&t_c);
	kv_config_init(&t_c);
	t_err[0] = '\0';
	return kv_config_load(&t_c, t_file, t_err, sizeof(t_err));
}

static int t_load(const char *text)
{
	return t_load_bytes(text, strlen(text));
}

/* Loading @text fails with "FILE:@line: @msg". */
static void t_load_fails(const char *text, unsigned line, const char *msg)
{
	char want[1024];
	int rc = t_load(text);

	snprintf(want, sizeof(want), "%s:%u: %s", t_file, line, msg);
	cr_expect_eq(rc, -EINVAL, "rc %d for:\n%s", rc, text);
	cr_expect_str_eq(t_err, want);
}

Test(config, defaults)
{
	cr_expect_eq(t_c.set, 0);
	cr_expect_null(t_c.sources);
	cr_expect_null(t_c.mountpoint);
	cr_expect_null(t_c.fuse_opts);
	cr_expect_null(t_c.config);
	cr_expect_eq(t_c.gpus, 0);
	cr_expect_eq(t_c.threads, 16);
	cr_expect_eq(t_c.max_background, 64);
	cr_expect_float_eq(t_c.entry_timeout, 1.0, 1e-9);
	cr_expect_float_eq(t_c.attr_timeout, 1.0, 1e-9);
	cr_expect_not(t_c.foreground);
	cr_expect_not(t_c.debug);
	cr_expect_not(t_c.single_thread);
	cr_expect_eq(t_c.dev[0].align, 0);
	cr_expect_not(t_c.mkdir);
	cr_expect_lt(t_c.require_mounts, 0, "require_mounts off");
}

Test(config, boot_safety_keys)
{
	const struct kv_key *k = kv_config_find("require_mounts");
	struct kv_config out;

	cr_assert_eq(t_load("[kvstripe]\nmkdir = yes\nrequire_mounts = 0\n"),
		     0, "%s", t_err);
	cr_expect(t_c.mkdir);
	cr_expect_float_eq(t_c.require_mounts, 0.0, 1e-9, "0: check once");
	cr_expect_eq(t_c.set, KV_SET_MKDIR | KV_SET_REQUIRE_MOUNTS);
	/* -o require_mounts alone sets its bare value, a number of seconds */
	cr_assert_not_null(k);
	cr_assert_str_eq(k->bare, KV_REQUIRE_MOUNTS_BARE);
	cr_assert_eq(kv_config_set(&t_c, k->name, k->bare, t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_float_eq(t_c.require_mounts, 30.0, 1e-9);
	cr_expect_eq(kv_config_set(&t_c, "require_mounts", "-1", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(kv_config_set(&t_c, "mkdir", "maybe", t_err,
				   sizeof(t_err)), -EINVAL);
	/* merged: given stays given; not given stays off */
	cr_assert_eq(kv_config_merge(&out, &t_c, NULL), 0);
	cr_expect(out.mkdir);
	cr_expect_float_eq(out.require_mounts, 30.0, 1e-9);
	kv_config_release(&out);
	kv_config_release(&t_c);
	kv_config_init(&t_c);
	cr_assert_eq(kv_config_merge(&out, &t_c, NULL), 0);
	cr_expect_not(out.mkdir);
	cr_expect_lt(out.require_mounts, 0);
	kv_config_release(&out);
}

Test(config, every_key)
{
	int rc = t_load("; a comment\n"
			"# another\n"
			"[kvstripe]\n"
			"sources = file:///mnt/nvme0/kv/, /mnt/nvme1/kv\n"
			"mountpoint = /mnt/kv\n"
			"gpus = 8\n"
			"threads = 32\n"
			"max_background = 256\n"
			"entry_timeout = 0.5\n"
			"attr_timeout = 2\n"
			"foreground = yes\n"
			"debug = true\n"
			"single_thread = 1\n"
			"io_uring = on\n"
			"private = yes\n"
			"fuse_options = allow_other,ro\n"
			"[device 1]\n"
			"align = 8192\n"
			"[ device 63 ]\n"
			"align = 65536\n");

	cr_assert_eq(rc, 0, "%s", t_err);
	cr_expect_str_eq(t_c.sources, "file:///mnt/nvme0/kv/, /mnt/nvme1/kv");
	cr_expect_str_eq(t_c.mountpoint, "/mnt/kv");
	cr_expect_eq(t_c.gpus, 8);
	cr_expect_eq(t_c.threads, 32);
	cr_expect_eq(t_c.max_background, 256);
	cr_expect_float_eq(t_c.entry_timeout, 0.5, 1e-9);
	cr_expect_float_eq(t_c.attr_timeout, 2.0, 1e-9);
	cr_expect(t_c.foreground);
	cr_expect(t_c.debug);
	cr_expect(t_c.single_thread);
	cr_expect(t_c.io_uring);
	cr_expect(t_c.private_mount);
	cr_expect_str_eq(t_c.fuse_opts, "allow_other,ro");
	cr_expect_eq(t_c.dev[0].align, 0);
	cr_expect_eq(t_c.dev[1].align, 8192);
	cr_expect_eq(t_c.dev[63].align, 65536);
	cr_expect_eq(t_c.set, KV_SET_SOURCES | KV_SET_MOUNTPOINT |
		     KV_SET_GPUS | KV_SET_THREADS | KV_SET_BACKGROUND |
		     KV_SET_ENTRY_TIMEOUT | KV_SET_ATTR_TIMEOUT |
		     KV_SET_FOREGROUND | KV_SET_DEBUG | KV_SET_SINGLE_THREAD |
		     KV_SET_IO_URING | KV_SET_PRIVATE | KV_SET_FUSE_OPTS);
}

Test(config, layout_is_forgiving)
{
	/* indentation, blanks, inline comments, CRLF, case of sections */
	int rc = t_load("\xef\xbb\xbf[KVStripe]\r\n"
			"    sources = /a ; the only device\r\n"
			"\tgpus=4\r\n"
			"  threads :  8\n"
			"\n"
			"[Device   0]\n"
			"  align = 4096");

	cr_assert_eq(rc, 0, "%s", t_err);
	cr_expect_str_eq(t_c.sources, "/a");
	cr_expect_eq(t_c.gpus, 4);
	cr_expect_eq(t_c.threads, 8);
	cr_expect_eq(t_c.dev[0].align, 4096);
}

Test(config, empty_file_sets_nothing)
{
	cr_assert_eq(t_load(""), 0, "%s", t_err);
	cr_expect_eq(t_c.set, 0);
	cr_assert_eq(t_load("[kvstripe]\n; nothing\n"), 0, "%s", t_err);
	cr_expect_eq(t_c.set, 0);
	cr_expect_eq(t_c.threads, 16);
}

Test(config, booleans)
{
	static const char *const yes[] = { "yes", "YES", "true", "True",
					   "on", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "off",
					  "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		cr_assert_eq(kv_config_set(&t_c, "debug", yes[i], t_err,
					   sizeof(t_err)), 0, "%s", yes[i]);
		cr_expect(t_c.debug, "%s", yes[i]);
		cr_assert_eq(kv_config_set(&t_c, "debug", no[i], t_err,
					   sizeof(t_err)), 0, "%s", no[i]);
		cr_expect_not(t_c.debug, "%s", no[i]);
	}
	cr_expect_eq(kv_config_set(&t_c, "foreground", "yep", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_str_eq(t_err, "invalid value for 'foreground': 'yep' (expected yes or no)");
	cr_expect_eq(kv_config_set(&t_c, "single_thread", "", t_err,
				   sizeof(t_err)), -EINVAL);
}

/* @key = @value is refused by kv_config_set(). */
static void t_bad(const char *key, const char *value)
{
	char want[256];

	t_err[0] = '\0';
	cr_expect_eq(kv_config_set(&t_c, key, value, t_err, sizeof(t_err)),
		     -EINVAL, "%s = '%s'", key, value);
	snprintf(want, sizeof(want), "invalid value for '%s': '%s' (", key,
		 value);
	cr_expect_eq(strncmp(t_err, want, strlen(want)), 0, "%s", t_err);
}

static void t_good(const char *key, const char *value)
{
	cr_expect_eq(kv_config_set(&t_c, key, value, t_err, sizeof(t_err)),
		     0, "%s = '%s': %s", key, value, t_err);
}

Test(config, integers_are_strict)
{
	static const char *const bad[] = { "abc", "-1", "+1", "1x", " 1",
					   "1 ", "", "0x10", "1.0",
					   "99999999999999999999999" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t_bad("gpus", bad[i]);
		t_bad("threads", bad[i]);
		t_bad("max_background", bad[i]);
	}
	t_good("gpus", "0");
	t_good("gpus", "1024");
	cr_expect_eq(t_c.gpus, 1024);
	t_bad("gpus", "1025");
	t_good("threads", "1");
	t_good("threads", "1024");
	t_bad("threads", "0");
	t_bad("threads", "1025");
	t_good("max_background", "1");
	t_good("max_background", "65535");
	cr_expect_eq(t_c.max_background, 65535);
	t_bad("max_background", "0");
	t_bad("max_background", "65536");
	t_good("gpus", "007");
	cr_expect_eq(t_c.gpus, 7);

	t_bad("gpus", "abc");
	cr_expect_str_eq(t_err, "invalid value for 'gpus': 'abc' (expected an integer from 0 to 1024)");
}

Test(config, timeouts)
{
	static const char *const bad[] = { "-1", "-0.5", "abc", "inf", "nan",
					   "0x1p3", "1s", "", " 1", "1e999" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t_bad("entry_timeout", bad[i]);
		t_bad("attr_timeout", bad[i]);
	}
	t_good("entry_timeout", "0");
	cr_expect_float_eq(t_c.entry_timeout, 0.0, 1e-12);
	t_good("entry_timeout", ".25");
	cr_expect_float_eq(t_c.entry_timeout, 0.25, 1e-12);
	t_good("attr_timeout", "1e2");
	cr_expect_float_eq(t_c.attr_timeout, 100.0, 1e-9);
	t_good("attr_timeout", "3600");
	cr_expect_eq(t_c.set, KV_SET_ENTRY_TIMEOUT | KV_SET_ATTR_TIMEOUT);
}

Test(config, strings)
{
	t_bad("sources", "");
	t_bad("mountpoint", "");
	cr_expect_eq(t_c.set, 0, "a refused value marks nothing");
	t_good("sources", "/a,/b");
	t_good("sources", "/c");
	cr_expect_str_eq(t_c.sources, "/c");
	t_good("fuse_options", "");
	cr_expect_null(t_c.fuse_opts);
	cr_expect_eq(kv_config_set(&t_c, "nonsense", "1", t_err,
				   sizeof(t_err)), -ENOENT);
	cr_expect_eq(kv_config_set(&t_c, "config", "x", t_err,
				   sizeof(t_err)), -ENOENT,
		     "config= is for the command line only");
}

Test(config, device_align)
{
	static const char *const bad[] = { "0", "256", "3000", "131072",
					   "4k", "-4096", "" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(kv_config_set_dev(&t_c, 0, "align", bad[i], t_err,
					       sizeof(t_err)), -EINVAL, "%s",
			     bad[i]);
	cr_expect_str_eq(t_err, "invalid value for 'align': '' (expected a power of two from 512 to 65536)");
	cr_expect_eq(t_c.dev[0].align, 0);
	cr_expect_eq(kv_config_set_dev(&t_c, 3, "align", "512", t_err,
				       sizeof(t_err)), 0);
	cr_expect_eq(t_c.dev[3].align, 512);
	cr_expect_eq(kv_config_set_dev(&t_c, DEV_MAX, "align", "4096", t_err,
				       sizeof(t_err)), -EINVAL);
	cr_expect_str_eq(t_err, "invalid device number 64 (expected 0 to 63)");
	cr_expect_eq(kv_config_set_dev(&t_c, 0, "path", "/a", t_err,
				       sizeof(t_err)), -ENOENT);
}

Test(config, minfree_bytes_percent_and_per_device)
{
	struct kv_config cli, out;
	int rc;

	cr_expect_not(t_c.minfree.set, "not set: the default");
	cr_expect_eq(kv_config_set(&t_c, "minfree", "5%", t_err,
				   sizeof(t_err)), 0);
	cr_expect(t_c.minfree.percent);
	cr_expect_eq(t_c.minfree.value, 500);
	cr_expect_eq(kv_config_set(&t_c, "minfree", "1.5G", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_str_eq(t_err, "invalid value for 'minfree': '1.5G' (expected bytes with K, M, G or T, or a percentage like 5%)");
	cr_expect_eq(kv_config_set_dev(&t_c, 2, "minfree", "x", t_err,
				       sizeof(t_err)), -EINVAL);
	cr_expect_not(t_c.dev[2].minfree.set);
	kv_config_release(&t_c);

	rc = t_load("[kvstripe]\nminfree = 2G\n"
		    "[device 1]\nminfree = 10%\n");
	cr_assert_eq(rc, 0, "%s", t_err);
	cr_expect(t_c.set & KV_SET_MINFREE);
	cr_expect_eq(t_c.minfree.value, 2ull << 30);
	cr_expect(t_c.dev[1].minfree.set && t_c.dev[1].minfree.percent);
	cr_expect_eq(t_c.dev[1].minfree.value, 1000);
	cr_expect_not(t_c.dev[0].minfree.set);
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'minfree' is set for device 1, but there is only 1 backing directory");

	/* -o minfree wins over the file's; [device N] comes from the file */
	kv_config_init(&cli);
	cr_expect_eq(kv_config_set(&cli, "minfree", "0", t_err,
				   sizeof(t_err)), 0);
	cr_assert_eq(kv_config_merge(&out, &cli, &t_c), 0);
	cr_expect_eq(out.minfree.value, 0);
	cr_expect_not(out.minfree.percent);
	cr_expect_eq(out.dev[1].minfree.value, 1000);
	kv_config_release(&out);
	kv_config_release(&cli);
	t_load_fails("[device 0]\nminfree = 1G\nminfree = 2G\n", 3,
		     "'minfree' is set twice in section [device 0]");
}

Test(config, max_size_for_the_mount_and_per_device)
{
	struct kv_config cli, out;
	int rc;

	cr_expect_not(t_c.max_size.set, "not set: no limit");
	cr_expect_eq(kv_config_set(&t_c, "max_size", "2.5%", t_err,
				   sizeof(t_err)), 0);
	cr_expect(t_c.max_size.percent);
	cr_expect_eq(t_c.max_size.value, 250);
	cr_expect_eq(kv_config_set(&t_c, "max_size", "10 G", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_str_eq(t_err, "invalid value for 'max_size': '10 G' (expected bytes with K, M, G or T, or a percentage like 5%)");
	cr_expect_eq(kv_config_set_dev(&t_c, 1, "max_size", "101%", t_err,
				       sizeof(t_err)), -EINVAL);
	cr_expect_not(t_c.dev[1].max_size.set);
	cr_expect_eq(kv_config_set_dev(&t_c, 1, "max_size", "3T", t_err,
				       sizeof(t_err)), 0);
	cr_expect_eq(t_c.dev[1].max_size.value, 3ull << 40);
	kv_config_release(&t_c);

	rc = t_load("[kvstripe]\nmax_size = 500G\n"
		    "[device 2]\nmax_size = 50%\n");
	cr_assert_eq(rc, 0, "%s", t_err);
	cr_expect(t_c.set & KV_SET_MAX_SIZE);
	cr_expect_eq(t_c.max_size.value, 500ull << 30);
	cr_expect(t_c.dev[2].max_size.set && t_c.dev[2].max_size.percent);
	cr_expect_eq(kv_config_check_devices(&t_c, 2, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'max_size' is set for device 2, but there are only 2 backing directories");
	cr_expect_eq(kv_config_check_devices(&t_c, 3, t_err, sizeof(t_err)),
		     0);

	/* -o max_size wins; [device N] max_size comes from the file */
	kv_config_init(&cli);
	cr_expect_eq(kv_config_set(&cli, "max_size", "1T", t_err,
				   sizeof(t_err)), 0);
	cr_assert_eq(kv_config_merge(&out, &cli, &t_c), 0);
	cr_expect_eq(out.max_size.value, 1ull << 40);
	cr_expect_eq(out.dev[2].max_size.value, 5000);
	kv_config_release(&out);
	kv_config_release(&cli);
	t_load_fails("[device 0]\nmax_size = 1G\nmax_size = 2G\n", 3,
		     "'max_size' is set twice in section [device 0]");
}

Test(config, eviction_marks_are_checked_together)
{
	cr_expect_eq(kv_config_set(&t_c, "evict_high", "0", t_err,
				   sizeof(t_err)), -EINVAL, "1 to 100");
	cr_expect_eq(kv_config_set(&t_c, "evict_high", "101", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(kv_config_set(&t_c, "evict_low", "100", t_err,
				   sizeof(t_err)), -EINVAL, "0 to 99");
	/* nothing set: nothing to check */
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     0);
	cr_expect_eq(kv_config_set(&t_c, "evict_high", "90", t_err,
				   sizeof(t_err)), 0);
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'evict_high' is set without 'evict_low' (eviction needs both)");
	cr_expect_eq(kv_config_set(&t_c, "evict_low", "90", t_err,
				   sizeof(t_err)), 0);
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'evict_high' and 'evict_low' need a 'max_size' (they are percentages of it)");
	/* a device's max_size is a limit too */
	cr_expect_eq(kv_config_set_dev(&t_c, 0, "max_size", "1G", t_err,
				       sizeof(t_err)), 0);
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'evict_low' (90) must be below 'evict_high' (90)");
	cr_expect_eq(kv_config_set(&t_c, "evict_low", "70", t_err,
				   sizeof(t_err)), 0);
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     0);
}

Test(config, device_paths_instead_of_sources)
{
	int rc = t_load("[device 1]\npath = /mnt/nvme1/kv\n"
			"align = 4096\n"
			"[device 0]\npath = file:///mnt/nvme0/kv/\n"
			"[kvstripe]\ngpus = 2\n");

	cr_assert_eq(rc, 0, "%s", t_err);
	cr_expect_str_eq(t_c.sources, "file:///mnt/nvme0/kv/,/mnt/nvme1/kv");
	cr_expect(t_c.set & KV_SET_SOURCES);
	cr_expect_eq(t_c.dev[1].align, 4096);
}

Test(config, missing_file)
{
	char want[256];

	kv_config_init(&t_c);
	cr_expect_eq(kv_config_load(&t_c, "/nonexistent/kv.ini", t_err,
				    sizeof(t_err)), -ENOENT);
	cr_expect_str_eq(t_err, "cannot read config '/nonexistent/kv.ini': No such file or directory");

	cr_expect_eq(kv_config_load(&t_c, "/tmp", t_err, sizeof(t_err)),
		     -EISDIR);
	snprintf(want, sizeof(want), "cannot read config '/tmp': %s",
		 strerror(EISDIR));
	cr_expect_str_eq(t_err, want);
}

Test(config, unknown_keys_and_sections)
{
	t_load_fails("[kvstripe]\ngpus = 1\nx = 2\n", 3,
		     "unknown key 'x' in section [kvstripe]");
	t_load_fails("[device 0]\nalign = 4096\nfoo = 1\n", 3,
		     "unknown key 'foo' in section [device 0]");
	t_load_fails("[device 2]\n\ngpus = 1\n", 3,
		     "unknown key 'gpus' in section [device 2]");
	t_load_fails("[kvstripe]\nalign = 4096\n", 2,
		     "'align' belongs in a [device N] section");
	t_load_fails("[kvstripe]\npath = /a\n", 2,
		     "'path' belongs in a [device N] section");
	t_load_fails("gpus = 1\n", 1,
		     "'gpus' is outside any section (put it under [kvstripe])");
	t_load_fails("[mount]\nthreads = 1\n", 2, "unknown section [mount]");
	t_load_fails("[device 64]\nalign = 4096\n", 2,
		     "invalid device number in section [device 64] (expected 0 to 63)");
	t_load_fails("[device x]\nalign = 4096\n", 2,
		     "invalid device number in section [device x] (expected 0 to 63)");
	t_load_fails("[device -1]\nalign = 4096\n", 2,
		     "invalid device number in section [device -1] (expected 0 to 63)");
	t_load_fails("[device]\nalign = 4096\n", 2,
		     "unknown section [device]");
}

Test(config, invalid_values)
{
	t_load_fails("[kvstripe]\ngpus = abc\n", 2,
		     "invalid value for 'gpus': 'abc' (expected an integer from 0 to 1024)");
	cr_expect_eq(strncmp(t_err + strlen(t_file),
			     ":2: invalid value for 'gpus': 'abc'", 35), 0);
	t_load_fails("[kvstripe]\n\n\nthreads = 0\n", 4,
		     "invalid value for 'threads': '0' (expected an integer from 1 to 1024)");
	t_load_fails("[kvstripe]\nmax_background = 70000\n", 2,
		     "invalid value for 'max_background': '70000' (expected an integer from 1 to 65535)");
	t_load_fails("[kvstripe]\nentry_timeout = -1\n", 2,
		     "invalid value for 'entry_timeout': '-1' (expected seconds, 0 or more)");
	t_load_fails("[kvstripe]\nattr_timeout = soon\n", 2,
		     "invalid value for 'attr_timeout': 'soon' (expected seconds, 0 or more)");
	t_load_fails("[kvstripe]\nforeground = maybe\n", 2,
		     "invalid value for 'foreground': 'maybe' (expected yes or no)");
	t_load_fails("[kvstripe]\nsources =\n", 2,
		     "invalid value for 'sources': '' (expected a path)");
	t_load_fails("[kvstripe]\nmountpoint = ; none\n", 2,
		     "invalid value for 'mountpoint': '' (expected a path)");
	t_load_fails("[device 0]\nalign = 1000\n", 2,
		     "invalid value for 'align': '1000' (expected a power of two from 512 to 65536)");
	t_load_fails("[device 0]\npath =\n", 2,
		     "invalid value for 'path': '' (expected one path without ',')");
	t_load_fails("[device 0]\npath = /a,/b\n", 2,
		     "invalid value for 'path': '/a,/b' (expected one path without ',')");
}

Test(config, duplicates_and_conflicts)
{
	t_load_fails("[kvstripe]\ngpus = 1\n[device 0]\nalign = 512\n"
		     "[kvstripe]\ngpus = 2\n", 6,
		     "'gpus' is set twice in section [kvstripe]");
	t_load_fails("[device 0]\nalign = 512\nalign = 4096\n", 3,
		     "'align' is set twice in section [device 0]");
	t_load_fails("[device 0]\npath = /a\npath = /b\n", 3,
		     "'path' is set twice in section [device 0]");
	t_load_fails("[kvstripe]\nsources = /a\n[device 0]\npath = /b\n", 4,
		     "'path' in [device 0] conflicts with 'sources' (use one or the other)");
	t_load_fails("[device 1]\npath = /b\n[kvstripe]\nsources = /a\n", 4,
		     "'sources' conflicts with 'path' in [device 1] (use one or the other)");
	t_load_fails("[device 0]\npath = /a\n[device 2]\npath = /c\n", 4,
		     "[device 2] has a path but [device 1] has none");
}

Test(config, syntax_errors)
{
	t_load_fails("[kvstripe\ngpus = 1\n", 1,
		     "cannot parse line (expected '[section]' or 'key = value')");
	t_load_fails("[kvstripe]\ngpus = 1\njust words\n", 3,
		     "cannot parse line (expected '[section]' or 'key = value')");
}

Test(config, first_error_wins)
{
	/* a bad value before a syntax error, and the other way round */
	t_load_fails("[kvstripe]\ngpus = x\nthreads = 0\nwords\n", 2,
		     "invalid value for 'gpus': 'x' (expected an integer from 0 to 1024)");
	t_load_fails("[kvstripe]\nwords\ngpus = x\n", 2,
		     "cannot parse line (expected '[section]' or 'key = value')");
}

Test(config, long_lines)
{
	char text[1024];
	size_t n;

	/* a line of 198 characters fits inih's buffer; 199 do not */
	n = sprintf(text, "[kvstripe]\nsources = /");
	memset(text + n, 'a', 198 - 11);
	strcpy(text + n + 198 - 11, "\ngpus = 2\n");
	cr_assert_eq(t_load(text), 0, "%s", t_err);
	cr_expect_eq(strlen(t_c.sources), 198 - 10);
	cr_expect_eq(t_c.gpus, 2, "the next line is a line of its own");

	n = sprintf(text, "[kvstripe]\nsources = /");
	memset(text + n, 'a', 199 - 11);
	strcpy(text + n + 199 - 11, "\ngpus = 2\n");
	t_load_fails(text, 2, "line too long (at most 198 characters)");
}

/* Loading the @len bytes at @text fails with "FILE:@line: @msg". */
static void t_load_bytes_fails(const char *text, size_t len, unsigned line,
			       const char *msg)
{
	char want[1024];
	int rc = t_load_bytes(text, len);

	snprintf(want, sizeof(want), "%s:%u: %s", t_file, line, msg);
	cr_expect_eq(rc, -EINVAL, "rc %d", rc);
	cr_expect_str_eq(t_err, want);
}

#define T_LOAD_BYTES_FAILS(lit, line, msg) \
	t_load_bytes_fails(lit, sizeof(lit) - 1, line, msg)

Test(config, control_characters)
{
	/* inih alone would end the value at the NUL and mount "/a" only */
	T_LOAD_BYTES_FAILS("[kvstripe]\nsources = /a\0,/b\n", 2,
			   "control character 0x00 at column 13 (only tab is allowed)");
	cr_expect_null(t_c.sources);
	T_LOAD_BYTES_FAILS("[kvstripe]\nmountpoint = /m\x1b[2J\n", 2,
			   "control character 0x1b at column 16 (only tab is allowed)");
	T_LOAD_BYTES_FAILS("[kvstripe]\ngpus = 2\x7f\n", 2,
			   "control character 0x7f at column 9 (only tab is allowed)");
	/* a lone CR inside a line; in a comment; in a section name */
	T_LOAD_BYTES_FAILS("[kvstripe]\r\nsources = /a\rb\r\n", 2,
			   "control character 0x0d at column 13 (only tab is allowed)");
	T_LOAD_BYTES_FAILS("[kvstripe]\nsources = /a\n; a\0b\n", 3,
			   "control character 0x00 at column 4 (only tab is allowed)");
	T_LOAD_BYTES_FAILS("[kv\x01stripe]\nsources = /a\n", 1,
			   "control character 0x01 at column 4 (only tab is allowed)");
	/* the first bad line wins, whichever kind */
	T_LOAD_BYTES_FAILS("[kvstripe]\nwords\nsources = /a\0\n", 2,
			   "cannot parse line (expected '[section]' or 'key = value')");
	T_LOAD_BYTES_FAILS("[kvstripe]\nsources = /a\0\nwords\n", 2,
			   "control character 0x00 at column 13 (only tab is allowed)");
	/* [device N] paths too */
	T_LOAD_BYTES_FAILS("[device 0]\npath = /a\n[device 1]\npath = /b\0\n",
			   4, "control character 0x00 at column 10 (only tab is allowed)");

	/* tabs anywhere, and CR LF line ends, are fine */
	cr_assert_eq(t_load("[kvstripe]\r\n\tsources =\t/a\tb ,/c\r\r\n"),
		     0, "%s", t_err);
	cr_expect_str_eq(t_c.sources, "/a\tb ,/c");
}

Test(config, control_characters_in_values)
{
	static const char *const keys[] = { "sources", "mountpoint", "gpus",
					    "fuse_options" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[160];

		snprintf(want, sizeof(want),
			 "invalid value for '%s': control character 0x0a at byte 3 (only tab is allowed)",
			 keys[i]);
		cr_expect_eq(kv_config_set(&t_c, keys[i], "/a\n", t_err,
					   sizeof(t_err)), -EINVAL, "%s",
			     keys[i]);
		cr_expect_str_eq(t_err, want);
	}
	cr_expect_eq(kv_config_set(&t_c, "mountpoint", "/m\x1b", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_str_eq(t_err, "invalid value for 'mountpoint': control character 0x1b at byte 3 (only tab is allowed)");
	cr_expect_eq(t_c.set, 0, "a refused value marks nothing");
	t_good("mountpoint", "/m\tn");
	cr_expect_str_eq(t_c.mountpoint, "/m\tn");
}

Test(config, add_fuse_opt_escapes)
{
	cr_assert_eq(kv_config_add_fuse_opt(&t_c, "allow_other"), 0);
	cr_assert_eq(kv_config_add_fuse_opt(&t_c, "fsname=a,b\\c"), 0);
	cr_expect_str_eq(t_c.fuse_opts, "allow_other,fsname=a\\,b\\\\c");
	cr_expect(t_c.set & KV_SET_FUSE_OPTS);
}

Test(config, command_line_wins)
{
	struct kv_config cli, out;

	kv_config_init(&cli);
	cr_assert_eq(t_load("[kvstripe]\nsources = /file/a, /file/b\n"
			    "mountpoint = /file/mnt\ngpus = 8\nthreads = 32\n"
			    "attr_timeout = 5\nforeground = no\n"
			    "fuse_options = allow_other\n"
			    "[device 0]\nalign = 4096\n"
			    "[device 1]\nalign = 4096\n"), 0, "%s", t_err);
	cr_assert_eq(kv_config_set(&cli, "sources", "/cli/a", t_err,
				   sizeof(t_err)), 0);
	cr_assert_eq(kv_config_set(&cli, "gpus", "0", t_err, sizeof(t_err)),
		     0);
	cr_assert_eq(kv_config_set(&cli, "foreground", "yes", t_err,
				   sizeof(t_err)), 0);
	cr_assert_eq(kv_config_add_fuse_opt(&cli, "ro"), 0);
	cr_assert_eq(kv_config_set_dev(&cli, 1, "align", "8192", t_err,
				       sizeof(t_err)), 0);
	cli.config = strdup("x.ini");

	cr_assert_eq(kv_config_merge(&out, &cli, &t_c), 0);
	cr_expect_str_eq(out.config, "x.ini");
	cr_expect_str_eq(out.sources, "/cli/a");
	cr_expect_str_eq(out.mountpoint, "/file/mnt");
	cr_expect_eq(out.gpus, 0, "set to 0 on the command line still wins");
	cr_expect_eq(out.threads, 32);
	cr_expect_eq(out.max_background, 64, "default");
	cr_expect_float_eq(out.attr_timeout, 5.0, 1e-9);
	cr_expect_float_eq(out.entry_timeout, 1.0, 1e-9);
	cr_expect(out.foreground);
	cr_expect_not(out.debug);
	cr_expect_str_eq(out.fuse_opts, "allow_other,ro");
	cr_expect_eq(out.dev[0].align, 4096);
	cr_expect_eq(out.dev[1].align, 8192);
	cr_expect_eq(out.dev[2].align, 0);
	cr_expect(out.set & KV_SET_MOUNTPOINT);
	cr_expect_not(out.set & KV_SET_BACKGROUND);
	kv_config_release(&out);

	/* without a file, and with a file but no command line options */
	cr_assert_eq(kv_config_merge(&out, &cli, NULL), 0);
	cr_expect_null(out.mountpoint);
	cr_expect_eq(out.threads, 16);
	cr_expect_str_eq(out.fuse_opts, "ro");
	kv_config_release(&out);
	kv_config_release(&cli);
	kv_config_init(&cli);
	cr_assert_eq(kv_config_merge(&out, &cli, &t_c), 0);
	cr_expect_str_eq(out.sources, "/file/a, /file/b");
	cr_expect_str_eq(out.fuse_opts, "allow_other");
	cr_expect_eq(out.gpus, 8);
	kv_config_release(&out);
}

Test(config, debug_implies_foreground)
{
	struct kv_config cli, out;

	kv_config_init(&cli);
	cr_assert_eq(t_load("[kvstripe]\ndebug = yes\nforeground = no\n"), 0);
	cr_assert_eq(kv_config_merge(&out, &cli, &t_c), 0);
	cr_expect(out.debug);
	cr_expect(out.foreground);
	kv_config_release(&out);
}

Test(config, check_devices)
{
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     0);
	t_c.dev[2].align = 4096;
	cr_expect_eq(kv_config_check_devices(&t_c, 3, t_err, sizeof(t_err)),
		     0);
	cr_expect_eq(kv_config_check_devices(&t_c, 2, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'align' is set for device 2, but there are only 2 backing directories");
	cr_expect_eq(kv_config_check_devices(&t_c, 1, t_err, sizeof(t_err)),
		     -EINVAL);
	cr_expect_str_eq(t_err, "'align' is set for device 2, but there is only 1 backing directory");
}

/*
 * docs/@name, found from the current directory (make unit runs from the
 * repository's root) or above the test binary.
 */
static int t_doc(const char *name, char *path, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	snprintf(path, len, "docs/%s", name);
	if (!access(path, R_OK))
		return 0;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	while ((slash = strrchr(exe, '/')) && slash != exe) {
		*slash = '\0';
		snprintf(path, len, "%s/docs/%s", exe, name);
		if (!access(path, R_OK))
			return 0;
	}
	return -1;
}

static int t_example(char *path, size_t len)
{
	return t_doc("kvstripe.example.ini", path, len);
}

/* The whole of docs/@name, malloc'ed. */
static char *t_read_doc(const char *name)
{
	char path[PATH_MAX + 32], *text = NULL;
	size_t len = 0;
	FILE *f, *mem;
	int ch;

	cr_assert_eq(t_doc(name, path, sizeof(path)), 0, "docs/%s not found",
		     name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	mem = open_memstream(&text, &len);
	cr_assert_not_null(mem);
	while ((ch = getc(f)) != EOF)
		putc(ch, mem);
	fclose(f);
	fclose(mem);
	return text;
}

static bool t_is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* @word in @text, not as part of a longer name ("threads" in "ring_threads"). */
static bool t_has_word(const char *text, const char *word)
{
	size_t len = strlen(word);
	const char *p;

	for (p = strstr(text, word); p; p = strstr(p + 1, word))
		if ((p == text || !t_is_word_char(p[-1])) &&
		    !t_is_word_char(p[len]))
			return true;
	return false;
}

/* A line "KEY = ..." in @ini, or its commented-out form "; KEY = ...". */
static bool t_has_ini_key(const char *ini, const char *key)
{
	size_t len = strlen(key);
	const char *line, *p;

	for (line = ini; line; line = strchr(line, '\n')) {
		p = line = line + (*line == '\n');
		if (*p == ';')
			for (p++; *p == ' '; p++)
				;
		if (strncmp(p, key, len))
			continue;
		for (p += len; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '=')
			return true;
	}
	return false;
}

Test(config, every_key_is_documented)
{
	char *md = t_read_doc("configuration.md");
	char *man = t_read_doc("kvstripe.1");
	char *ini = t_read_doc("kvstripe.example.ini");
	const struct kv_key *k;
	char quoted[64];
	size_t i;

	for (i = 0; (k = kv_config_key(i)); i++) {
		snprintf(quoted, sizeof(quoted), "`%s`", k->name);
		cr_expect(strstr(md, quoted),
			  "docs/configuration.md lacks %s", quoted);
		cr_expect(t_has_word(man, k->name),
			  "docs/kvstripe.1 lacks '%s'", k->name);
		cr_expect(t_has_ini_key(ini, k->name),
			  "docs/kvstripe.example.ini lacks a line '%s = ...'",
			  k->name);
	}
	cr_expect_geq(i, 19);
	free(md);
	free(man);
	free(ini);
}

Test(config, table_is_consistent)
{
	const struct kv_key *k;
	size_t i, j;

	for (i = 0; (k = kv_config_key(i)); i++) {
		cr_expect_eq(kv_config_find(k->name), k, "%s", k->name);
		cr_expect(k->help && *k->help, "'%s' has no help text",
			  k->name);
		cr_expect(!(k->flags & KV_CLI_VALUE) || k->type == KV_BOOL ||
			  k->arg, "'%s' has no argument name", k->name);
		cr_expect(!(k->flags & KV_CLI_BARE) || k->type == KV_BOOL ||
			  k->bare, "'-o %s' alone needs a boolean or a value",
			  k->name);
		cr_expect(!k->opt || k->type == KV_BOOL,
			  "'%s' sets a boolean", k->opt);
		for (j = 0; j < i; j++)
			cr_expect_neq(kv_config_key(j)->field, k->field, "%s",
				      k->name);
	}
	cr_expect_null(kv_config_find("align"));
	cr_expect_null(kv_config_find("config"));
}

Test(config, help_shows_every_command_line_key)
{
	char *text = NULL, want[64];
	const struct kv_key *k;
	size_t len = 0, i;
	FILE *mem;

	mem = open_memstream(&text, &len);
	cr_assert_not_null(mem);
	kv_config_help(mem);
	fclose(mem);
	for (i = 0; (k = kv_config_key(i)); i++) {
		if (k->bare)
			snprintf(want, sizeof(want), "-o %s[=%s]", k->name,
				 k->arg);
		else if (k->flags & KV_CLI_BARE)
			snprintf(want, sizeof(want), "-o %s ", k->name);
		else if (k->flags & KV_CLI_VALUE)
			snprintf(want, sizeof(want), "-o %s=%s ", k->name,
				 k->arg);
		else if (k->opt)
			snprintf(want, sizeof(want), "    %s ", k->opt);
		else
			continue;
		cr_expect(strstr(text, want), "--help lacks '%s':\n%s", want,
			  text);
	}
	cr_expect(strstr(text, "(default 16)"), "%s", text);
	cr_expect_null(strstr(text, "{default}"), "%s", text);
	free(text);
}

Test(config, example_file_is_valid)
{
	char path[PATH_MAX + 32];

	cr_assert_eq(t_example(path, sizeof(path)), 0,
		     "docs/kvstripe.example.ini not found");
	cr_assert_eq(kv_config_load(&t_c, path, t_err, sizeof(t_err)), 0,
		     "%s", t_err);
	cr_expect(t_c.set & KV_SET_SOURCES);
	cr_expect(t_c.set & KV_SET_MOUNTPOINT);
	cr_expect_eq(t_c.write_buffers, 16);
	cr_expect_eq(t_c.write_buffer_kb, 4096);
	cr_expect_eq(t_c.read_ahead_kb, 4096);
	cr_expect(t_c.set & KV_SET_READ_AHEAD);
	cr_expect_eq(t_c.max_inodes, 65536);
	cr_expect(t_c.set & KV_SET_MAX_INODES);
	cr_expect_eq(kv_config_check_devices(&t_c, 4, t_err, sizeof(t_err)),
		     0, "%s", t_err);
}

Test(config, data_path_settings)
{
	cr_assert_eq(kv_config_set(&t_c, "write_buffers", "0", t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_eq(t_c.write_buffers, 0);
	cr_assert_eq(kv_config_set(&t_c, "read_ahead_kb", "1024", t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_eq(t_c.read_ahead_kb, 1024);
	cr_expect_eq(kv_config_set(&t_c, "write_buffers", "16385", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(t_c.read_buffers, 16, "default");
	cr_assert_eq(kv_config_set(&t_c, "read_buffers", "0", t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_eq(t_c.read_buffers, 0);
	cr_expect(t_c.set & KV_SET_READ_BUFFERS);
	cr_expect_eq(kv_config_set(&t_c, "read_buffers", "16385", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(kv_config_set(&t_c, "read_buffers", "x", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(kv_config_set(&t_c, "read_ahead_kb", "-1", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(kv_config_set(&t_c, "write_buffer_kb", "512", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(kv_config_set(&t_c, "write_buffer_kb", "3072", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect(strstr(t_err, "power of two"), "%s", t_err);
	cr_expect_eq(kv_config_set(&t_c, "write_buffer_kb", "2048", t_err,
				   sizeof(t_err)), 0);
	cr_expect_eq(t_c.max_inodes, 65536, "default");
	cr_assert_eq(kv_config_set(&t_c, "max_inodes", "0", t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_eq(t_c.max_inodes, 0);
	cr_expect_eq(kv_config_set(&t_c, "max_inodes", "1073741825", t_err,
				   sizeof(t_err)), -EINVAL);
	cr_expect_eq(t_c.listing_window, 65536, "default");
	cr_assert_eq(kv_config_set(&t_c, "listing_window", "64", t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_eq(t_c.listing_window, 64);
	cr_expect(t_c.set & KV_SET_LISTING_WINDOW);
	cr_expect_eq(kv_config_set(&t_c, "listing_window", "63", t_err,
				   sizeof(t_err)), -EINVAL, "below the minimum");
	cr_expect_eq(kv_config_set(&t_c, "listing_window", "16777217", t_err,
				   sizeof(t_err)), -EINVAL, "above the maximum");
}

Test(config, placement_rules)
{
	struct kv_config cli, out;

	cr_assert_eq(t_load("[placement]\n"
			    "rule = ^jobs/w([0-9]+)/\n"
			    "; a comment\n"
			    "rule = rank-([0-9]+)\\.kv$\n"
			    "[kvstripe]\ngpus = 2\n"), 0, "%s", t_err);
	cr_assert_eq(t_c.nrules, 2);
	cr_expect_str_eq(t_c.rules[0], "^jobs/w([0-9]+)/");
	cr_expect_str_eq(t_c.rules[1], "rank-([0-9]+)\\.kv$");
	/* the file's rules reach the merged settings */
	kv_config_init(&cli);
	cr_assert_eq(kv_config_merge(&out, &cli, &t_c), 0);
	cr_assert_eq(out.nrules, 2);
	cr_expect_str_eq(out.rules[1], "rank-([0-9]+)\\.kv$");
	kv_config_release(&out);
	cr_expect_eq(out.nrules, 0);
	kv_config_release(&cli);
}

Test(config, bad_placement_rules)
{
	char text[4096];
	size_t len = 0;

	t_load_fails("[placement]\nrule = w([0-9]+\n", 2,
		     "invalid value for 'rule': pattern 'w([0-9]+': Unmatched ( or \\(");
	t_load_fails("[kvstripe]\ngpus = 1\n[placement]\n"
		     "rule = ^gpu[0-9]+/\n", 4,
		     "invalid value for 'rule': pattern '^gpu[0-9]+/': no capture group for the rank (put it in parentheses)");
	t_load_fails("[placement]\nrule = (x)\nrank = ([0-9])\n", 3,
		     "unknown key 'rank' in section [placement]");
	t_load_fails("[Placement]\nrule = [\n", 2,
		     "invalid value for 'rule': pattern '[': Invalid regular expression");
	len += (size_t)snprintf(text, sizeof(text), "[placement]\n");
	for (unsigned i = 0; i <= KV_RULES_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"rule = r%u-([0-9]+)\n", i);
	t_load_fails(text, KV_RULES_MAX + 2,
		     "too many rules in section [placement] (at most 16)");
}
