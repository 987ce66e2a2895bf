/*
 * test_beneath.c - confined path access: a device directory holding
 * symlinks planted at every depth (relative and absolute, to a directory
 * and to a file) that point at an outside tree; every call refuses to go
 * through them and leaves the outside unchanged. Each test runs twice:
 * with openat2 and with the component walk (KVSTRIPE_TEST_NO_OPENAT2).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"

static char t_top[64], t_out[128];
static int t_root = -1;
static struct stat t_secret_st;

static void t_mkfile(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/*
 * TOP/out/{secret,dir/} outside; TOP/dev the device: dir a/ with file f,
 * and links l -> ../out, abs -> TOP/out, a/lf -> ../../out/secret,
 * a/ld -> /TOP/out/dir.
 */
static void setup(void)
{
	char p[PATH_MAX], q[PATH_MAX];

	snprintf(t_top, sizeof(t_top), "/var/tmp/kvstripe-beneath-XXXXXX");
	cr_assert_not_null(mkdtemp(t_top));
	snprintf(t_out, sizeof(t_out), "%s/out", t_top);
	cr_assert_eq(mkdir(t_out, 0755), 0);
	snprintf(p, sizeof(p), "%s/dir", t_out);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/secret", t_out);
	t_mkfile(p, "secret");
	cr_assert_eq(chmod(p, 0600), 0);
	cr_assert_eq(stat(p, &t_secret_st), 0);
	snprintf(p, sizeof(p), "%s/dev", t_top);
	cr_assert_eq(mkdir(p, 0755), 0);
	t_root = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(t_root, 0);
	cr_assert_eq(mkdirat(t_root, "a", 0755), 0);
	snprintf(p, sizeof(p), "%s/dev/a/f", t_top);
	t_mkfile(p, "inside");
	cr_assert_eq(symlinkat("../out", t_root, "l"), 0);
	cr_assert_eq(symlinkat(t_out, t_root, "abs"), 0);
	cr_assert_eq(symlinkat("../../out/secret", t_root, "a/lf"), 0);
	snprintf(q, sizeof(q), "%s/dir", t_out);
	cr_assert_eq(symlinkat(q, t_root, "a/ld"), 0);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 32];

	close(t_root);
	/* a failed t_mount_point_refused() may have left its mount */
	snprintf(cmd, sizeof(cmd), "%s/dev/a/mp", t_top);
	umount2(cmd, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", t_top);
	cr_expect_eq(system(cmd), 0);
}

/* The outside tree as setup() left it: secret unchanged, dir empty. */
static void t_outside_unchanged(void)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/secret", t_out);
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode, t_secret_st.st_mode, "secret's mode");
	cr_expect_eq(st.st_uid, t_secret_st.st_uid, "secret's owner");
	cr_expect_eq(st.st_size, t_secret_st.st_size, "secret's size");
	cr_expect_eq(st.st_mtim.tv_sec, t_secret_st.st_mtim.tv_sec);
	cr_expect_eq(st.st_mtim.tv_nsec, t_secret_st.st_mtim.tv_nsec);
	snprintf(p, sizeof(p), "%s/dir", t_out);
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_nlink, 2, "nothing made in out/dir");
	cr_expect_eq(st.st_mode & 07777, 0755, "out/dir's mode");
	cr_expect_eq(access(t_out, F_OK), 0);
}

static void t_walk(void)
{
	setenv("KVSTRIPE_TEST_NO_OPENAT2", "1", 1);
}

static void t_open_refused(void)
{
	int fd = beneath_open(t_root, "a/f", O_RDONLY, 0);

	cr_assert_geq(fd, 0, "a/f: %s", strerror(-fd));
	close(fd);
	cr_expect_eq(beneath_open(t_root, "l/secret", O_RDONLY, 0), -ELOOP);
	cr_expect_eq(beneath_open(t_root, "abs/secret", O_RDWR, 0), -ELOOP);
	cr_expect_eq(beneath_open(t_root, "a/lf", O_RDWR | O_TRUNC, 0),
		     -ELOOP);
	cr_expect_eq(beneath_open(t_root, "a/lf", O_WRONLY | O_CREAT, 0644),
		     -ELOOP);
	cr_expect_eq(beneath_open(t_root, "l/new", O_WRONLY | O_CREAT, 0644),
		     -ELOOP);
	cr_expect_eq(beneath_open(t_root, "a/ld/new",
				  O_WRONLY | O_CREAT, 0644), -ELOOP);
	cr_expect_eq(beneath_open(t_root, "abs", O_RDONLY | O_DIRECTORY, 0),
		     -ELOOP);
	cr_expect_eq(beneath_open(t_root, "../out/secret", O_RDONLY, 0),
		     -EXDEV);
	t_outside_unchanged();
}

/* O_PATH|O_NOFOLLOW opens a final symlink itself, never its target. */
static void t_open_path_of_link(void)
{
	int fd = beneath_open(t_root, "a/lf", O_PATH, 0);
	struct stat st;

	cr_assert_geq(fd, 0, "%s", strerror(-fd));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect(S_ISLNK(st.st_mode));
	close(fd);
}

static void t_stat_and_readlink(void)
{
	struct stat st;
	char buf[64];
	ssize_t n;

	cr_assert_eq(beneath_stat(t_root, "l", &st), 0);
	cr_expect(S_ISLNK(st.st_mode), "a planted link shows as one");
	cr_assert_eq(beneath_stat(t_root, "", &st), 0);
	cr_expect(S_ISDIR(st.st_mode), "\"\" is the root");
	cr_expect_eq(beneath_stat(t_root, "l/secret", &st), -ELOOP);
	cr_expect_eq(beneath_stat(t_root, "abs/dir", &st), -ELOOP);
	n = beneath_readlink(t_root, "a/lf", buf, sizeof(buf));
	cr_assert_eq(n, (ssize_t)strlen("../../out/secret"));
	cr_expect_eq(memcmp(buf, "../../out/secret", (size_t)n), 0);
	cr_expect_eq(beneath_readlink(t_root, "l/secret", buf, sizeof(buf)),
		     -ELOOP);
}

static void t_changes_refused(void)
{
	struct timespec tv[2] = { { 1, 0 }, { 1, 0 } };
	struct stat st;

	cr_expect_eq(beneath_mkdir(t_root, "l/dir/new", 0777), -ELOOP);
	cr_expect_eq(beneath_mkdir(t_root, "abs/new", 0777), -ELOOP);
	cr_expect_eq(beneath_mknod(t_root, "a/ld/fifo", S_IFIFO | 0666, 0),
		     -ELOOP);
	cr_expect_eq(beneath_symlink("x", t_root, "l/dir/sym"), -ELOOP);
	cr_expect_eq(beneath_unlink(t_root, "l/secret", 0), -ELOOP);
	cr_expect_eq(beneath_unlink(t_root, "abs/dir", AT_REMOVEDIR), -ELOOP);
	cr_expect_eq(beneath_chmod(t_root, "a/lf", 0666), -ELOOP);
	cr_expect_eq(beneath_chmod(t_root, "l/secret", 0666), -ELOOP);
	cr_expect_eq(beneath_chown(t_root, "l/secret", 65534, 65534), -ELOOP);
	cr_expect_eq(beneath_utimens(t_root, "abs/secret", tv), -ELOOP);
	cr_expect_eq(beneath_rename(t_root, "a/f", "l/dir/f", 0), -ELOOP);
	cr_expect_eq(beneath_rename(t_root, "l/secret", "a/g", 0), -ELOOP);
	cr_expect_eq(beneath_link(t_root, "l/secret", "a/g"), -ELOOP);
	cr_expect_eq(beneath_link(t_root, "a/f", "abs/dir/g"), -ELOOP);
	/* on the final name: the link itself, never its target */
	cr_expect_eq(beneath_utimens(t_root, "a/lf", tv), 0);
	cr_assert_eq(beneath_stat(t_root, "a/lf", &st), 0);
	cr_expect_eq(st.st_mtim.tv_sec, 1, "the link's own time");
	if (!geteuid())
		cr_expect_eq(beneath_chown(t_root, "a/lf", 65534, 65534), 0);
	cr_expect_eq(beneath_link(t_root, "a/lf", "a/lf2"), 0);
	cr_assert_eq(beneath_stat(t_root, "a/lf2", &st), 0);
	cr_expect(S_ISLNK(st.st_mode), "linkat does not follow");
	cr_expect_eq(beneath_rename(t_root, "a/lf2", "a/lf3", 0), 0);
	cr_expect_eq(beneath_unlink(t_root, "a/lf3", 0), 0);
	cr_expect_eq(beneath_unlink(t_root, "abs", 0), 0, "removes the link");
	t_outside_unchanged();
}

/* What works beneath works as it did: the calls on plain names. */
static void t_plain_names(void)
{
	struct stat st;
	int fd;

	cr_expect_eq(beneath_mkdir(t_root, "a/b", 0750), 0);
	cr_expect_eq(beneath_mkdir(t_root, "a/b", 0750), -EEXIST);
	cr_expect_eq(beneath_mknod(t_root, "a/b/p", S_IFIFO | 0600, 0), 0);
	cr_expect_eq(beneath_chmod(t_root, "a/b/p", 0640), 0);
	cr_assert_eq(beneath_stat(t_root, "a/b/p", &st), 0);
	cr_expect_eq(st.st_mode, S_IFIFO | 0640);
	fd = beneath_open(t_root, "a/b/new", O_RDWR | O_CREAT | O_EXCL,
			  S_IFREG | 0644);
	cr_assert_geq(fd, 0, "create: %s", strerror(-fd));
	close(fd);
	cr_expect_eq(beneath_rename(t_root, "a/b/new", "top", 0), 0);
	cr_expect_eq(beneath_link(t_root, "top", "a/b/again"), 0);
	cr_expect_eq(beneath_unlink(t_root, "top", 0), 0);
	cr_expect_eq(beneath_unlink(t_root, "a/b/again", 0), 0);
	cr_expect_eq(beneath_unlink(t_root, "a/b/p", 0), 0);
	cr_expect_eq(beneath_unlink(t_root, "a/b", AT_REMOVEDIR), 0);
	cr_expect_eq(beneath_unlink(t_root, "a/nothing", 0), -ENOENT);
	cr_expect_eq(beneath_mkdir(t_root, "a/f/x", 0755), -ENOTDIR);
}

/*
 * A bind mount planted as directory a/mp (root only): the same
 * filesystem, so st_dev cannot tell; openat2's RESOLVE_NO_XDEV and the
 * walk's mount id do.
 */
static void t_mount_point_refused(void)
{
	char src[PATH_MAX], mp[PATH_MAX];
	struct stat st;
	int rc;

	if (geteuid())
		cr_skip_test("bind mounts need root");
	snprintf(src, sizeof(src), "%s/dir", t_out);
	snprintf(mp, sizeof(mp), "%s/dev/a/mp", t_top);
	cr_assert_eq(mkdir(mp, 0755), 0);
	if (mount(src, mp, NULL, MS_BIND, NULL))
		cr_skip_test("cannot bind mount: %s", strerror(errno));
	cr_expect_eq(beneath_open(t_root, "a/mp/new", O_WRONLY | O_CREAT,
				  0644), -EXDEV);
	cr_expect_eq(beneath_open(t_root, "a/mp", O_RDONLY | O_DIRECTORY, 0),
		     -EXDEV);
	cr_expect_eq(beneath_mkdir(t_root, "a/mp/new", 0777), -EXDEV);
	cr_expect_eq(beneath_chmod(t_root, "a/mp", 0777), -EXDEV);
	cr_expect_eq(beneath_chown(t_root, "a/mp", 65534, 65534), -EXDEV);
	cr_expect_eq(beneath_stat(t_root, "a/mp/x", &st), -EXDEV);
	rc = umount(mp);
	cr_assert_eq(rc, 0, "umount: %s", strerror(errno));
	t_outside_unchanged();
}

TestSuite(beneath, .init = setup, .fini = teardown);

#define T_BOTH(name, fn)						\
	Test(beneath, name##_openat2) {					\
		if (!beneath_has_openat2())				\
			cr_skip_test("the kernel has no openat2");	\
		fn();							\
	}								\
	Test(beneath, name##_walk) {					\
		t_walk();						\
		cr_assert_not(beneath_has_openat2(), "the knob forces the walk"); \
		fn();							\
	}

T_BOTH(open_refused, t_open_refused)
T_BOTH(open_path_of_link, t_open_path_of_link)
T_BOTH(stat_and_readlink, t_stat_and_readlink)
T_BOTH(changes_refused, t_changes_refused)
T_BOTH(plain_names, t_plain_names)
T_BOTH(mount_point_refused, t_mount_point_refused)
