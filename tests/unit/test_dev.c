/*
 * test_dev.c - the device registry: opening temporary backing directories
 * (creation, rejections, mount point checks, read-only filesystems), the
 * probed alignments as the set reports them, and statfs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dev.h"
#include "t_scratch.h"

static char t_err[512];
static unsigned t_flags;	/* for devset_open(): DEVSET_MKDIR but where not */

static void setup(void)
{
	t_scratch_new("dev");
	t_err[0] = '\0';
	t_flags = DEVSET_MKDIR;
}

static void teardown(void)
{
	t_scratch_free();
}

TestSuite(dev_open, .init = setup, .fini = teardown);

/* A path below the test's temporary directory; valid until the next call. */
static char *t_path(const char *name)
{
	static char buf[4][PATH_MAX];
	static unsigned next;
	char *p = buf[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", t_root, name);
	return p;
}

/* Mount a tmpfs on @name below the test directory, or skip the test. */
static char *t_mount_tmpfs(const char *name, unsigned long flags,
			   const char *data)
{
	char *p = t_path(name);

	cr_assert_eq(mkdir(p, 0755), 0);
	t_scratch_tmpfs(p, flags, data);
	return p;
}

/* Open @n paths with @opts and @mnt; returns the rc, the set in *@out. */
static int t_open(struct devset **out, const struct dev_opts *opts,
		  const char *mnt, unsigned n, ...)
{
	char *paths[8];
	unsigned i;
	va_list ap;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		paths[i] = va_arg(ap, char *);
	va_end(ap);
	t_err[0] = '\0';
	return devset_open(paths, n, opts, t_flags, mnt, out, t_err,
			   sizeof(t_err));
}

static void t_expect_err(int rc, int want, const char *part)
{
	cr_expect_eq(rc, want, "rc %d (%s), want %d", rc, t_err, want);
	cr_expect(strstr(t_err, part), "message '%s' lacks '%s'", t_err,
		  part);
	cr_expect_null(strchr(t_err, '\n'), "one line");
}

static bool t_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

Test(dev_open, creates_missing_directories)
{
	char *a = t_path("x/y/a"), *b = t_path("b");
	char real[PATH_MAX];
	struct devset *set;
	const struct dev *d;
	struct stat st;

	cr_assert_eq(t_open(&set, NULL, NULL, 2, a, b), 0, "%s", t_err);
	cr_assert_eq(devset_count(set), 2);
	cr_assert_eq(stat(a, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0755 & ~0022 & 0777);

	d = devset_dev(set, 0);
	cr_assert_not_null(realpath(a, real));
	cr_expect_str_eq(d->path, real);
	cr_expect_eq(d->index, 0);
	cr_expect_eq(devset_dev(set, 1)->index, 1);
	cr_expect_null(devset_dev(set, 2));
	cr_expect_geq(d->root_fd, 0);
	cr_expect_eq(fstat(d->root_fd, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(d->st_dev, st.st_dev);
	cr_expect_gt(d->capacity, 0);
	devset_free(set);
}

Test(dev_open, relative_path)
{
	struct devset *set;
	char real[PATH_MAX];

	cr_assert_eq(chdir(t_root), 0);
	cr_assert_eq(t_open(&set, NULL, NULL, 1, "rel/kv"), 0, "%s", t_err);
	cr_assert_not_null(realpath("rel/kv", real));
	cr_expect_str_eq(devset_dev(set, 0)->path, real);
	devset_free(set);
}

Test(dev_open, refuses_a_missing_directory_unless_allowed)
{
	struct devset *set = (struct devset *)1;
	char *a = t_path("ok"), *b = t_path("x/y/b"), want[PATH_MAX + 64];
	struct stat st;

	cr_assert_eq(mkdir(a, 0755), 0);
	t_flags = 0;
	t_expect_err(t_open(&set, NULL, NULL, 2, a, b), -ENOENT,
		     "does not exist");
	cr_expect_null(set);
	snprintf(want, sizeof(want),
		 "backing directory '%s' does not exist (-o mkdir creates it)",
		 b);
	cr_expect_str_eq(t_err, want);
	cr_expect_neq(stat(t_path("x"), &st), 0, "nothing was created");
	/* an existing one opens as before */
	cr_assert_eq(t_open(&set, NULL, NULL, 1, a), 0, "%s", t_err);
	devset_free(set);
}

Test(dev_open, rejects_regular_file)
{
	struct devset *set = (struct devset *)1;
	char *f = t_path("file"), want[PATH_MAX + 64];
	int fd;

	fd = open(f, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	t_expect_err(t_open(&set, NULL, NULL, 2, t_path("ok"), f), -ENOTDIR,
		     "is not a directory");
	cr_expect_null(set);
	snprintf(want, sizeof(want), "backing path '%s' is not a directory",
		 f);
	cr_expect_str_eq(t_err, want);

	/* a directory cannot be created below a regular file */
	t_expect_err(t_open(&set, NULL, NULL, 1, t_path("file/sub")),
		     -ENOTDIR, "cannot create backing directory");
}

Test(dev_open, a_failure_removes_what_it_created)
{
	struct devset *set;
	char *f = t_path("file");
	struct stat st;
	int fd;

	fd = open(f, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(mkdir(t_path("old"), 0755), 0);
	t_expect_err(t_open(&set, NULL, NULL, 3, t_path("new/a/b"),
			    t_path("old/c"), f),
		     -ENOTDIR, "is not a directory");
	cr_expect_neq(stat(t_path("new"), &st), 0, "new/ was left behind");
	cr_expect_neq(stat(t_path("old/c"), &st), 0, "old/c was left behind");
	cr_expect_eq(stat(t_path("old"), &st), 0, "old/ was removed");
}

Test(dev_open, discard_keeps_what_was_there_or_is_in_use)
{
	struct devset *set;
	struct stat st;
	int fd;

	cr_assert_eq(mkdir(t_path("old"), 0755), 0);
	cr_assert_eq(t_open(&set, NULL, NULL, 3, t_path("old"),
			    t_path("n1/x"), t_path("n2/y")), 0, "%s", t_err);
	fd = open(t_path("n2/y/data"), O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	devset_discard(set);
	cr_expect_eq(stat(t_path("old"), &st), 0, "old/ was removed");
	cr_expect_neq(stat(t_path("n1"), &st), 0, "n1/ was left behind");
	cr_expect_eq(stat(t_path("n2/y/data"), &st), 0,
		     "a directory holding a file was removed");
	devset_discard(NULL);
}

Test(dev_open, one_devset_per_directory)
{
	struct devset *a, *b;

	cr_assert_eq(t_open(&a, NULL, NULL, 1, t_path("kv")), 0, "%s", t_err);
	t_expect_err(t_open(&b, NULL, NULL, 2, t_path("other"), t_path("kv")),
		     -EBUSY, "is in use by another kvstripe");
	devset_free(a);
	cr_assert_eq(t_open(&b, NULL, NULL, 2, t_path("other"), t_path("kv")),
		     0, "%s", t_err);
	devset_free(b);
}

Test(dev_open, fsck_takes_the_same_lock)
{
	struct devset *a;
	int fd;

	cr_assert_eq(t_open(&a, NULL, NULL, 1, t_path("kv")), 0, "%s", t_err);
	fd = open(t_path("kv"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_expect_eq(dev_lock_root(fd), -EBUSY, "a mounted directory");
	devset_free(a);
	cr_expect_eq(dev_lock_root(fd), 0, "once the devset is gone");
	t_expect_err(t_open(&a, NULL, NULL, 1, t_path("kv")), -EBUSY,
		     "is in use by another kvstripe");
	close(fd);
}

Test(dev_open, check_sees_a_directory_moved_or_removed)
{
	struct devset *set;
	char kv[PATH_MAX], away[PATH_MAX];

	strcpy(kv, t_path("kv"));
	strcpy(away, t_path("away"));
	cr_assert_eq(t_open(&set, NULL, NULL, 1, kv), 0, "%s", t_err);
	cr_expect_eq(devset_check(set, 0), 0);
	cr_assert_eq(rename(kv, away), 0);
	cr_expect_eq(devset_check(set, 0), -ESTALE);
	cr_assert_eq(mkdir(kv, 0755), 0);	/* another directory there */
	cr_expect_eq(devset_check(set, 0), -ESTALE);
	cr_assert_eq(rmdir(kv), 0);
	cr_assert_eq(rename(away, kv), 0);
	cr_expect_eq(devset_check(set, 0), 0);
	cr_assert_eq(rmdir(kv), 0);
	cr_expect_eq(devset_check(set, 0), -ENOENT);
	devset_free(set);
}

Test(dev_open, rejects_duplicate_via_symlink)
{
	struct devset *set;
	char *a = t_path("a"), *l = t_path("link");

	cr_assert_eq(mkdir(a, 0755), 0);
	cr_assert_eq(symlink(a, l), 0);
	t_expect_err(t_open(&set, NULL, NULL, 2, a, l), -EINVAL,
		     "is listed twice (as '");
	cr_expect(strstr(t_err, l), "%s", t_err);
}

Test(dev_open, rejects_duplicate_via_bind_mount)
{
	struct devset *set;
	char *a = t_path("a"), *b = t_path("b");

	cr_assert_eq(mkdir(a, 0755), 0);
	cr_assert_eq(mkdir(b, 0755), 0);
	if (mount(a, b, NULL, MS_BIND, NULL))
		cr_skip_test("cannot bind mount: %s", strerror(errno));
	t_scratch_mounted(b);
	t_expect_err(t_open(&set, NULL, NULL, 2, a, b), -EINVAL,
		     "is listed twice");
}

Test(dev_open, rejects_the_mount_point)
{
	struct devset *set;
	char *a = t_path("a"), *l = t_path("alink");

	cr_assert_eq(mkdir(a, 0755), 0);
	cr_assert_eq(symlink(a, l), 0);
	t_expect_err(t_open(&set, NULL, a, 1, a), -EINVAL,
		     "is the mount point");
	t_expect_err(t_open(&set, NULL, l, 1, a), -EINVAL,
		     "is the mount point");
	t_expect_err(t_open(&set, NULL, a, 2, t_path("b"), l), -EINVAL,
		     "is the mount point");
}

Test(dev_open, rejects_a_path_inside_the_mount_point)
{
	struct devset *set;
	char *m = t_path("m");

	cr_assert_eq(mkdir(m, 0755), 0);
	t_expect_err(t_open(&set, NULL, m, 1, t_path("m/kv")), -EINVAL,
		     "is inside the mount point");
}

Test(dev_open, creates_nothing_inside_the_mount_point)
{
	struct devset *set;
	struct stat st;
	char *m = t_path("m");

	cr_assert_eq(mkdir(m, 0755), 0);
	cr_assert_eq(symlink(m, t_path("mlink")), 0);
	t_expect_err(t_open(&set, NULL, m, 1, t_path("m/new/kv")), -EINVAL,
		     "is inside the mount point");
	t_expect_err(t_open(&set, NULL, m, 1, t_path("mlink/new2")), -EINVAL,
		     "is inside the mount point");
	cr_assert_eq(chdir(m), 0);
	t_expect_err(t_open(&set, NULL, m, 1, "rel/kv"), -EINVAL,
		     "is inside the mount point");
	t_expect_err(t_open(&set, NULL, m, 1, "."), -EINVAL,
		     "is the mount point");
	cr_expect_neq(stat(t_path("m/new"), &st), 0);
	cr_expect_neq(stat(t_path("m/new2"), &st), 0);
	cr_expect_neq(stat(t_path("m/rel"), &st), 0);
}

Test(dev_open, rejects_a_path_containing_the_mount_point)
{
	struct devset *set;
	char *m = t_path("kv/mnt");

	cr_assert_eq(mkdir(t_path("kv"), 0755), 0);
	cr_assert_eq(mkdir(m, 0755), 0);
	t_expect_err(t_open(&set, NULL, m, 1, t_path("kv")), -EINVAL,
		     "contains the mount point");
	t_expect_err(t_open(&set, NULL, m, 1, "/"), -EINVAL,
		     "contains the mount point");
}

Test(dev_open, accepts_a_sibling_of_the_mount_point)
{
	struct devset *set;
	char *m = t_path("kv2");

	/* "kv" is a string prefix of "kv2" but not a parent directory */
	cr_assert_eq(mkdir(m, 0755), 0);
	cr_assert_eq(t_open(&set, NULL, m, 1, t_path("kv")), 0, "%s", t_err);
	devset_free(set);
	/* a mount point that does not exist is left to mount(2) */
	cr_assert_eq(t_open(&set, NULL, t_path("none"), 1, t_path("kv")), 0,
		     "%s", t_err);
	devset_free(set);
}

Test(dev_open, rejects_a_read_only_filesystem)
{
	struct devset *set;
	char *ro = t_mount_tmpfs("ro", MS_RDONLY, NULL);

	t_expect_err(t_open(&set, NULL, NULL, 1, ro), -EROFS,
		     "is not writable: Read-only file system");
	cr_expect(strstr(t_err, ro), "%s", t_err);
	/* nor can a missing directory be created there */
	t_expect_err(t_open(&set, NULL, NULL, 1, t_path("ro/sub")), -EROFS,
		     "cannot create backing directory");
}

Test(dev_open, probes_a_power_of_two_alignment)
{
	char *tmpfs = t_mount_tmpfs("shm", 0, "size=16m");
	struct devset *set;
	unsigned i;

	cr_assert_eq(t_open(&set, NULL, NULL, 2, t_path("disk"), tmpfs), 0,
		     "%s", t_err);
	for (i = 0; i < devset_count(set); i++) {
		const struct dev *d = devset_dev(set, i);

		cr_expect(t_pow2(d->dio_align), "%u", d->dio_align);
		cr_expect_geq(d->dio_align, 512);
		cr_expect_leq(d->dio_align, DEV_ALIGN_MAX);
		cr_expect(t_pow2(d->mem_align), "%u", d->mem_align);
		cr_expect_leq(d->mem_align, DEV_ALIGN_MAX);
		cr_expect_geq(devset_max_align(set), d->dio_align);
		cr_expect_geq(devset_max_align(set), d->mem_align);
	}
	devset_free(set);
}

Test(dev_open, align_override)
{
	struct dev_opts opts[2] = { { 0 }, { 0 } };
	struct devset *set;
	unsigned probed;
	char *a = t_path("a"), *b = t_path("b");

	cr_assert_eq(t_open(&set, opts, NULL, 2, a, b), 0, "%s", t_err);
	probed = devset_dev(set, 1)->dio_align;
	devset_free(set);

	opts[1].align = DEV_ALIGN_MAX;
	cr_assert_eq(t_open(&set, opts, NULL, 2, a, b), 0, "%s", t_err);
	cr_expect_eq(devset_dev(set, 0)->dio_align, probed, "untouched");
	cr_expect_eq(devset_dev(set, 1)->dio_align, DEV_ALIGN_MAX);
	cr_expect_eq(devset_max_align(set), DEV_ALIGN_MAX);
	devset_free(set);

	opts[1].align = 3000;
	t_expect_err(t_open(&set, opts, NULL, 2, a, b), -EINVAL,
		     "is not a power of two");
	cr_expect(strstr(t_err, b), "%s", t_err);
	opts[1].align = DEV_ALIGN_MAX * 2;
	t_expect_err(t_open(&set, opts, NULL, 2, a, b), -EINVAL,
		     "is not a power of two up to 65536");
	opts[1].align = probed / 2;
	t_expect_err(t_open(&set, opts, NULL, 2, a, b), -EINVAL,
		     probed / 2 ? "is below the device's" : "power of two");
}

Test(dev_open, no_devices)
{
	struct devset *set;

	t_expect_err(t_open(&set, NULL, NULL, 0), -EINVAL,
		     "no backing directory given");
	devset_free(NULL);
}

/* @n blocks of @frsize bytes in 4096-byte units. */
static unsigned long long t_4k(unsigned long long n, unsigned long frsize)
{
	return n * frsize / 4096;
}

Test(dev_open, statfs_counts_one_filesystem_once)
{
	struct statvfs sv, fs;
	unsigned bad;
	struct devset *set;

	cr_assert_eq(t_open(&set, NULL, NULL, 2, t_path("a"), t_path("b")),
		     0, "%s", t_err);
	cr_assert_eq(devset_statfs(set, &sv, &bad), 0);
	cr_assert_eq(statvfs(t_root, &fs), 0);
	cr_expect_eq(sv.f_bsize, 4096);
	cr_expect_eq(sv.f_frsize, 4096);
	cr_expect_eq(sv.f_namemax, 255);
	cr_expect_eq(sv.f_blocks, t_4k(fs.f_blocks, fs.f_frsize),
		     "counted twice? %llu vs %llu",
		     (unsigned long long)sv.f_blocks,
		     t_4k(fs.f_blocks, fs.f_frsize));
	cr_expect_eq(sv.f_files, fs.f_files);
	cr_expect_eq(sv.f_fsid, fs.f_fsid);
	cr_expect_leq(sv.f_bavail, sv.f_bfree);
	cr_expect_leq(sv.f_bfree, sv.f_blocks);
	devset_free(set);
}

Test(dev_open, statfs_sums_distinct_filesystems)
{
	char *t1 = t_mount_tmpfs("t1", 0, "size=16m,nr_inodes=1000");
	char *t2 = t_mount_tmpfs("t2", 0, "size=32m,nr_inodes=2000");
	struct statvfs sv;
	unsigned bad;
	struct devset *set;

	cr_assert_eq(t_open(&set, NULL, NULL, 3, t1, t2, t_path("t2/sub")),
		     0, "%s", t_err);
	cr_assert_eq(devset_statfs(set, &sv, &bad), 0);
	cr_expect_eq(sv.f_blocks, (48u << 20) / 4096);
	cr_expect_eq(sv.f_files, 3000);
	cr_expect_leq(sv.f_bfree, sv.f_blocks);
	cr_expect_eq(sv.f_flag & ST_RDONLY, 0);
	devset_free(set);
}
