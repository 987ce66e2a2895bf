/*
 * test_hprobe.c - the health probe: one probe writes, syncs and reads back
 * a block and leaves nothing behind; a failed device that answers is
 * returned to ok within a period or two; a suspected device that answers
 * stays ok; a probe's result moves the state as health_note_probe() says.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "hprobe.h"
#include "log.h"
#include "t_tmpdir.h"

static void quiet(enum log_level level, const char *line)
{
	(void)level;
	(void)line;
}

static void setup(void)
{
	log_setup(quiet, LOG_LVL_DEBUG);
	t_tmpdir_setup("hprobe");
}

TestSuite(hprobe, .init = setup, .fini = t_tmpdir_teardown);

static unsigned entries(void)
{
	DIR *d = opendir(t_dir);
	struct dirent *de;
	unsigned n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static struct health *mk_health(unsigned timeout_ms)
{
	struct health *h = NULL;

	cr_assert_eq(health_new(&(struct health_params){
				    .count = 1, .timeout_ms = timeout_ms,
			    }, &h), 0);
	return h;
}

static struct hprobe *mk_probe(struct health *h)
{
	unsigned align = t_no_direct ? 0 : 4096;
	struct hprobe *hp = NULL;

	cr_assert_eq(hprobe_start(&(struct hprobe_params){
				      .count = 1, .root_fds = &t_dirfd,
				      .align = &align, .health = h,
				      .period_ms = 50,
			      }, &hp), 0);
	return hp;
}

/* Wait up to @ms for device 0 to be in state @st. */
static bool reaches(struct health *h, enum health_state st, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10; i++) {
		if (health_state(h, 0) == st)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	return health_state(h, 0) == st;
}

Test(hprobe, run_answers_and_leaves_nothing)
{
	cr_assert_eq(hprobe_run(t_dirfd, t_no_direct ? 0 : 4096), 0);
	cr_assert_eq(hprobe_run(t_dirfd, 0), 0);
	cr_assert_eq(entries(), 0);
}

Test(hprobe, run_on_no_directory_fails)
{
	int fd = openat(t_dirfd, "f", O_RDWR | O_CREAT, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_lt(hprobe_run(fd, 0), 0);
	close(fd);
}

Test(hprobe, failed_device_that_answers_is_ok_again)
{
	struct health *h = mk_health(0);
	struct hprobe *hp = mk_probe(h);

	health_note_timeout(h, 0, "test");
	cr_assert(health_failed(h, 0));
	cr_assert(reaches(h, HEALTH_OK, 3000), "still %s",
		  health_state_name(health_state(h, 0)));
	hprobe_stop(hp);
	health_free(h);
	cr_assert_eq(entries(), 0);
}

Test(hprobe, read_only_that_answers_is_ok_again)
{
	struct health *h = mk_health(0);
	struct hprobe *hp = mk_probe(h);

	health_note_error(h, 0, -EROFS);
	cr_assert_eq(health_state(h, 0), HEALTH_RO);
	cr_assert(reaches(h, HEALTH_OK, 3000));
	hprobe_stop(hp);
	health_free(h);
}

Test(hprobe, suspected_device_that_answers_stays_ok)
{
	struct health *h = mk_health(0);
	struct hprobe *hp = mk_probe(h);

	for (int i = 0; i < 20; i++)
		hprobe_suspect(hp, 0);
	hprobe_suspect(hp, 7);		/* past the count: ignored */
	hprobe_suspect(NULL, 0);
	nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, NULL);
	cr_assert_eq(health_state(h, 0), HEALTH_OK);
	hprobe_stop(hp);
	health_free(h);
}

Test(hprobe, refuses_bad_params)
{
	struct health *h = mk_health(0);
	struct hprobe *hp = NULL;
	int fd = t_dirfd;

	cr_assert_eq(hprobe_start(&(struct hprobe_params){
				      .count = 0, .root_fds = &fd, .health = h,
			      }, &hp), -EINVAL);
	cr_assert_eq(hprobe_start(&(struct hprobe_params){
				      .count = 1, .root_fds = &fd,
			      }, &hp), -EINVAL);
	fd = -1;
	cr_assert_eq(hprobe_start(&(struct hprobe_params){
				      .count = 1, .root_fds = &fd, .health = h,
			      }, &hp), -EBADF);
	hprobe_stop(NULL);
	health_free(h);
}

Test(hprobe, note_probe_moves_the_state)
{
	struct health *h = mk_health(0);

	health_note_probe(h, 0, -EIO);
	cr_assert_eq(health_state(h, 0), HEALTH_FAILED);
	health_note_probe(h, 0, -EROFS);
	cr_assert_eq(health_state(h, 0), HEALTH_RO);
	health_note_probe(h, 0, -EIO);
	health_note_probe(h, 0, -EUCLEAN);	/* a filesystem to check */
	cr_assert_eq(health_state(h, 0), HEALTH_RO);
	health_note_probe(h, 0, -ENOSPC);	/* answers, only full */
	cr_assert_eq(health_state(h, 0), HEALTH_OK);
	health_set_drain(h, 0, true);
	health_note_probe(h, 0, -EIO);
	health_note_probe(h, 0, 0);
	cr_assert_eq(health_state(h, 0), HEALTH_OK);
	cr_assert(health_drained(h, 0), "a probe leaves the drain");
	health_free(h);
}
