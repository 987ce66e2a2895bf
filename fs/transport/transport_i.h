/*
 * transport_i.h - what the files of the transport corner share: the
 * transport object, the current request (transport.c), the session's
 * I/O hooks (wire.c) and the io_uring serving threads (fring.c).
 *
 * FUSE over io_uring (kernel 6.14 and later, with the fuse module's
 * enable_uring parameter on), beside /dev/fuse: the kernel hands each
 * request to a ring entry of the queue of the CPU the caller runs on, and
 * takes the reply and fetches the next request in one command: one system
 * call per request instead of a read() and a writev(), and no hand-over
 * between CPUs. Each serving thread owns one entry: a header area and a
 * payload buffer. libfuse 3.14 knows nothing of this, so a thread rebuilds
 * the request as /dev/fuse would have delivered it, runs it through
 * fuse_session_process_buf(), and the session's write hooks (wire.c) put
 * the reply into the entry. /dev/fuse stays served: FORGETs and
 * INTERRUPTs always come that way, and so does everything until every
 * queue has an entry.
 */
#ifndef FS_TRANSPORT_TRANSPORT_I_H
#define FS_TRANSPORT_TRANSPORT_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "transport.h"

struct floop_hdr;
struct fring;
struct fring_ent;

struct transport {
	struct transport_params p;
	struct fuse_session *se;
	/* INIT: noted by the read hook, answered by the write hook */
	uint64_t init_unique;	/* 0 once answered */
	uint64_t init_offered;	/* kernel flags, flags2 in bits 32-63 */
	unsigned granted;	/* TRANSPORT_INIT_* */
	struct fring *ring;	/* fring.c: io_uring serving threads */
	/* floop.c: receive areas lent (payloads kept), and spare ones */
	pthread_mutex_t lend_mu;
	unsigned nlent, nspare;		/* protected by lend_mu */
	struct floop_hdr *spare;	/* protected by lend_mu; a list */
	_Atomic unsigned long long ring_served;	/* requests they took */
};

/*
 * transport.c: the request the calling thread handles. begin: note the
 * request @buf of @len bytes, from ring entry @e (NULL: /dev/fuse), before
 * its handler runs; end: the handler returned (ring threads only).
 * transport_req_ent(): the ring entry of the current request, or NULL.
 */
void transport_req_begin(const char *buf, size_t len, struct fring_ent *e);
void transport_req_end(void);
struct fring_ent *transport_req_ent(void);

/* floop.c: free the spare receive areas (transport_free()). */
void floop_spares_free(struct transport *t);

/* wire.c: hook the session's reads and writes. Returns 0 or -errno. */
int wire_attach(struct transport *t);

/*
 * wire.c: the request @buf of @n bytes was read from /dev/fuse: note it
 * as the thread's current one, and an INIT's offered flags.
 */
void wire_received(struct transport *t, const char *buf, size_t n);

/*
 * fring.c. Start the serving threads, after the kernel has taken the INIT
 * reply; @payload: the largest request or reply body it negotiated.
 * Without kernel support the threads log why once and end. Returns 0 or
 * -errno.
 */
int fring_start(struct transport *t, size_t payload);

/* End the serving threads and free them (within about half a second). */
void fring_stop(struct transport *t);

/*
 * The write hooks' side: if the calling thread is serving a ring request
 * and @iov (header first) answers it, the reply goes into the entry.
 * Returns true if it did, with the bytes taken (or -1, errno set) in *@n.
 */
bool fring_reply_iov(const struct iovec *iov, int count, ssize_t *n);

/* The same for a reply of @len bytes queued in the pipe @fd (a splice). */
bool fring_reply_pipe(int fd, size_t len, ssize_t *n);

/*
 * Entry @e's payload buffer, where a reply body may be built in place
 * (page aligned, *@cap bytes), or NULL once its reply went.
 */
void *fring_ent_space(struct fring_ent *e, size_t *cap);

#endif /* FS_TRANSPORT_TRANSPORT_I_H */
