/*
 * test_usage.c - usage counting against max_size: charges within the
 * device's and the mount's limits, the scan over a real tree (links,
 * symlinks, changes made while it runs), and the choice of victims.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usage.h"

#define MIB (1ull << 20)

static struct usage *mk(unsigned ndev, const uint64_t *dev_limit,
			uint64_t limit)
{
	struct usage_params p = { .ndev = ndev, .dev_limit = dev_limit,
				  .limit = limit };
	struct usage *u = NULL;

	cr_assert_eq(usage_new(&p, &u), 0);
	return u;
}

Test(usage, charges_stay_within_the_mount_limit)
{
	struct usage *u = mk(2, NULL, 10 * MIB);

	cr_assert_eq(usage_charge(u, 0, 6 * MIB), 0);
	cr_assert_eq(usage_charge(u, 1, 4 * MIB), 0);
	cr_assert_eq(usage_total(u), 10 * MIB);
	cr_assert_eq(usage_charge(u, 1, 1), -ENOSPC);
	cr_assert_eq(usage_total(u), 10 * MIB, "a refused charge counts nothing");
	usage_add(u, 0, -(int64_t)MIB);
	cr_assert_eq(usage_charge(u, 1, MIB), 0);
	cr_assert_eq(usage_dev(u, 0), 5 * MIB);
	cr_assert_eq(usage_dev(u, 1), 5 * MIB);
	cr_assert_not(usage_dev_full(u, 0), "no device limit");
	usage_free(u);
}

Test(usage, a_device_limit_is_its_own)
{
	uint64_t lim[2] = { 4 * MIB, 0 };
	struct usage *u = mk(2, lim, 0);

	cr_assert_eq(usage_charge(u, 0, 3 * MIB), 0);
	cr_assert_not(usage_dev_full(u, 0));
	cr_assert_eq(usage_charge(u, 0, 2 * MIB), -ENOSPC);
	cr_assert_eq(usage_charge(u, 1, 100 * MIB), 0, "device 1 has none");
	cr_assert_eq(usage_charge(u, 0, MIB), 0);
	cr_assert(usage_dev_full(u, 0), "at its limit");
	cr_assert_not(usage_dev_full(u, 1));
	cr_assert_eq(usage_dev_limit(u, 0), 4 * MIB);
	cr_assert_eq(usage_limit(u), 0);
	usage_free(u);
}

Test(usage, never_below_zero)
{
	struct usage *u = mk(1, NULL, 0);

	usage_add(u, 0, -5);
	cr_assert_eq(usage_dev(u, 0), 0);
	cr_assert_eq(usage_total(u), 0);
	usage_free(u);
}

Test(usage, churn_adds_up_changes_either_way)
{
	struct usage *u = mk(2, NULL, 10);

	usage_add(u, 0, 7);
	usage_add(u, 1, -3);
	cr_assert_eq(usage_charge(u, 0, 7), -ENOSPC);
	/* a refused charge is counted and taken back: both ways */
	cr_assert_eq(usage_churn(u), 7 + 3 + 7 + 7);
	usage_free(u);
}

Test(usage, bad_params)
{
	struct usage_params p = { .ndev = 0 };
	struct usage *u;

	cr_assert_eq(usage_new(&p, &u), -EINVAL);
	p.ndev = 65;
	cr_assert_eq(usage_new(&p, &u), -EINVAL);
}

/* ---- the scan over a real directory ---------------------------------- */

static char dir[64];
static int dfd = -1;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/kvstripe-usage-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Write @len bytes of 'x' into @name below the test dir; its blocks. */
static uint64_t put(const char *name, size_t len)
{
	static char buf[65536];
	struct stat st;
	int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	memset(buf, 'x', sizeof(buf));
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		cr_assert_eq(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	cr_assert_eq(fsync(fd), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	return (uint64_t)st.st_blocks * 512;
}

/* Set @name's atime to @sec seconds after the epoch. */
static void read_at(const char *name, long sec)
{
	struct timespec ts[2] = { { .tv_sec = sec }, { .tv_nsec = UTIME_OMIT } };

	cr_assert_eq(utimensat(dfd, name, ts, 0), 0);
}

TestSuite(scan, .init = setup, .fini = teardown);

Test(scan, counts_regular_files_once_per_inode)
{
	struct usage *u = mk(1, NULL, 0);
	uint64_t a, b, c;

	cr_assert_eq(mkdirat(dfd, "gpu0", 0755), 0);
	cr_assert_eq(mkdirat(dfd, "gpu0/sub", 0755), 0);
	a = put("a", 100000);
	b = put("gpu0/b", 300000);
	c = put("gpu0/sub/c", 5000);
	/* a second name of c: counted half per name, once in all */
	cr_assert_eq(linkat(dfd, "gpu0/sub/c", dfd, "c2", 0), 0);
	/* a symlink is not followed, and counts nothing */
	cr_assert_eq(symlinkat("gpu0", dfd, "loop"), 0);
	cr_assert_eq(usage_scan(u, 0, dfd, NULL), 0);
	cr_assert_eq(usage_dev(u, 0), a + b + c);
	cr_assert(usage_counted(u));
	usage_free(u);
}

Test(scan, keeps_changes_made_while_it_ran)
{
	struct usage *u = mk(1, NULL, 0);
	uint64_t a = put("a", 200000);

	/* before the first scan only the changes are known */
	usage_add(u, 0, 1000);
	cr_assert_not(usage_counted(u));
	cr_assert_eq(usage_total(u), 1000);
	cr_assert_eq(usage_scan(u, 0, dfd, NULL), 0);
	/* the 1000 came before the scan: the scan's count replaces them */
	cr_assert_eq(usage_total(u), a);
	usage_add(u, 0, 4096);
	cr_assert_eq(usage_total(u), a + 4096);
	/* a rescan sees the tree: what was added is not in it */
	cr_assert_eq(usage_scan(u, 0, dfd, NULL), 0);
	cr_assert_eq(usage_total(u), a);
	/* cancelled: scans stop, the count stays */
	usage_cancel(u);
	usage_add(u, 0, 1);
	cr_assert_eq(usage_scan(u, 0, dfd, NULL), -ECANCELED);
	cr_assert_eq(usage_total(u), a + 1);
	usage_free(u);
}

Test(scan, offers_the_least_recently_read)
{
	struct usage *u = mk(1, NULL, 0);
	struct usage_victims *v;
	const struct usage_file *f;
	uint64_t one = put("f0", 64 * 1024);
	char name[16];
	size_t n;

	for (int i = 1; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		put(name, 64 * 1024);
	}
	/* read order: f5 longest ago, then f2, f7, ...; f0 just now */
	read_at("f5", 1000);
	read_at("f2", 2000);
	read_at("f7", 3000);
	read_at("f1", 4000);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (i != 5 && i != 2 && i != 7 && i != 1)
			read_at(name, 10000 + i);
	}
	/* a hard-linked file is never a victim */
	put("linked", 64 * 1024);
	read_at("linked", 1);
	cr_assert_eq(linkat(dfd, "linked", dfd, "linked2", 0), 0);
	cr_assert_eq(usage_victims_new(100, 3 * one, &v), 0);
	cr_assert_eq(usage_scan(u, 0, dfd, v), 0);
	n = usage_victims_sort(v, &f);
	cr_assert_eq(n, 3, "just enough for the target");
	cr_assert_str_eq(f[0].path, "f5");
	cr_assert_str_eq(f[1].path, "f2");
	cr_assert_str_eq(f[2].path, "f7");
	cr_assert_eq(f[0].atime_ns, 1000ll * 1000000000);
	cr_assert_eq(usage_victims_bytes(v), 3 * one);
	usage_victims_free(v);
	usage_free(u);
}

/* ---- the heap alone --------------------------------------------------- */

static void offer(struct usage_victims *v, const char *path, int64_t at,
		  uint64_t bytes)
{
	struct usage_file f = { .path = (char *)path, .atime_ns = at,
				.bytes = bytes, .ino = (uint64_t)at };

	cr_assert_eq(usage_victims_offer(v, &f), 0);
}

Test(victims, oldest_that_make_the_target)
{
	struct usage_victims *v;
	const struct usage_file *f;
	size_t n;

	cr_assert_eq(usage_victims_new(16, 250, &v), 0);
	offer(v, "new", 90, 100);
	offer(v, "old", 10, 100);
	offer(v, "empty", 1, 0);
	offer(v, "mid", 50, 100);
	offer(v, "older", 5, 100);
	offer(v, "newest", 99, 1000);
	n = usage_victims_sort(v, &f);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(f[0].path, "older");
	cr_assert_str_eq(f[1].path, "old");
	cr_assert_str_eq(f[2].path, "mid");
	cr_assert_eq(usage_victims_bytes(v), 300);
	usage_victims_free(v);
}

Test(victims, capped_keeps_the_oldest)
{
	struct usage_victims *v;
	const struct usage_file *f;
	size_t n;

	cr_assert_eq(usage_victims_new(2, 1000, &v), 0);
	offer(v, "c", 30, 10);
	offer(v, "a", 10, 10);
	offer(v, "d", 40, 10);
	offer(v, "b", 20, 10);
	n = usage_victims_sort(v, &f);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(f[0].path, "a");
	cr_assert_str_eq(f[1].path, "b");
	usage_victims_free(v);
	cr_assert_eq(usage_victims_new(0, 1, &v), -EINVAL);
}

Test(victims, one_big_file_may_make_it_alone)
{
	struct usage_victims *v;
	const struct usage_file *f;

	cr_assert_eq(usage_victims_new(8, 100, &v), 0);
	offer(v, "big", 50, 500);
	offer(v, "small", 10, 20);
	/* small alone is short of the target: both stay */
	cr_assert_eq(usage_victims_sort(v, &f), 2);
	cr_assert_str_eq(f[0].path, "small");
	usage_victims_free(v);
}
