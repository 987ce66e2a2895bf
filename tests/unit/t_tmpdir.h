/*
 * t_tmpdir.h - a scratch directory under /var/tmp for the I/O unit tests
 * (test_dio.c, test_dfile.c): made, probed for O_DIRECT, emptied and
 * removed around every test. Header-only: each test binary is one file.
 */
#ifndef TESTS_T_TMPDIR_H
#define TESTS_T_TMPDIR_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dio.h"

#define T_KIB	1024u
#define T_MIB	(1024u * 1024u)

static char t_dir[64];
static int t_dirfd = -1;
static bool t_no_direct;

/* The I/O engines' parameters in these tests: 1 MiB requests. */
#define T_DIO_PARAMS \
	{ .queue_depth = 64, .max_io = T_MIB, .max_align = 4096 }

/* Make the directory for test file @tag. */
static inline void t_tmpdir_setup(const char *tag)
{
	int fd;

	snprintf(t_dir, sizeof(t_dir), "/var/tmp/kvstripe-%s-XXXXXX", tag);
	cr_assert_not_null(mkdtemp(t_dir), "mkdtemp: %s", strerror(errno));
	t_dirfd = open(t_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(t_dirfd, 0);

	fd = openat(t_dirfd, "probe", O_RDWR | O_CREAT | O_DIRECT, 0600);
	t_no_direct = fd < 0 && errno == EINVAL;
	if (fd >= 0)
		close(fd);
	unlinkat(t_dirfd, "probe", 0);
}

static inline void t_tmpdir_teardown(void)
{
	DIR *d = fdopendir(t_dirfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(t_dirfd, de->d_name, 0);
	closedir(d);
	rmdir(t_dir);
}

#define t_require_direct()						\
	do {								\
		if (t_no_direct)					\
			cr_skip_test("%s refuses O_DIRECT", t_dir);	\
	} while (0)

#endif /* TESTS_T_TMPDIR_H */
