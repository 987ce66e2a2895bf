/*
 * caller.c - the calling thread's identity on the backing filesystems
 * (caller.h). Invariant: when the thread-local says the thread is known,
 * its fsuid, fsgid and effective capabilities are those of the identity
 * it names; a thread starts unknown, since it inherits whatever its
 * creator acted for, and the first switch sets all three.
 */
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caller.h"

#define CALLER_OVERFLOW 65534	/* the kernel's overflowuid, "nobody" */

/* the process's identity at the first call: read only afterwards */
static pthread_once_t caller_once = PTHREAD_ONCE_INIT;
static bool caller_able;	/* root with CAP_SETUID and CAP_SETGID */
static struct __user_cap_data_struct caller_perm[_LINUX_CAPABILITY_U32S_3];

static __thread bool caller_known;
static __thread struct caller caller_cur;

static bool cap_has(const struct __user_cap_data_struct *d, unsigned cap)
{
	return d[cap / 32].permitted & (1u << (cap % 32));
}

/*
 * Before any thread switched: the thread that runs this (the first to
 * call) still has the daemon's own credentials.
 */
static void caller_init(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};

	if (geteuid() != 0 || syscall(SYS_capget, &h, caller_perm))
		return;
	caller_able = cap_has(caller_perm, CAP_SETUID) &&
		      cap_has(caller_perm, CAP_SETGID);
}

/* setfsuid(2) says nothing of failure: ask again with an invalid id. */
static bool set_fsid(long nr, unsigned id)
{
	syscall(nr, id);
	return (unsigned)syscall(nr, -1) == id;
}

static int caller_switch(struct caller c)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct eff[_LINUX_CAPABILITY_U32S_3];
	unsigned i;

	/*
	 * Leaving fsuid 0 drops the file capabilities from the effective
	 * set (and coming back raises them): capset after sets them right.
	 */
	if (!set_fsid(SYS_setfsuid, c.uid) || !set_fsid(SYS_setfsgid, c.gid))
		return -EPERM;
	memcpy(eff, caller_perm, sizeof(eff));
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		eff[i].effective = eff[i].permitted;
		eff[i].inheritable = caller_perm[i].inheritable;
	}
	if (c.uid)
		eff[CAP_SYS_RESOURCE / 32].effective &=
			~(1u << (CAP_SYS_RESOURCE % 32));
	if (syscall(SYS_capset, &h, eff))
		return -EPERM;
	return 0;
}

int caller_enter(struct caller c)
{
	int rc;

	if (c.uid == (uid_t)-1)
		c.uid = CALLER_OVERFLOW;
	if (c.gid == (gid_t)-1)
		c.gid = CALLER_OVERFLOW;
	if (!c.uid)
		c.gid = 0;
	if (caller_known && caller_same(c, caller_cur))
		return 0;
	pthread_once(&caller_once, caller_init);
	caller_cur = c;
	if (!caller_able) {
		caller_known = true;
		return 0;
	}
	rc = caller_switch(c);
	caller_known = !rc;
	return rc;
}

struct caller caller_now(void)
{
	return caller_known ? caller_cur : CALLER_DAEMON;
}
