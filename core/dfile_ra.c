/*
 * dfile_ra.c - read-ahead for readers that go through a file in order, a
 * policy of the dfile module (dfile_i.h): dfile.c calls dfile_ra_read()
 * with the file's lock shared and the writes drained; this file calls only
 * dfio.c below it, never dfile.c.
 *
 * The kernel fills a buffered reader's page cache a window at a time
 * (read_ahead_kb: four 1 MiB READs at once), and sends the next window
 * only once the reader has copied the last one out and the kernel has
 * allocated the next window's pages: about 1.3 ms per 4 MiB in which the
 * device has nothing to do (measured on 2026-11-25:
 * docs/perf-notes/2026-11-25-daemon-read-ahead.md). So once the device
 * has answered a READ of such a stream, the bytes after the furthest READ
 * asked for are read into pieces (pool buffers, one each) on the async
 * ring, up to the depth past that READ; the next window's READs find them
 * there, landed or in flight. Starting them only after a READ's own
 * device read keeps them from sharing the device with the window the
 * kernel is waiting for.
 *
 * Invariants: a piece covers [off, off + len) with off a multiple of the
 * piece size, and is served only while the file's change count is the
 * one it was started under (writes count at their start and end,
 * truncate and fallocate once); pieces start only when no write-behind
 * write is pending, so the device then has every byte written before the
 * count was read. A piece is given back once a READ reached its end, the
 * reader jumped, the file changed, or the dfile closes; one left landed
 * and unread for RA_IDLE_NS goes to a reader that finds the pool empty.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "align.h"
#include "aring.h"
#include "bufpool.h"
#include "dfile_i.h"
#include "dio.h"
#include "kvio_i.h"

#define RA_SLOTS 8		/* pieces one stream holds at most */
#define NOT_COVERED (-1000)	/* serve(): no pieces for this READ */
/*
 * How far, in depths, a READ may lag behind the furthest one asked for
 * and still belong to the run: the kernel sends its next window while
 * READs of the last may still wait for a thread (two cores, a dozen
 * threads).
 */
#define RA_LAG 3
/* A piece landed this long ago and not read is given to another reader. */
#define RA_IDLE_NS 1000000000ull

enum piece_state { P_FREE, P_FLIGHT, P_READY };

struct piece {
	struct rastream *s;
	char *buf;
	uint64_t off;
	size_t len;		/* asked of the device, a multiple of align */
	ssize_t res;		/* once landed: len, or -errno */
	unsigned refs;		/* readers replying from it */
	uint64_t landed_ns;	/* CLOCK_MONOTONIC_COARSE */
	enum piece_state state;
	bool done;		/* read past, or void: give back when free */
	bool checked;		/* its checksums matched (dfile_sum.c) */
};

struct rastream {
	pthread_mutex_t mu;
	pthread_cond_t landed;
	unsigned changes;	/* the file's change count the pieces match */
	bool live;		/* a READ was noted */
	bool changed;		/* the file changed while it was read... */
	uint64_t changed_at;	/* ...with the reader this far */
	uint64_t start;		/* where the reader's current run began */
	uint64_t asked;		/* end of the furthest READ asked for */
	uint64_t ahead;		/* end of the furthest piece started */
	unsigned inflight;
	struct piece p[RA_SLOTS];
	struct rastream *prev, *next;	/* in the engine's list, under its mu */
	struct kvio_ra *ra;	/* the engine's read-ahead */
	struct dfile *f;	/* whose pieces: for the error log */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct rastream *dfile_ra_stream(struct dfile *f)
{
	struct rastream *s = atomic_load(&f->ra), *none = NULL;

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->landed, NULL);
	s->ra = &f->io->ra;
	s->f = f;
	for (unsigned i = 0; i < RA_SLOTS; i++)
		s->p[i].s = s;
	if (!atomic_compare_exchange_strong(&f->ra, &none, s)) {
		/* another reader was first */
		pthread_cond_destroy(&s->landed);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return none;
	}
	pthread_mutex_lock(&s->ra->mu);
	s->next = s->ra->streams;
	if (s->next)
		s->next->prev = s;
	s->ra->streams = s;
	pthread_mutex_unlock(&s->ra->mu);
	return s;
}

/* Give the piece's buffer back if it is done with; mu held. */
static void settle(struct piece *p)
{
	if (p->state != P_READY || !p->done || p->refs)
		return;
	bufpool_put(p->s->ra->pool, p->buf);
	p->buf = NULL;
	p->state = P_FREE;
}

/* The reader jumped or the file changed: no piece is any use. mu held. */
static void drop_all(struct rastream *s)
{
	for (unsigned i = 0; i < RA_SLOTS; i++) {
		if (s->p[i].state == P_FREE)
			continue;
		s->p[i].done = true;
		settle(&s->p[i]);
	}
}

static struct piece *find(struct rastream *s, uint64_t off)
{
	for (unsigned i = 0; i < RA_SLOTS; i++) {
		struct piece *p = &s->p[i];

		if (p->state != P_FREE && !p->done && p->off == off)
			return p;
	}
	return NULL;
}

/* On the reaper thread. */
static void landed(void *arg, ssize_t res)
{
	struct piece *p = arg;
	struct rastream *s = p->s;

	/* past the backing file's end the file is zero */
	if (res >= 0 && (size_t)res < p->len)
		memset(p->buf + res, 0, p->len - (size_t)res);
	pthread_mutex_lock(&s->mu);
	p->res = res < 0 ? res : (ssize_t)p->len;
	p->landed_ns = now_ns();
	if (res < 0) {
		dfile_note(s->f, DEVERR_READ_AHEAD, NULL, (int)res, false);
		p->done = true;
	}
	p->state = P_READY;
	s->inflight--;
	settle(p);
	pthread_cond_broadcast(&s->landed);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Note a READ of [@off, @end) in the stream; mu held. A READ that does
 * not continue the run (more than a window past it, or far behind: the
 * READs of one window are served in any order) starts a new one.
 */
static void note_read(struct rastream *s, unsigned changes, uint64_t off,
		      uint64_t end)
{
	uint64_t depth = s->ra->depth;

	if (s->changes != changes) {
		/* the bytes changed, not the reader */
		drop_all(s);
		s->changes = changes;
		s->ahead = s->asked;
		if (s->live) {
			s->changed = true;
			s->changed_at = s->asked;
		}
	}
	if (off > s->asked + depth || off + RA_LAG * depth < s->asked) {
		drop_all(s);
		s->start = s->asked = s->ahead = off;
		s->changed = false;
	}
	s->live = true;
	if (off < s->start)
		s->start = off;	/* the window's READs come in any order */
	if (end > s->asked)
		s->asked = end;
}

/*
 * Whether piece @p of a file with checksums matches them: checked once,
 * with mu dropped (the reader's reference keeps the piece). A piece
 * that does not match is void: the READ goes to the device, where the
 * check fails again and is told. mu held; the file's lock shared.
 */
static bool check(struct dfile *f, struct rastream *s, struct piece *p)
{
	uint64_t end;
	int rc;

	if (p->checked || !dfile_sum_checked(f))
		return true;
	end = p->off + p->len < f->sums->size ? p->off + p->len :
						 f->sums->size;
	pthread_mutex_unlock(&s->mu);
	rc = csum_check(f->sums, p->off, p->buf, (size_t)(end - p->off),
			NULL);
	pthread_mutex_lock(&s->mu);
	if (rc)
		p->done = true;
	else
		p->checked = true;
	return !rc;
}

/*
 * Serve [@off, @end) from pieces if they cover it, waiting for those in
 * flight. The file's lock is held (shared). Returns the count with @v
 * filled, or NOT_COVERED.
 */
static ssize_t serve(struct dfile *f, struct rastream *s, uint64_t off,
		     uint64_t end, struct dfile_view *v)
{
	struct piece *got[2] = { NULL, NULL };
	size_t piece = s->ra->piece;
	uint64_t first = align_down(off, piece);
	unsigned n = 0, i;
	bool ok = true;

	pthread_mutex_lock(&s->mu);
	note_read(s, atomic_load(&f->changes), off, end);
	for (uint64_t o = first; o < end && n < 2; o += piece) {
		got[n] = find(s, o);
		if (!got[n]) {
			ok = false;
			break;
		}
		got[n++]->refs++;
	}
	for (i = 0; ok && i < n; i++)
		while (got[i]->state == P_FLIGHT)
			pthread_cond_wait(&s->landed, &s->mu);
	/* still the file's bytes, and all of them there? */
	if (ok && s->changes != atomic_load(&f->changes))
		ok = false;
	for (i = 0; ok && i < n; i++)
		ok = !got[i]->done && got[i]->res >= 0;
	if (ok && got[n - 1]->off + got[n - 1]->len < end)
		ok = false;
	for (i = 0; ok && i < n; i++)
		ok = check(f, s, got[i]);
	if (!ok) {
		for (i = 0; i < n; i++) {
			got[i]->refs--;
			settle(got[i]);
		}
		pthread_mutex_unlock(&s->mu);
		return NOT_COVERED;
	}
	for (i = 0; i < n; i++) {
		struct piece *p = got[i];
		uint64_t a = off > p->off ? off : p->off;
		uint64_t b = end < p->off + p->len ? end : p->off + p->len;

		v->iov[i].iov_base = p->buf + (a - p->off);
		v->iov[i].iov_len = b - a;
		v->held[i] = p;
	}
	v->cnt = n;
	pthread_mutex_unlock(&s->mu);
	return (ssize_t)(end - off);
}

/*
 * The pool ran dry: give back pieces other streams left landed and unread
 * for RA_IDLE_NS (a reader that stopped early), for the next READ to use.
 * Streams busy at the moment are skipped.
 */
static void reclaim_idle(struct rastream *self)
{
	struct kvio_ra *ra = self->ra;
	uint64_t now = now_ns(), prev = atomic_load(&ra->reclaimed_ns);

	/* while the pool is simply busy, not on every READ: a few per idle */
	if (now - prev < RA_IDLE_NS / 4 ||
	    !atomic_compare_exchange_strong(&ra->reclaimed_ns, &prev, now))
		return;
	pthread_mutex_lock(&ra->mu);
	for (struct rastream *s = ra->streams; s; s = s->next) {
		if (s == self || pthread_mutex_trylock(&s->mu))
			continue;
		for (unsigned i = 0; i < RA_SLOTS; i++) {
			struct piece *p = &s->p[i];

			if (p->state == P_READY && !p->refs &&
			    now - p->landed_ns >= RA_IDLE_NS) {
				p->done = true;
				settle(p);
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&ra->mu);
}

/*
 * A READ ending at @end was answered: start pieces from the furthest READ
 * asked for up to @depth past @end. The file's lock is held (shared), so
 * no write can start staging meanwhile.
 */
static void start_ahead(struct dfile *f, struct rastream *s, uint64_t end)
{
	uint64_t size = atomic_load(&f->size), limit, o, run;
	struct kvio_ra *ra = s->ra;
	uint64_t depth = ra->depth, piece = ra->piece;
	struct piece *go[RA_SLOTS];
	unsigned n = 0, i;
	bool starved = false;

	if (atomic_load(&f->wb_pending) || atomic_load(&f->over))
		return;
	limit = end + depth < size ? end + depth : size;
	pthread_mutex_lock(&s->mu);
	run = s->asked - s->start;
	/*
	 * Only for a run from the start of the file past one piece (not a
	 * glance at a header) or another run past the depth (not a mapping's
	 * read-around), and not while the file keeps changing under it:
	 * every change voids the pieces.
	 */
	if (s->changes != atomic_load(&f->changes) || run < piece ||
	    (s->start && run <= depth) ||
	    (s->changed && s->asked - s->changed_at <= depth))
		goto out;
	for (i = 0; i < RA_SLOTS; i++) {
		struct piece *p = &s->p[i];

		/* pieces the reader went past without asking for */
		if (p->state != P_FREE &&
		    p->off + p->len + RA_LAG * depth <= s->asked) {
			p->done = true;
			settle(p);
		}
	}
	o = align_up(s->ahead > s->asked ? s->ahead : s->asked, piece);
	for (i = 0; o < limit && i < RA_SLOTS; i++) {
		struct piece *p = &s->p[i];

		if (p->state != P_FREE)
			continue;
		p->buf = bufpool_get(ra->pool, false);
		if (!p->buf) {
			starved = true;
			break;
		}
		p->off = o;
		p->len = size - o < piece ? align_up(size - o, f->align) :
					    piece;
		p->res = 0;
		p->refs = 0;
		p->done = false;
		p->checked = false;
		p->state = P_FLIGHT;
		s->inflight++;
		go[n++] = p;
		o += piece;
		s->ahead = o;
	}
out:
	pthread_mutex_unlock(&s->mu);
	if (starved)
		reclaim_idle(s);
	/* not under mu: the reaper takes it to land a piece */
	for (i = 0; i < n; i++) {
		int rc = aring_submit(ra->ring, f->fd, false, go[i]->buf,
				      go[i]->len, go[i]->off, landed, go[i]);

		if (rc)
			landed(go[i], rc);
	}
}

bool dfile_ra_wants(const struct dfile *f, size_t len)
{
	/* a piece checks alone only if it is whole checksum units */
	return f->io->ra.ring && !f->page_cache && len &&
	       len <= f->io->ra.piece &&
	       atomic_load(&f->sum_unit) <= f->io->ra.piece;
}

ssize_t dfile_ra_read(struct dfile *f, struct rastream *s,
		      struct dio_ctx *ctx, size_t len, uint64_t off,
		      void *dst, size_t cap, struct dfile_view *v)
{
	uint64_t size = atomic_load(&f->size);
	const void *data;
	ssize_t n = NOT_COVERED;

	if (off < size)
		n = serve(f, s, off, len < size - off ? off + len : size, v);
	if (n == NOT_COVERED) {
		n = dfio_read(f, ctx, len, off, dst, cap, &data);
		if (n >= 0) {
			v->iov[0].iov_base = (void *)data;
			v->iov[0].iov_len = (size_t)n;
			v->cnt = 1;
		}
	}
	if (n > 0)
		start_ahead(f, s, off + (uint64_t)n);
	return n;
}

void dfile_ra_view_end(struct dfile *f, struct dfile_view *v)
{
	struct rastream *s = atomic_load(&f->ra);
	uint64_t size = atomic_load(&f->size);

	if (!s || !v->held[0])
		return;
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < 2; i++) {
		struct piece *p = v->held[i];
		uint64_t last, pend;

		if (!p)
			continue;
		/* the kernel does not ask twice for what it was given */
		last = p->off + (uint64_t)((char *)v->iov[i].iov_base +
					   v->iov[i].iov_len - p->buf);
		pend = p->off + p->len < size ? p->off + p->len : size;
		if (last >= pend)
			p->done = true;
		p->refs--;
		settle(p);
		v->held[i] = NULL;
	}
	pthread_mutex_unlock(&s->mu);
}

void dfile_ra_void(struct dfile *f)
{
	struct rastream *s = atomic_load(&f->ra);

	pthread_mutex_lock(&s->mu);
	drop_all(s);
	pthread_mutex_unlock(&s->mu);
}

void dfile_ra_destroy(struct dfile *f)
{
	struct rastream *s = atomic_load(&f->ra);

	if (!s)
		return;
	pthread_mutex_lock(&s->ra->mu);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->ra->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&s->ra->mu);
	pthread_mutex_lock(&s->mu);
	while (s->inflight)
		pthread_cond_wait(&s->landed, &s->mu);
	drop_all(s);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&s->landed);
	pthread_mutex_destroy(&s->mu);
	free(s);
	atomic_store(&f->ra, NULL);
}
