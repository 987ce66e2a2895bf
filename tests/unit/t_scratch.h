/*
 * t_scratch.h - a scratch directory under /tmp for the device unit tests
 * (test_dev.c, test_probe.c), with tmpfs mounts below it: made before
 * every test, and unmounted and removed after it. Header-only: each test
 * binary is one file.
 */
#ifndef TESTS_T_SCRATCH_H
#define TESTS_T_SCRATCH_H

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define T_SCRATCH_MOUNTS 4

static char t_root[64];
static char t_mounts[T_SCRATCH_MOUNTS][PATH_MAX];
static unsigned t_nmounts;

static int t_rm(const char *path, const struct stat *st, int flag,
		struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Make the scratch directory /tmp/kvstripe-test-@name-XXXXXX. */
static inline void t_scratch_new(const char *name)
{
	snprintf(t_root, sizeof(t_root), "/tmp/kvstripe-test-%s-XXXXXX", name);
	cr_assert_not_null(mkdtemp(t_root));
	t_nmounts = 0;
}

/* Unmount what the test mounted, then remove the scratch directory. */
static inline void t_scratch_free(void)
{
	while (t_nmounts)
		umount2(t_mounts[--t_nmounts], MNT_DETACH);
	nftw(t_root, t_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Note @path as mounted, for t_scratch_free() to unmount. */
static inline void t_scratch_mounted(const char *path)
{
	cr_assert_lt(t_nmounts, T_SCRATCH_MOUNTS);
	snprintf(t_mounts[t_nmounts++], PATH_MAX, "%s", path);
}

/* Mount a tmpfs on the existing directory @path, or skip the test. */
static inline void t_scratch_tmpfs(const char *path, unsigned long flags,
				   const char *data)
{
	if (mount("tmpfs", path, "tmpfs", flags, data))
		cr_skip_test("cannot mount tmpfs: %s", strerror(errno));
	t_scratch_mounted(path);
}

#endif /* TESTS_T_SCRATCH_H */
