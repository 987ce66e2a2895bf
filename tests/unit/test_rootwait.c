/*
 * test_rootwait.c - -o require_mounts (mount/rootwait.c): the parent of a
 * path, the filesystem of a path or of its nearest existing ancestor, and
 * the wait: refused with one line naming each directory on /, accepted
 * off /, a missing directory off / accepted only with mkdir.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rootwait.h"
#include "t_scratch.h"

static char t_err[1024];

static void setup(void)
{
	t_scratch_new("rootwait");
	t_err[0] = '\0';
}

static void teardown(void)
{
	t_scratch_free();
}

TestSuite(rootwait, .init = setup, .fini = teardown);

static void t_parent(const char *path, const char *want)
{
	char buf[64];

	cr_assert_eq(rootwait_parent(path, buf, sizeof(buf)), 0, "%s", path);
	cr_expect_str_eq(buf, want, "parent of '%s'", path);
}

Test(rootwait, parent)
{
	char small[4];

	t_parent("/mnt/nvme1/kv", "/mnt/nvme1");
	t_parent("/mnt/nvme1/kv/", "/mnt/nvme1");
	t_parent("/mnt//nvme1", "/mnt");
	t_parent("/mnt", "/");
	t_parent("/", "/");
	t_parent("//", "/");
	t_parent("kv", ".");
	t_parent("a/kv", "a");
	t_parent(".", ".");
	cr_expect_eq(rootwait_parent("/abcdef/x", small, sizeof(small)),
		     -ENAMETOOLONG);
}

/* A path below the scratch directory; valid until the next call. */
static char *t_path(const char *name)
{
	static char buf[2][PATH_MAX];
	static unsigned next;
	char *p = buf[next++ % 2];

	snprintf(p, PATH_MAX, "%s/%s", t_root, name);
	return p;
}

static dev_t t_dev(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_dev;
}

Test(rootwait, dev_of_nearest_existing_ancestor)
{
	bool exists;
	dev_t dev;

	cr_assert_eq(rootwait_dev_of(t_root, &dev, &exists), 0);
	cr_expect(exists);
	cr_expect_eq(dev, t_dev(t_root));
	cr_assert_eq(rootwait_dev_of(t_path("a/b/c"), &dev, &exists), 0);
	cr_expect_not(exists);
	cr_expect_eq(dev, t_dev(t_root));
	cr_assert_eq(mkdir(t_path("t"), 0755), 0);
	t_scratch_tmpfs(t_path("t"), 0, "size=1m");
	cr_assert_eq(rootwait_dev_of(t_path("t/x/y"), &dev, &exists), 0);
	cr_expect_not(exists);
	cr_expect_eq(dev, t_dev(t_path("t")));
	cr_expect_neq(dev, t_dev(t_root));
}

static double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(rootwait, refuses_what_is_on_root)
{
	char *paths[2], want[PATH_MAX * 2 + 128];
	double t0;

	if (t_dev(t_root) != t_dev("/"))
		cr_skip_test("%s is not on the root filesystem", t_root);
	cr_assert_eq(mkdir(t_path("t"), 0755), 0);
	t_scratch_tmpfs(t_path("t"), 0, "size=1m");
	paths[0] = strdup(t_path("t"));
	paths[1] = strdup(t_path("nvme1/kv"));
	t0 = t_now();
	cr_expect_eq(rootwait_wait(paths, 2, 0.6, true, t_err, sizeof(t_err)),
		     -ETIMEDOUT);
	cr_expect_geq(t_now() - t0, 0.5, "waited %f s", t_now() - t0);
	snprintf(want, sizeof(want),
		 "backing directory '%s' (device 1) is still on the root filesystem after 0.6 s (require_mounts)",
		 paths[1]);
	cr_expect_str_eq(t_err, want);
	/* the device off / alone: accepted at once */
	t0 = t_now();
	cr_expect_eq(rootwait_wait(paths, 1, 5, false, t_err, sizeof(t_err)),
		     0, "%s", t_err);
	cr_expect_lt(t_now() - t0, 0.4);
	free(paths[0]);
	free(paths[1]);
}

Test(rootwait, missing_off_root_needs_mkdir)
{
	char *paths[1];

	cr_assert_eq(mkdir(t_path("t"), 0755), 0);
	t_scratch_tmpfs(t_path("t"), 0, "size=1m");
	paths[0] = t_path("t/kv");
	/* with mkdir allowed, devset_open() may create it: ready */
	cr_expect_eq(rootwait_wait(paths, 1, 0, true, t_err, sizeof(t_err)),
		     0, "%s", t_err);
	/* without, it is waited for; at the end devset_open() names it */
	t_err[0] = '\0';
	cr_expect_eq(rootwait_wait(paths, 1, 0.5, false, t_err,
				   sizeof(t_err)), 0, "%s", t_err);
	cr_expect_str_eq(t_err, "");
}
