/*
 * test_shadow.c - names made while a device was failed: a sweep of that
 * device unlinks its older file of each name (never a directory), only
 * for the devices each name was noted for; a sweep that fails keeps the
 * names; names past SHADOW_MAX are counted, not kept.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "shadow.h"
#include "t_tmpdir.h"

static void quiet(enum log_level level, const char *line)
{
	(void)level;
	(void)line;
}

static void setup(void)
{
	log_setup(quiet, LOG_LVL_DEBUG);
	t_tmpdir_setup("shadow");
}

static void teardown(void)
{
	unlinkat(t_dirfd, "d/f", 0);
	unlinkat(t_dirfd, "d", AT_REMOVEDIR);
	t_tmpdir_teardown();
}

TestSuite(shadow, .init = setup, .fini = teardown);

static void touch(const char *path)
{
	int fd = openat(t_dirfd, path, O_CREAT | O_WRONLY, 0600);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	close(fd);
}

static bool exists(const char *path)
{
	struct stat st;

	return !fstatat(t_dirfd, path, &st, AT_SYMLINK_NOFOLLOW);
}

static struct shadow *mk(unsigned ndev)
{
	struct shadow *s = NULL;

	cr_assert_eq(shadow_new(ndev, &s), 0);
	return s;
}

Test(shadow, sweep_removes_the_older_files_of_its_device)
{
	struct shadow *s = mk(3);

	touch("a");
	touch("b");
	cr_assert_eq(mkdirat(t_dirfd, "d", 0700), 0);
	touch("d/f");
	shadow_note(s, "a", 1u << 1);
	shadow_note(s, "d/f", (1u << 1) | (1u << 2));
	shadow_note(s, "d", 1u << 1);		/* a directory stays */
	shadow_note(s, "gone", 1u << 1);	/* not there: nothing to do */
	shadow_note(s, "b", 1u << 2);		/* another device's */
	cr_assert_eq(shadow_pending(s, 1), 4);
	cr_assert_eq(shadow_pending(s, 2), 2);
	cr_assert_eq(shadow_sweep(s, 1, t_dirfd), 0);
	cr_assert_not(exists("a"));
	cr_assert_not(exists("d/f"));
	cr_assert(exists("d"));
	cr_assert(exists("b"), "noted for device 2 only");
	cr_assert_eq(shadow_pending(s, 1), 0);
	cr_assert_eq(shadow_pending(s, 2), 2, "device 2 still to sweep");
	cr_assert_eq(shadow_sweep(s, 2, t_dirfd), 0);
	cr_assert_not(exists("b"));
	cr_assert_eq(shadow_pending(s, 2), 0);
	shadow_free(s);
}

Test(shadow, a_failed_sweep_keeps_the_names)
{
	struct shadow *s = mk(2);
	int proc = open("/proc", O_RDONLY | O_DIRECTORY);

	cr_assert_geq(proc, 0);
	shadow_note(s, "x", 1u << 0);
	shadow_note(s, "version", 1u << 0);
	/* /proc/version cannot be removed: the names stay */
	cr_assert_eq(shadow_sweep(s, 0, proc), -EPERM);
	close(proc);
	/* x was not there: done; version stays, for the next sweep */
	cr_assert_eq(shadow_pending(s, 0), 1);
	touch("version");
	cr_assert_eq(shadow_sweep(s, 0, t_dirfd), 0);
	cr_assert_not(exists("version"));
	cr_assert_eq(shadow_pending(s, 0), 0);
	shadow_free(s);
}

Test(shadow, names_past_the_bound_are_not_kept)
{
	struct shadow *s = mk(1);
	char name[32];

	for (unsigned i = 0; i < SHADOW_MAX + 10; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		shadow_note(s, name, 1u << 0);
	}
	cr_assert_eq(shadow_pending(s, 0), SHADOW_MAX);
	shadow_note(s, "past", 1u << 5);	/* no such device: ignored */
	cr_assert_eq(shadow_sweep(s, 0, t_dirfd), 0);
	cr_assert_eq(shadow_pending(s, 0), 0);
	shadow_free(s);
	shadow_free(NULL);
}

Test(shadow, refuses_bad_counts)
{
	struct shadow *s = NULL;

	cr_assert_eq(shadow_new(0, &s), -EINVAL);
	cr_assert_eq(shadow_new(65, &s), -EINVAL);
}
