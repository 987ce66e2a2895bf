/*
 * test_caller.c - unit tests for core/caller.c.
 *
 * As root: acting for a caller gives the thread that fsuid and fsgid,
 * without CAP_SYS_RESOURCE but with the file capabilities; acting for
 * root gives all back; only the calling thread changes; a thread made by
 * one that acts for a caller starts unknown and is set in full.
 */
#include <linux/capability.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "caller.h"

/* The calling thread's fsuid and fsgid, and its effective capabilities. */
struct seen {
	unsigned fsuid, fsgid;
	unsigned long long eff;
};

static struct seen t_seen(void)
{
	struct seen s = { 0 };
	char line[256];
	unsigned a, b, c;
	FILE *f = fopen("/proc/thread-self/status", "r");

	cr_assert(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Uid: %u %u %u %u", &a, &b, &c, &s.fsuid) == 4)
			continue;
		if (sscanf(line, "Gid: %u %u %u %u", &a, &b, &c, &s.fsgid) == 4)
			continue;
		sscanf(line, "CapEff: %llx", &s.eff);
	}
	fclose(f);
	return s;
}

static bool has(const struct seen *s, unsigned cap)
{
	return s->eff & (1ull << cap);
}

/* whether the process has CAP_SYS_RESOURCE at all (a container may not) */
static bool had_resource;

static void setup(void)
{
	struct seen s;

	if (geteuid() != 0)
		cr_skip_test("needs root");
	s = t_seen();
	had_resource = has(&s, CAP_SYS_RESOURCE);
}

TestSuite(caller, .init = setup);

static const struct caller nobody = { .uid = 65534, .gid = 65533 };

Test(caller, caller_loses_only_the_reserve)
{
	struct seen s;

	cr_assert_eq(caller_enter(nobody), 0);
	s = t_seen();
	cr_assert_eq(s.fsuid, 65534);
	cr_assert_eq(s.fsgid, 65533);
	cr_assert_not(has(&s, CAP_SYS_RESOURCE));
	cr_assert(has(&s, CAP_DAC_OVERRIDE));
	cr_assert(has(&s, CAP_CHOWN));
	cr_assert(has(&s, CAP_FOWNER));
	cr_assert(has(&s, CAP_SETUID));
	cr_assert_eq(caller_now().uid, 65534);

	cr_assert_eq(caller_enter(CALLER_DAEMON), 0);
	s = t_seen();
	cr_assert_eq(s.fsuid, 0);
	cr_assert_eq(s.fsgid, 0);
	cr_assert_eq(has(&s, CAP_SYS_RESOURCE), had_resource);
	cr_assert(has(&s, CAP_DAC_OVERRIDE));
}

Test(caller, root_of_any_group_is_the_daemon)
{
	struct seen s;

	cr_assert_eq(caller_enter((struct caller){ .uid = 0, .gid = 5 }), 0);
	s = t_seen();
	cr_assert_eq(s.fsgid, 0);
	cr_assert_eq(has(&s, CAP_SYS_RESOURCE), had_resource);
}

Test(caller, no_caller_is_the_overflow_user)
{
	struct seen s;

	cr_assert_eq(caller_enter((struct caller){ .uid = (uid_t)-1,
						   .gid = (gid_t)-1 }), 0);
	s = t_seen();
	cr_assert_eq(s.fsuid, 65534);
	cr_assert_not(has(&s, CAP_SYS_RESOURCE));
	cr_assert_eq(caller_enter(CALLER_DAEMON), 0);
}

static void *t_other(void *arg)
{
	struct seen *s = arg;

	s[0] = t_seen();
	cr_assert_eq(caller_now().uid, 0);	/* unknown: the daemon's */
	/* set in full, though the thread believes nothing */
	cr_assert_eq(caller_enter(CALLER_DAEMON), 0);
	s[1] = t_seen();
	return NULL;
}

Test(caller, threads_are_their_own)
{
	struct seen s[2];
	pthread_t t;

	cr_assert_eq(caller_enter(nobody), 0);
	/* the new thread inherits the creator's credentials */
	cr_assert_eq(pthread_create(&t, NULL, t_other, s), 0);
	pthread_join(t, NULL);
	cr_assert_eq(s[0].fsuid, 65534);
	cr_assert_eq(s[1].fsuid, 0);
	cr_assert_eq(has(&s[1], CAP_SYS_RESOURCE), had_resource);
	/* and its switch left this thread as it was */
	cr_assert_eq(t_seen().fsuid, 65534);
	cr_assert_eq(caller_enter(CALLER_DAEMON), 0);
}
