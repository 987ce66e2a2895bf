/*
 * floop.c - the session's /dev/fuse loop (transport_serve() in
 * transport.h), in place of libfuse 3.14's fuse_session_loop_mt().
 *
 * Why: libfuse reads each request into a malloc()ed buffer, 16 bytes past
 * a page, so a WRITE's payload (after 80 bytes of headers) starts 96 bytes
 * into a page, and every aligned O_DIRECT write of the daemon had to copy
 * it into an aligned buffer first. Here each thread reads into an area of
 * its own, at FLOOP_ROOM minus a WRITE's headers, so the payload starts
 * at FLOOP_ROOM, a page boundary; the request is still one contiguous
 * buffer, handed to fuse_session_process_buf() as libfuse's loop would.
 *
 * The loop: a fixed pool of threads, each blocking in read(); the kernel
 * wakes one per request. A read failing with ENODEV (the connection
 * ended) exits the session; EINTR and ENOENT (a request interrupted
 * before it was read) read again; any other error, or a request shorter
 * than its header (EIO), exits the session and is returned. The calling
 * thread waits for the session to exit, then cancels the threads still
 * blocked in read() (the only place they may be cancelled, as in
 * libfuse) and joins every thread, each after its handler has returned.
 *
 * Lending (transport.h): an area whose payload was kept is the
 * borrower's and the handler's until both let go; the thread reads its
 * next request into the spare it took. Spares are kept for the next
 * lend, up to FLOOP_SPARES, and freed with the transport.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "transport_i.h"

/* Room before the payload: the headers of any request fit. */
#define FLOOP_ROOM	4096
/* A WRITE's headers; its payload follows them. */
#define FLOOP_WRITE_HDR	(sizeof(struct fuse_in_header) + \
			 sizeof(struct fuse_write_in))
/*
 * The longest request read, as libfuse 3.14's receive buffer: a header
 * page and 256 pages, the most libfuse negotiates as max_write (it
 * lowers a larger one to its own buffer's size).
 */
#define FLOOP_READ	((256u << 12) + 4096u)

struct floop;

struct floop_worker {
	struct floop *l;
	pthread_t tid;
	char *area;		/* FLOOP_ROOM, then the payload */
	char *next;		/* area lent: the one to read into next */
	bool started;
};

struct floop {
	struct transport *t;
	int fd;
	sem_t finish;		/* posted by each thread as it ends */
	_Atomic int err;	/* the first read error, -errno */
	unsigned n;
	struct floop_worker w[];
};

/*
 * Spare areas kept once given back, so that lending does not fault in
 * and zero fresh pages for each request: as many as may be lent.
 */
#define FLOOP_SPARES	TRANSPORT_LEND_MAX

/*
 * An area's first bytes, which no read reaches (a request starts at
 * FLOOP_ROOM - FLOOP_WRITE_HDR): its transport, and its next spare.
 */
struct floop_hdr {
	struct transport *t;
	struct floop_hdr *next;
	/* lent: the engine's reference and the handler's, until done */
	_Atomic unsigned refs;
};

/* The serving thread the calling thread is, if it is one. */
static __thread struct floop_worker *floop_self;

static char *floop_area(struct transport *t)
{
	char *a = aligned_alloc(FLOOP_ROOM, FLOOP_ROOM + FLOOP_READ);

	if (a)
		((struct floop_hdr *)(void *)a)->t = t;
	return a;
}

void *transport_lend(const void *p)
{
	struct floop_worker *w = floop_self;

	if (!w || w->next || p != w->area + FLOOP_ROOM)
		return NULL;
	return w->area;
}

bool transport_lend_take(void *token)
{
	struct floop_worker *w = floop_self;
	struct transport *t = w->l->t;
	struct floop_hdr *spare;

	if (w->next || token != w->area)
		return false;
	pthread_mutex_lock(&t->lend_mu);
	if (t->nlent >= TRANSPORT_LEND_MAX) {
		pthread_mutex_unlock(&t->lend_mu);
		return false;
	}
	t->nlent++;	/* the area, if kept; else the spare, until done */
	spare = t->spare;
	if (spare) {
		t->spare = spare->next;
		t->nspare--;
	}
	pthread_mutex_unlock(&t->lend_mu);
	if (!spare)
		spare = (struct floop_hdr *)(void *)floop_area(t);
	if (!spare) {
		pthread_mutex_lock(&t->lend_mu);
		t->nlent--;
		pthread_mutex_unlock(&t->lend_mu);
		return false;
	}
	w->next = (char *)spare;
	atomic_store(&((struct floop_hdr *)token)->refs, 2);
	return true;
}

/* One lent area or reserved spare less: keep it spare, or free it. */
static void floop_release(struct floop_hdr *h)
{
	struct transport *t = h->t;
	bool keep;

	pthread_mutex_lock(&t->lend_mu);
	t->nlent--;
	keep = t->nspare < FLOOP_SPARES;
	if (keep) {
		h->next = t->spare;
		t->spare = h;
		t->nspare++;
	}
	pthread_mutex_unlock(&t->lend_mu);
	if (!keep)
		free(h);
}

void transport_lend_done(void *token, bool kept)
{
	struct floop_worker *w = floop_self;
	struct floop_hdr *h = token;

	if (!kept) {
		/* the area stays the thread's; a spare taken goes back */
		if (w->next)
			floop_release((struct floop_hdr *)(void *)w->next);
		w->next = NULL;
		return;
	}
	/* floop_work() reads into w->next from now on */
	if (atomic_fetch_sub(&h->refs, 1) == 1)
		floop_release(h);
}

void transport_give_back(void *token)
{
	struct floop_hdr *h = token;

	if (atomic_fetch_sub(&h->refs, 1) == 1)
		floop_release(h);
}

void floop_spares_free(struct transport *t)
{
	struct floop_hdr *h;

	while ((h = t->spare)) {
		t->spare = h->next;
		free(h);
	}
	t->nspare = 0;
}

/* The session ends; @err, if any, is what transport_serve() returns. */
static void floop_exit(struct floop *l, int err)
{
	int none = 0;

	if (err)
		atomic_compare_exchange_strong(&l->err, &none, err);
	fuse_session_exit(l->t->se);
}

/*
 * A thread may end cancelled in read(), unwound through this frame: built
 * without AddressSanitizer's redzones, so that none stays poisoned on
 * the stack its exit then runs on (ASan reports that as an overflow in
 * its own thread teardown). Below it, handlers are built as everything
 * else; they have returned before the next read.
 */
__attribute__((no_sanitize("address")))
static void *floop_work(void *arg)
{
	struct floop_worker *w = arg;
	struct floop *l = w->l;
	struct fuse_session *se = l->t->se;
	ssize_t n;

	floop_self = w;
	while (!fuse_session_exited(se)) {
		char *start = w->area + FLOOP_ROOM - FLOOP_WRITE_HDR;
		int err;

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = read(l->fd, start, FLOOP_READ);
		err = n < 0 ? errno : 0;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (fuse_session_exited(se))
			break;
		if (err == EINTR || err == ENOENT || err == EAGAIN)
			continue;
		if (err || (size_t)n < sizeof(struct fuse_in_header)) {
			/* ENODEV: the connection ended, not an error */
			floop_exit(l, err == ENODEV ? 0 : err ? -err : -EIO);
			break;
		}
		wire_received(l->t, start, (size_t)n);
		fuse_session_process_buf(se, &(struct fuse_buf){
						     .mem = start,
						     .size = (size_t)n,
					     });
		if (w->next) {	/* its payload was kept: read elsewhere */
			w->area = w->next;
			w->next = NULL;
		}
	}
	sem_post(&l->finish);
	return NULL;
}

/*
 * Start every thread, every signal blocked in them. Returns 0, or -errno
 * of the first that could not be made (those started serve until the
 * session exits, which the caller then makes it do).
 */
static int floop_start(struct floop *l)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < l->n && !rc; i++) {
		struct floop_worker *w = &l->w[i];

		w->l = l;
		w->area = floop_area(l->t);
		if (!w->area) {
			rc = -ENOMEM;
			break;
		}
		rc = -pthread_create(&w->tid, NULL, floop_work, w);
		w->started = !rc;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Until the session exits: a signal may exit it without a post. */
static void floop_wait(struct floop *l)
{
	struct fuse_session *se = l->t->se;

	while (!fuse_session_exited(se)) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		sem_clockwait(&l->finish, CLOCK_MONOTONIC, &until);
	}
}

int transport_serve(struct transport *t, unsigned threads)
{
	struct floop *l;
	int rc;

	if (!threads)
		threads = 1;
	l = calloc(1, sizeof(*l) + threads * sizeof(l->w[0]));
	if (!l)
		return -ENOMEM;
	l->t = t;
	l->fd = fuse_session_fd(t->se);
	l->n = threads;
	atomic_init(&l->err, 0);
	if (sem_init(&l->finish, 0, 0)) {
		rc = -errno;
		free(l);
		return rc;
	}
	rc = floop_start(l);
	if (rc)
		floop_exit(l, rc);
	else
		floop_wait(l);
	for (unsigned i = 0; i < l->n; i++)
		if (l->w[i].started)
			pthread_cancel(l->w[i].tid);
	for (unsigned i = 0; i < l->n; i++) {
		if (l->w[i].started)
			pthread_join(l->w[i].tid, NULL);
		free(l->w[i].area);
	}
	rc = atomic_load(&l->err);
	sem_destroy(&l->finish);
	free(l);
	fuse_session_reset(t->se);
	return rc;
}
