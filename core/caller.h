/*
 * caller.h - whom the calling thread acts for on the backing filesystems.
 *
 * A backing filesystem grants some things by who asks: ext4 lets a writer
 * spend the blocks it keeps for root (5 % by default) only if its fsuid
 * is the reserve's owner (resuid, root by default), its fsgid or a group
 * is resgid, or it has CAP_SYS_RESOURCE. The daemon runs as root, so
 * before it changes a backing filesystem for a caller who is not root,
 * the thread takes the caller's fsuid and fsgid and drops CAP_SYS_RESOURCE
 * from its effective set, keeping every other capability (file access
 * stays the daemon's). Credentials are per thread on Linux (the raw
 * setfsuid, setfsgid and capset calls change the calling thread only),
 * and io_uring runs a request with the credentials its submitter had when
 * it was submitted. The thread's state is kept in a thread-local and
 * changed only when the identity asked for differs: a thread serving one
 * caller makes no system call per request.
 */
#ifndef CORE_CALLER_H
#define CORE_CALLER_H

#include <sys/types.h>

/* An identity: uid 0 is the daemon itself, with all its capabilities. */
struct caller {
	uid_t uid;
	gid_t gid;
};

/* The daemon's own identity. */
#define CALLER_DAEMON ((struct caller){ .uid = 0, .gid = 0 })

/*
 * Make the calling thread act for @c: uid 0 is the daemon (fsuid and
 * fsgid 0, every capability it has); any other uid gives the thread that
 * fsuid and @c.gid as fsgid, without CAP_SYS_RESOURCE. A uid of -1 (a
 * request the kernel sent for nobody in particular) acts as the overflow
 * uid 65534. Nothing changes in a daemon that is not root (it cannot
 * switch, and has nothing to withhold). Returns 0, or -EPERM if the
 * kernel refused a switch (the thread's state is then unknown, and
 * switched again in full by the next call).
 */
int caller_enter(struct caller c);

/* The identity the calling thread last acted for (CALLER_DAEMON at first). */
struct caller caller_now(void);

/* Whether @a and @b are the same identity. */
static inline int caller_same(struct caller a, struct caller b)
{
	return a.uid == b.uid && (a.uid == 0 || a.gid == b.gid);
}

#endif /* CORE_CALLER_H */
