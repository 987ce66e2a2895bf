/*
 * test_probe.c - probing a backing directory: power-of-two alignments, the
 * capacity and page-cache flag of a tmpfs, the probe file removed (also
 * one left behind by an earlier process), a read-only filesystem refused.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe.h"
#include "t_scratch.h"

static char t_err[512];

static void setup(void)
{
	t_scratch_new("probe");
	t_err[0] = '\0';
}

static void teardown(void)
{
	t_scratch_free();
}

TestSuite(probe, .init = setup, .fini = teardown);

/* Make directory @name below the test directory; a static buffer. */
static char *t_mkdir(const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", t_root, name);
	cr_assert_eq(mkdir(buf, 0755), 0, "%s: %s", buf, strerror(errno));
	return buf;
}

/* Mount a tmpfs on a new directory @name, or skip the test. */
static char *t_mount_tmpfs(const char *name, unsigned long flags,
			   const char *data)
{
	char *p = t_mkdir(name);

	t_scratch_tmpfs(p, flags, data);
	return p;
}

/* Probe directory @path; returns the rc, the result in *@out. */
static int t_probe(const char *path, struct probe *out)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	t_err[0] = '\0';
	rc = probe_dir(fd, path, out, t_err, sizeof(t_err));
	close(fd);
	return rc;
}

static bool t_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

static unsigned t_entries(const char *path)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *dir;

	dir = opendir(path);
	cr_assert_not_null(dir);
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

Test(probe, a_power_of_two_alignment)
{
	const char *dirs[2];
	struct probe pr;
	unsigned i;

	dirs[0] = strdup(t_mkdir("disk"));
	dirs[1] = t_mount_tmpfs("shm", 0, "size=16m");
	for (i = 0; i < 2; i++) {
		cr_assert_eq(t_probe(dirs[i], &pr), 0, "%s", t_err);
		cr_expect(t_pow2(pr.dio_align), "%u", pr.dio_align);
		cr_expect_geq(pr.dio_align, 512);
		cr_expect_leq(pr.dio_align, PROBE_ALIGN_MAX);
		cr_expect(t_pow2(pr.mem_align), "%u", pr.mem_align);
		cr_expect_leq(pr.mem_align, PROBE_ALIGN_MAX);
		cr_expect_gt(pr.capacity, 0);
	}
	free((void *)dirs[0]);
}

Test(probe, a_tmpfs_is_the_page_cache)
{
	struct probe pr;

	cr_assert_eq(t_probe(t_mount_tmpfs("shm", 0, "size=16m"), &pr), 0,
		     "%s", t_err);
	cr_expect(pr.page_cache);
	cr_expect_eq(pr.capacity, 16u << 20);
}

Test(probe, leaves_no_probe_file)
{
	char *a = t_mkdir("a");
	struct probe pr;

	cr_assert_eq(t_probe(a, &pr), 0, "%s", t_err);
	cr_expect_eq(t_entries(a), 0, "the probe file was not removed");
}

Test(probe, replaces_a_stale_probe_file)
{
	char *a = t_mkdir("a"), stale[PATH_MAX];
	struct probe pr;
	int fd;

	snprintf(stale, sizeof(stale), "%s/.kvstripe-probe-%d", a,
		 (int)getpid());
	fd = open(stale, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(t_probe(a, &pr), 0, "%s", t_err);
	cr_expect_eq(t_entries(a), 0, "the probe file was not removed");
}

Test(probe, rejects_a_read_only_filesystem)
{
	char *ro = t_mount_tmpfs("ro", MS_RDONLY, NULL);
	struct probe pr;

	cr_expect_eq(t_probe(ro, &pr), -EROFS, "%s", t_err);
	cr_expect(strstr(t_err, "is not writable: Read-only file system"),
		  "%s", t_err);
	cr_expect(strstr(t_err, ro), "%s", t_err);
	cr_expect_null(strchr(t_err, '\n'), "one line");
}
