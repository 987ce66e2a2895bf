/*
 * signals.c - SIGINT, SIGTERM and SIGHUP end the FUSE session whatever the
 * daemon inherited, SIGPIPE is ignored. The handler does what libfuse's
 * does and nothing else: fuse_session_exit(), which only stores a flag,
 * and a note of the signal, both async-signal-safe.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "signals.h"

static const int signals_stop[] = { SIGINT, SIGTERM, SIGHUP };

#define SIGNALS_NSTOP	(sizeof(signals_stop) / sizeof(signals_stop[0]))

/* set before the handlers are installed, cleared after they are gone */
static struct fuse_session *volatile signals_se;
static volatile sig_atomic_t signals_last;
static bool signals_set[SIGNALS_NSTOP];	/* which handlers we installed */

static void signals_handler(int sig)
{
	struct fuse_session *se = signals_se;

	signals_last = sig;
	if (se)
		fuse_session_exit(se);
}

static void signals_stop_mask(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < SIGNALS_NSTOP; i++)
		sigaddset(set, signals_stop[i]);
}

/* Put back the dispositions signals_install() replaced; @set: which. */
static void signals_reset(const bool *set)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < SIGNALS_NSTOP; i++)
		if (set[i])
			sigaction(signals_stop[i], &sa, NULL);
}

int signals_install(struct fuse_session *se)
{
	bool set[SIGNALS_NSTOP] = { false };
	struct sigaction sa, old;
	size_t i;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = signals_handler;
	/*
	 * No SA_RESTART: the signal must interrupt the loop's read of
	 * /dev/fuse (single-threaded) or its sem_wait (multi-threaded) for
	 * the loop to see the exit flag. The others wait while it runs.
	 */
	signals_stop_mask(&sa.sa_mask);
	signals_se = se;
	signals_last = 0;
	for (i = 0; i < SIGNALS_NSTOP; i++) {
		int sig = signals_stop[i];

		if (sigaction(sig, NULL, &old))
			goto err_reset;
		/* nohup's choice; a shell's SIGINT for a background job is not */
		if (sig == SIGHUP && old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(sig, &sa, NULL))
			goto err_reset;
		set[i] = true;
	}
	/* a reply to a dead /dev/fuse or a line to a closed log: EPIPE */
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL))
		goto err_reset;
	memcpy(signals_set, set, sizeof(set));
	return 0;

err_reset:
	rc = -errno;
	signals_reset(set);
	signals_se = NULL;
	return rc;
}

void signals_remove(void)
{
	signals_reset(signals_set);
	memset(signals_set, 0, sizeof(signals_set));
	signals_se = NULL;
}

int signals_caught(void)
{
	return signals_last;
}

void signals_block(sigset_t *saved)
{
	sigset_t set;

	signals_stop_mask(&set);
	pthread_sigmask(SIG_BLOCK, &set, saved);
}

void signals_unblock(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}
