/*
 * signals.h - the daemon's signal dispositions, whatever it inherited:
 * SIGINT, SIGTERM and SIGHUP end the FUSE session (SIGHUP stays ignored
 * if the daemon was started with it ignored, as nohup does), SIGPIPE is
 * ignored. One session per process: the handler finds it in a static.
 */
#ifndef MOUNT_SIGNALS_H
#define MOUNT_SIGNALS_H

#include <signal.h>

struct fuse_session;

/*
 * Install the handlers for @se: SIGINT and SIGTERM always (a shell starts
 * its background jobs with SIGINT ignored, and libfuse's own handlers
 * replace only signals at their default), SIGHUP unless it is ignored;
 * SIGPIPE ignored. The handler only calls fuse_session_exit(@se) and
 * notes the signal, which interrupts the thread it runs on: call
 * signals_block() around the creation of threads that do not serve the
 * FUSE loop, so that the loop's thread takes the signals.
 *
 * Returns 0, or -errno from sigaction(); the handlers installed until
 * then have their default action back.
 */
int signals_install(struct fuse_session *se);

/*
 * Forget the session and give SIGINT, SIGTERM and SIGHUP (if it was
 * installed) their default action back: a signal during the teardown
 * ends the process. SIGPIPE stays ignored. Call before the session is
 * destroyed. A no-op without signals_install().
 */
void signals_remove(void);

/*
 * The signal that ended the session since signals_install(), or 0 if
 * none did.
 */
int signals_caught(void);

/*
 * Block SIGINT, SIGTERM and SIGHUP in the calling thread, the old mask in
 * @saved: threads it creates until signals_unblock(@saved) inherit the
 * block, so that these signals interrupt the FUSE loop's thread.
 */
void signals_block(sigset_t *saved);

/* Restore the mask that signals_block() saved in @saved. */
void signals_unblock(const sigset_t *saved);

#endif /* MOUNT_SIGNALS_H */
