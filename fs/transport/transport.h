/*
 * transport.h - the corner for what libfuse 3.14 lacks between the kernel
 * and the handlers: the session's own reads and writes of /dev/fuse (INIT
 * flags libfuse cannot ask for, request flags it drops) and FUSE over
 * io_uring (libfuse 3.17/3.18 do both). The rest of fs/ calls only this
 * header; when libfuse catches up, the corner goes.
 *
 * Requests come from /dev/fuse (floop.c's serving threads) or from a
 * ring entry (fring.c's threads); both run the same handlers through
 * fuse_session_process_buf(). A thread handles one request at a time:
 * the per-request calls below answer for the request the calling
 * thread is handling, which the corner notes before the handler runs.
 *
 * INIT flags: a handler-side feature that needs a flag from the kernel
 * asks for it with a TRANSPORT_INIT_* bit in transport_params.init_want;
 * wire.c grants it in the INIT reply when the kernel offered it, and
 * transport_granted() tells what was granted. To negotiate another flag,
 * add its bit here and its row in wire.c's wire_init_flags[] (flags of
 * bits 32-63 go through init_out.flags2, which the table already
 * handles). Larger requests: a max_pages field
 * here, written by wire.c's INIT reply hook into init_out.max_pages with
 * FUSE_MAX_PAGES, where init_payload() already sizes the ring's buffers
 * from it.
 */
#ifndef FS_TRANSPORT_TRANSPORT_H
#define FS_TRANSPORT_TRANSPORT_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

/* INIT flags the filesystem may ask of the kernel beyond libfuse's. */
enum transport_init {
	/* strip suid/sgid when asked, and no GETXATTR before every WRITE */
	TRANSPORT_INIT_KILLPRIV_V2 = 1 << 0,
	/*
	 * lookups and listings of one directory may run at once (libfuse
	 * 3.14 does not ask for it; 3.17 does): without it the kernel sends
	 * one at a time per directory, so a lookup stuck on one device holds
	 * every other lookup in that directory
	 */
	TRANSPORT_INIT_PARALLEL_DIROPS = 1 << 1,
	/*
	 * a file opened with direct_io may still be mapped shared (its
	 * mapping goes through the page cache); without it such a mapping
	 * fails with ENODEV (kernel 6.6+)
	 */
	TRANSPORT_INIT_DIRECT_IO_MMAP = 1 << 2,
};

struct transport_params {
	unsigned init_want;	/* TRANSPORT_INIT_* to grant if offered */
	unsigned ring_threads;	/* io_uring serving threads, 0: none */
};

struct transport;

/* A transport, not attached yet. Returns 0 or -ENOMEM. */
int transport_new(const struct transport_params *p, struct transport **out);

/*
 * Hook the session's reads and writes, before it reads its first request.
 * libfuse 3.14 hands the hooks nothing but the session's userdata, so that
 * must begin with a struct transport * pointing to @t (struct kvfs does).
 * Ring threads start once the kernel has taken the INIT reply (without
 * kernel support they log why once and end). Returns 0 or -errno from
 * libfuse.
 */
int transport_attach(struct transport *t, struct fuse_session *se);

/*
 * Serve /dev/fuse on @threads threads until the session ends: the kernel
 * ends the connection (unmount), or fuse_session_exit() is called (a
 * signal handler of the calling thread; the serving threads block every
 * signal). It is libfuse 3.14's multi-threaded loop with receive buffers
 * of the transport's own, laid out so that a WRITE's payload starts on a
 * page: an aligned O_DIRECT write goes to the device from where the
 * kernel put it. Returns 0, or -errno of the read of /dev/fuse that
 * failed, or of starting the threads.
 */
int transport_serve(struct transport *t, unsigned threads);

/*
 * Lending a WRITE's payload, so that it goes to the device or waits
 * parked from where the kernel put it instead of being copied. Calls of
 * the handler's thread, in this order:
 *   transport_lend(@p), @p the payload as the handler got it: a token
 *     if it is where transport_serve() read the calling thread's request
 *     (page aligned), else NULL (copy it);
 *   transport_lend_take(token), once the payload would be kept: false
 *     if TRANSPORT_LEND_MAX are lent already or no spare area can be
 *     had (copy it then);
 *   transport_lend_done(token, kept), before the handler returns: if
 *     @kept, the thread reads its next request into the spare.
 * A kept payload stays valid until both transport_lend_done() and
 * transport_give_back(token) (any thread, once) were called, in either
 * order.
 */
#define TRANSPORT_LEND_MAX	8

void *transport_lend(const void *p);
bool transport_lend_take(void *token);
void transport_lend_done(void *token, bool kept);
void transport_give_back(void *token);

/*
 * End the ring threads (within about half a second); call after the
 * session loop returned.
 */
void transport_stop(struct transport *t);

/* Free after transport_stop(); NULL: no-op. */
void transport_free(struct transport *t);

/* The TRANSPORT_INIT_* flags the kernel was granted (0 before INIT). */
unsigned transport_granted(const struct transport *t);

/*
 * The wanted TRANSPORT_INIT_* flags the kernel offers: known once INIT
 * arrived, so the session's init handler may ask (transport_granted()
 * is set only as the reply leaves).
 */
unsigned transport_offered(const struct transport *t);

/* Requests the ring threads have served so far. */
unsigned long long transport_ring_served(const struct transport *t);

/*
 * Per request, for the calling thread's request. transport_kill_suidgid():
 * it is a WRITE carrying FUSE_WRITE_KILL_SUIDGID (only ever once
 * TRANSPORT_INIT_KILLPRIV_V2 was granted).
 */
bool transport_kill_suidgid(void);

/*
 * Where a reply body may be built in place: a ring entry's payload buffer
 * (page aligned, *@cap bytes), so fuse_reply_*() copies nothing; NULL if
 * the request did not come through the ring.
 */
void *transport_reply_space(size_t *cap);

#endif /* FS_TRANSPORT_TRANSPORT_H */
