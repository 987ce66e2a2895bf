/*
 * test_health.c - device states: the worst flag wins, drain is apart from
 * the state, a probe lifts failed and read-only, every change is one line.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "log.h"

static unsigned lines;
static char last[256];

static void sink(enum log_level level, const char *line)
{
	(void)level;
	lines++;
	snprintf(last, sizeof(last), "%s", line);
}

static struct health *mk(unsigned n)
{
	static const char *const roots[] = { "/d0", "/d1", "/d2" };
	struct health *h = NULL;

	lines = 0;
	log_setup(sink, LOG_LVL_DEBUG);
	cr_assert_eq(health_new(&(struct health_params){
				    .count = n, .roots = roots,
			    }, &h), 0);
	return h;
}

Test(health, starts_ok_with_default_timeout)
{
	struct health *h = mk(3);
	char buf[32];

	cr_assert_eq(health_timeout_ms(h), HEALTH_TIMEOUT_MS);
	for (unsigned d = 0; d < 3; d++) {
		cr_assert_eq(health_state(h, d), HEALTH_OK);
		cr_assert(health_takes_new(h, d));
		cr_assert_not(health_failed(h, d));
	}
	health_describe(h, 1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "ok");
	cr_assert_eq(lines, 0);
	health_free(h);
}

Test(health, refuses_bad_counts)
{
	struct health *h = NULL;

	cr_assert_eq(health_new(&(struct health_params){ .count = 0 }, &h),
		     -EINVAL);
	cr_assert_eq(health_new(&(struct health_params){ .count = 65 }, &h),
		     -EINVAL);
}

Test(health, timeout_fails_once_and_probe_lifts_it)
{
	struct health *h = mk(3);

	health_note_timeout(h, 1, "lookup");
	cr_assert(health_failed(h, 1));
	cr_assert_not(health_takes_new(h, 1));
	cr_assert(health_takes_new(h, 0));
	cr_assert_eq(lines, 1);
	cr_assert(strstr(last, "device 1 (/d1): ok -> failed"), "%s", last);
	cr_assert(strstr(last, "lookup"), "%s", last);
	health_note_timeout(h, 1, "read");
	health_note_error(h, 1, -EIO);
	cr_assert_eq(lines, 1, "a failed device is told once");
	health_note_ok(h, 1);
	cr_assert_eq(health_state(h, 1), HEALTH_OK);
	cr_assert_eq(lines, 2);
	cr_assert(strstr(last, "failed -> ok"), "%s", last);
	health_free(h);
}

Test(health, worst_state_wins)
{
	struct health *h = mk(2);

	health_note_full(h, 0, true);
	cr_assert_eq(health_state(h, 0), HEALTH_FULL);
	health_note_error(h, 0, -EROFS);
	cr_assert_eq(health_state(h, 0), HEALTH_RO);
	cr_assert_not(health_failed(h, 0), "read-only still reads");
	health_note_error(h, 0, -EIO);
	cr_assert_eq(health_state(h, 0), HEALTH_FAILED);
	health_note_ok(h, 0);
	cr_assert_eq(health_state(h, 0), HEALTH_FULL, "still full");
	health_note_full(h, 0, false);
	cr_assert_eq(health_state(h, 0), HEALTH_OK);
	cr_assert_eq(lines, 5);
	health_free(h);
}

Test(health, drain_is_apart_from_the_state)
{
	struct health *h = mk(2);
	char buf[32];

	cr_assert(health_set_drain(h, 1, true));
	cr_assert_not(health_set_drain(h, 1, true));
	cr_assert(health_drained(h, 1));
	cr_assert_not(health_takes_new(h, 1));
	cr_assert_not(health_failed(h, 1));
	cr_assert_eq(health_state(h, 1), HEALTH_OK);
	cr_assert(strstr(last, "drained"), "%s", last);
	health_note_error(h, 1, -EROFS);
	health_describe(h, 1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "read-only,drain");
	cr_assert(health_set_drain(h, 1, false));
	cr_assert(strstr(last, "back in placement"), "%s", last);
	cr_assert_eq(lines, 3);
	health_free(h);
}
