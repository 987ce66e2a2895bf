/*
 * test_deverr.c - device errors in the log: the first of each kind named,
 * repeats summed at most every 10 s, failing told once, a fresh start
 * after a quiet pause, names below the device root, bounded lines under
 * many threads. The clock is the test's own.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deverr.h"
#include "log.h"

#define T_LINES 256

static _Atomic uint64_t t_now;
static char t_lines[T_LINES][700];
static _Atomic unsigned t_nlines;
static struct deverr *t_de;

static uint64_t t_clock(void)
{
	return atomic_load(&t_now);
}

static void t_sink(enum log_level level, const char *line)
{
	unsigned i = atomic_fetch_add(&t_nlines, 1);

	(void)level;
	if (i < T_LINES)
		snprintf(t_lines[i], sizeof(t_lines[i]), "%s", line);
}

/* How many lines so far contain @s. */
static unsigned t_count(const char *s)
{
	unsigned n = 0, i, max = atomic_load(&t_nlines);

	for (i = 0; i < max && i < T_LINES; i++)
		n += strstr(t_lines[i], s) != NULL;
	return n;
}

static void setup(void)
{
	static const char *const roots[] = { "/srv/d0", "/srv/d1" };

	atomic_store(&t_now, 1000000);
	atomic_store(&t_nlines, 0);
	log_setup(t_sink, LOG_LVL_DEBUG);
	cr_assert_eq(deverr_new(&(struct deverr_params){
				.count = 2, .roots = roots, .now_ms = t_clock,
			}, &t_de), 0);
}

static void teardown(void)
{
	deverr_free(t_de);
	log_setup(NULL, LOG_LVL_INFO);
}

static void t_note(unsigned dev, enum deverr_kind kind, const char *path,
		   int err)
{
	deverr_note(t_de, &(struct deverr_at){
			.dev = dev, .kind = kind, .path = path, .fd = -1,
		}, err);
}

TestSuite(deverr, .init = setup, .fini = teardown);

Test(deverr, classes)
{
	cr_assert(deverr_is_device(-EIO));
	cr_assert(deverr_is_device(-EUCLEAN));
	cr_assert(deverr_is_device(-ENOTCONN));
	cr_assert_not(deverr_is_device(-ENOSPC));
	cr_assert_not(deverr_is_device(-EDQUOT));
	cr_assert(deverr_is_device(-EROFS), "what a failing ext4 ends as");
	cr_assert_not(deverr_is_device(-ENOENT));
	cr_assert_not(deverr_is_device(0));
}

Test(deverr, first_of_each_kind_named_repeats_summed)
{
	for (int i = 0; i < 50; i++)
		t_note(1, DEVERR_WRITE_BEHIND, "gpu1/w", -EIO);
	for (int i = 0; i < 5; i++)
		t_note(1, DEVERR_READ, "gpu1/r", -EIO);
	cr_assert_eq(t_count("device 1: write-behind of 'gpu1/w' failed: "
			     "Input/output error"), 1);
	cr_assert_eq(t_count("device 1: read of 'gpu1/r' failed"), 1);
	cr_assert_eq(t_count("more error"), 0, "summed before 10 s");
	atomic_fetch_add(&t_now, 9999);
	deverr_tick(t_de);
	cr_assert_eq(t_count("more error"), 0);
	atomic_fetch_add(&t_now, 1);
	deverr_tick(t_de);
	cr_assert_eq(t_count("device 1: 53 more errors in the last 10 s: "
			     "4 read (EIO), 49 write-behind (EIO)"), 1,
		     "%s", t_lines[atomic_load(&t_nlines) - 1]);
	deverr_tick(t_de);
	cr_assert_eq(t_count("more error"), 1, "nothing new, no line");
	cr_assert_eq(t_count("device 0"), 0);
}

Test(deverr, summary_at_most_every_10s_while_errors_come)
{
	/* 1000 errors over 100 s: a first, failing, and ~10 summaries */
	for (int i = 0; i < 1000; i++) {
		t_note(0, DEVERR_READ, "f", -EIO);
		atomic_fetch_add(&t_now, 100);
	}
	cr_assert_eq(t_count("device 0: read of 'f' failed"), 1);
	cr_assert_eq(t_count("device 0 is failing"), 1);
	cr_assert_leq(t_count("more error"), 10);
	cr_assert_geq(t_count("more error"), 9);
	cr_assert_leq(atomic_load(&t_nlines), 12u);
}

Test(deverr, failing_by_count_once)
{
	for (int i = 0; i < DEVERR_FAIL_COUNT - 1; i++)
		t_note(1, DEVERR_WRITE, "f", -EIO);
	cr_assert_eq(t_count("is failing"), 0);
	t_note(1, DEVERR_WRITE, "f", -EIO);
	cr_assert_eq(t_count("device 1 is failing: 16 errors in 0 s, the "
			     "latest write (EIO)"), 1);
	for (int i = 0; i < 100; i++)
		t_note(1, DEVERR_WRITE, "f", -EIO);
	cr_assert_eq(t_count("is failing"), 1);
}

Test(deverr, failing_by_span)
{
	t_note(0, DEVERR_READ, "a", -EIO);
	atomic_fetch_add(&t_now, 15000);
	t_note(0, DEVERR_READ, "a", -EIO);
	atomic_fetch_add(&t_now, 15000);
	cr_assert_eq(t_count("is failing"), 0);
	t_note(0, DEVERR_READ, "a", -EIO);
	cr_assert_eq(t_count("device 0 is failing: 3 errors in 30 s"), 1);
}

Test(deverr, not_device_errors_logged_not_failing)
{
	for (int i = 0; i < 100; i++)
		t_note(0, DEVERR_META, "x", -ENOSPC);
	cr_assert_eq(t_count("device 0: metadata of 'x' failed: No space"),
		     1);
	cr_assert_eq(t_count("is failing"), 0);
	atomic_fetch_add(&t_now, 10000);
	deverr_tick(t_de);
	cr_assert_eq(t_count("99 more errors in the last 10 s: 99 metadata "
			     "(ENOSPC)"), 1);
}

static void t_op(unsigned dev, const char *op, const char *path, int err)
{
	deverr_note(t_de, &(struct deverr_at){
			.dev = dev, .kind = DEVERR_META, .op = op,
			.path = path, .fd = -1,
		}, err);
}

Test(deverr, first_of_each_operation_named)
{
	static const char *const ops[] = { "rename", "mkdir", "setxattr" };
	char name[DEVERR_OPS_MAX + 8][16];

	for (int i = 0; i < 30; i++)
		for (unsigned j = 0; j < 3; j++)
			t_op(1, ops[j], "gpu1/a", -EIO);
	t_op(1, NULL, "gpu1/b", -EIO);
	t_op(1, NULL, "gpu1/c", -EIO);
	cr_assert_eq(t_count("device 1: rename of 'gpu1/a' failed"), 1);
	cr_assert_eq(t_count("device 1: mkdir of 'gpu1/a' failed"), 1);
	cr_assert_eq(t_count("device 1: setxattr of 'gpu1/a' failed"), 1);
	cr_assert_eq(t_count("device 1: metadata of 'gpu1/b' failed"), 1);
	cr_assert_eq(t_count("of 'gpu1/c'"), 0);
	/* names not seen in code: past DEVERR_OPS_MAX only summed */
	for (unsigned i = 0; i < DEVERR_OPS_MAX + 8; i++) {
		snprintf(name[i], sizeof(name[i]), "op%u", i);
		t_op(0, name[i], "x", -EIO);
		t_op(0, name[i], "x", -EIO);
	}
	cr_assert_eq(t_count("device 0: op"), DEVERR_OPS_MAX);
	atomic_fetch_add(&t_now, 10000);
	deverr_tick(t_de);
	cr_assert_eq(t_count("device 1: 88 more errors in the last 10 s: "
			     "88 metadata (EIO)"), 1);
	cr_assert_eq(t_count("device 0: 48 more errors"), 1);
	/* after a quiet pause, the names are firsts again */
	atomic_fetch_add(&t_now, DEVERR_QUIET_MS);
	t_op(1, "rename", "gpu1/d", -EIO);
	cr_assert_eq(t_count("device 1: rename of 'gpu1/d' failed"), 1);
}

Test(deverr, fresh_start_after_quiet_pause)
{
	for (int i = 0; i < 20; i++)
		t_note(1, DEVERR_READ, "r", -EIO);
	cr_assert_eq(t_count("is failing"), 1);
	atomic_fetch_add(&t_now, DEVERR_QUIET_MS - 1);
	t_note(1, DEVERR_READ, "r", -EIO);
	cr_assert_eq(t_count("read of 'r' failed"), 1, "still the same run");
	atomic_fetch_add(&t_now, DEVERR_QUIET_MS);
	for (int i = 0; i < 20; i++)
		t_note(1, DEVERR_READ, "r2", -EIO);
	cr_assert_eq(t_count("read of 'r2' failed"), 1);
	cr_assert_eq(t_count("is failing"), 2);
}

Test(deverr, op_names_and_fd_names_below_the_root)
{
	char dir[] = "/tmp/kvstripe-deverr-XXXXXX", path[128];
	const char *roots[1];
	struct deverr *de;
	int fd;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	roots[0] = dir;
	cr_assert_eq(deverr_new(&(struct deverr_params){
				.count = 1, .roots = roots, .now_ms = t_clock,
			}, &de), 0);
	deverr_note(de, &(struct deverr_at){ .kind = DEVERR_FSYNC, .fd = fd },
		    -EIO);
	deverr_note(de, &(struct deverr_at){
			.kind = DEVERR_META, .op = "unlink", .path = "a/b",
		}, -EUCLEAN);
	deverr_note(de, &(struct deverr_at){ .dev = 5, .path = "x" }, -EIO);
	deverr_free(de);
	cr_assert_eq(t_count("device 0: fsync of 'file' failed"), 1);
	cr_assert_eq(t_count("device 0: unlink of 'a/b' failed: Structure "
			     "needs cleaning"), 1);
	cr_assert_eq(atomic_load(&t_nlines), 2u);
	close(fd);
	unlink(path);
	rmdir(dir);
}

static void *t_hammer(void *arg)
{
	for (int i = 0; i < 2000; i++) {
		t_note((unsigned)(uintptr_t)arg, (enum deverr_kind)(i % 7),
		       "f", -EIO);
		if (i % 100 == 0)
			atomic_fetch_add(&t_now, 1000);
	}
	return NULL;
}

Test(deverr, threads_bounded)
{
	pthread_t t[4];

	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, t_hammer, (void *)(i % 2));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	deverr_free(t_de);
	t_de = NULL;
	/* 8000 errors over 80 s on two devices */
	cr_assert_leq(atomic_load(&t_nlines), 2u * (7 + 1 + 9 + 1),
		      "%u lines", atomic_load(&t_nlines));
	cr_assert_eq(t_count("is failing"), 2);
}
