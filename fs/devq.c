/*
 * devq.c - data requests through their device's slots (devq.h), and the
 * watchdog that fails a device whose requests no longer come back.
 *
 * A request that finds no free slot is copied and parked; the worker
 * returns to /dev/fuse. Its WRITE payload keeps the receive area it was
 * read into when the transport lends it (the worker reads its next
 * request elsewhere), and is copied too otherwise, the receive buffer
 * being the worker's, reused as soon as the handler returns. The
 * copy is run, and freed, by whichever thread gives back a slot of that
 * device next (core/slots.h), or answered EIO when the device fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devq.h"
#include "inode.h"
#include "log.h"
#include "transport/transport.h"

#define DEVQ_TICK_MS	200	/* the watchdog's period */
/*
 * A request with a payload to copy first waits for a slot in its thread,
 * this long at most: a device that keeps up frees one sooner than a 1 MiB
 * copy pays for itself; one that does not has its thread back after it.
 * A device at full speed behind a bandwidth limit may take 50-100 ms to
 * free one: at 50, two devices paced at 500 MiB/s parked up to 49 MiB of
 * copies, and the daemon's peak RSS grew by as much.
 */
#define DEVQ_PARK_COPY_MS	100

/* A block kept for reuse, while on fs->park_spare. */
struct devq_spare {
	struct devq_spare *next;
};

#define SPARE_SIZE	(sizeof(struct devq_req) + DEVQ_SPARE_PAYLOAD)

/* Room for a parked copy of a request with @bytes of payload, or NULL. */
static struct devq_req *park_get(struct kvfs *fs, size_t bytes)
{
	struct devq_spare *sp = NULL;

	if (!bytes)	/* no payload, or a lent one */
		return malloc(sizeof(struct devq_req));
	if (bytes > DEVQ_SPARE_PAYLOAD)
		return malloc(sizeof(struct devq_req) + bytes);
	pthread_mutex_lock(&fs->park_mu);
	fs->park_used_ms = kv_now_ms();
	sp = fs->park_spare;
	if (sp) {
		fs->park_spare = sp->next;
		fs->park_spares--;
	}
	pthread_mutex_unlock(&fs->park_mu);
	return sp ? (struct devq_req *)sp : malloc(SPARE_SIZE);
}

/* Give back @c, which park_get() gave for @bytes of payload. */
static void park_put(struct kvfs *fs, struct devq_req *c, size_t bytes)
{
	struct devq_spare *sp = (struct devq_spare *)c;

	if (bytes && bytes <= DEVQ_SPARE_PAYLOAD) {
		pthread_mutex_lock(&fs->park_mu);
		if (fs->park_spares < DEVQ_SPARES) {
			sp->next = fs->park_spare;
			fs->park_spare = sp;
			fs->park_spares++;
			sp = NULL;
		}
		pthread_mutex_unlock(&fs->park_mu);
	}
	free(sp);
}

/* Free the kept blocks: all (@all), or once none was taken for a while. */
static void park_trim(struct kvfs *fs, bool all)
{
	struct devq_spare *list = NULL;

	pthread_mutex_lock(&fs->park_mu);
	if (all || kv_now_ms() - fs->park_used_ms >= DEVQ_SPARE_IDLE_MS) {
		list = fs->park_spare;
		fs->park_spare = NULL;
		fs->park_spares = 0;
	}
	pthread_mutex_unlock(&fs->park_mu);
	while (list) {
		struct devq_spare *next = list->next;

		free(list);
		list = next;
	}
}

int devq_new(struct kvfs *fs, unsigned slots, unsigned threads,
	     unsigned queue_max)
{
	int rc;

	rc = -pthread_mutex_init(&fs->park_mu, NULL);
	if (rc)
		return rc;
	if (!slots)
		slots = threads / 2 ? threads / 2 : 1;
	if (slots > SLOTS_MAX)
		slots = SLOTS_MAX;
	rc = stats_new(&(struct stats_params){ .ndev = fs->ndev },
		       &fs->stats);
	if (rc) {
		pthread_mutex_destroy(&fs->park_mu);
		return rc;
	}
	rc = slots_new(&(struct slots_params){
			       .count = fs->ndev,
			       .slots = slots,
			       .queue_max = queue_max,
			       .queue_bytes = DEVQ_QUEUE_BYTES,
			       .timeout_ms = health_timeout_ms(fs->health),
		       }, &fs->slots);
	if (rc) {
		stats_free(fs->stats);
		fs->stats = NULL;
		pthread_mutex_destroy(&fs->park_mu);
	}
	return rc;
}

void devq_free(struct kvfs *fs)
{
	slots_free(fs->slots);
	fs->slots = NULL;
	stats_free(fs->stats);
	fs->stats = NULL;
	park_trim(fs, true);
	pthread_mutex_destroy(&fs->park_mu);
}

/* Run @r with a slot held: timed and counted if it has a @stat. */
static void devq_run(struct kvfs *fs, struct devq_req *r)
{
	uint64_t t0;

	if (!r->stat)
		return r->run(fs, r);
	t0 = stats_now(fs->stats);
	r->run(fs, r);
	stats_op_done(fs->stats, r->dev, r->stat, t0, r->result);
}

/* Answer -@err: @r's device failed. */
static void devq_fail(struct kvfs *fs, struct devq_req *r, int err)
{
	stats_op_done(fs->stats, r->dev, r->stat, 0, err);
	if (r->fail)
		r->fail(fs, r, err);
	else
		fuse_reply_err(r->req, -err);
}

/* A parked request's turn (@err 0), or its device failed (-EIO). */
static void devq_job(struct slots_job *job, int err)
{
	struct devq_req *r = (struct devq_req *)job;

	struct kvfs *fs = kv_fs(r->req);
	size_t bytes = job->bytes;
	void *lent = r->lent;

	if (err)
		devq_fail(fs, r, err);
	else
		devq_run(fs, r);
	park_put(fs, r, lent ? 0 : bytes);
	if (lent)
		transport_give_back(lent);
}

/*
 * No slot of @r's device is free: park a copy of @r, or wait here. Returns
 * -EINPROGRESS (parked), a slot to run @r with, or -EIO.
 */
static int devq_park(struct kvfs *fs, struct devq_req *r)
{
	size_t bytes = r->buf ? r->size : 0, cap;
	struct devq_req *c;
	void *lent;
	int slot;

	/* a ring entry's reply goes out through the thread that took it */
	if (transport_reply_space(&cap))
		return slots_wait(fs->slots, r->dev, r->op);
	if (bytes && slots_oldest_ms(fs->slots, r->dev) < DEVQ_PARK_COPY_MS) {
		slot = slots_wait_ms(fs->slots, r->dev, r->op,
				     DEVQ_PARK_COPY_MS);
		if (slot != -ETIMEDOUT)
			return slot;
	}
	/* the payload where the kernel put it, if it may stay there */
	lent = bytes ? transport_lend(r->buf) : NULL;
	if (lent && !transport_lend_take(lent)) {
		transport_lend_done(lent, false);
		lent = NULL;
	}
	c = park_get(fs, lent ? 0 : bytes);
	if (!c) {
		if (lent)
			transport_lend_done(lent, false);
		return slots_wait(fs->slots, r->dev, r->op);
	}
	*c = *r;
	c->job = (struct slots_job){ .run = devq_job, .op = r->op,
				     .bytes = bytes };
	c->parked = true;
	c->lent = lent;
	if (bytes && !lent) {
		memcpy(c + 1, r->buf, bytes);
		c->buf = (const char *)(c + 1);
	}
	slot = slots_park(fs->slots, r->dev, &c->job);
	if (slot == -EINPROGRESS) {
		if (lent)
			transport_lend_done(lent, true);
		return slot;
	}
	park_put(fs, c, lent ? 0 : bytes);
	if (lent)
		transport_lend_done(lent, false);
	if (slot == -ENOBUFS)
		slot = slots_wait(fs->slots, r->dev, r->op);
	return slot;
}

void devq_submit(struct kvfs *fs, struct devq_req *r)
{
	int slot;

	r->in = inode_of(fs, r->ino);
	if (r->in->dev < 0 || !fs->slots)
		return r->run(fs, r);
	r->dev = (unsigned)r->in->dev;
	/* failed: known not to answer, or to answer with errors */
	if (health_failed(fs->health, r->dev))
		return devq_fail(fs, r, -EIO);
	slot = slots_try(fs->slots, r->dev, r->op);
	if (slot < 0)
		slot = devq_park(fs, r);
	if (slot == -EINPROGRESS)
		return;
	if (slot < 0)
		return devq_fail(fs, r, slot);
	devq_run(fs, r);
	slots_put(fs->slots, r->dev, slot);
}

/* One look at every device: time-outs, slowness, failure. */
static void devq_tick(struct kvfs *fs)
{
	for (unsigned d = 0; d < fs->ndev; d++) {
		const char *op = NULL;
		unsigned ev = slots_tick(fs->slots, d, &op);
		bool failed;

		if (ev & SLOTS_TIMEOUT)
			health_note_timeout(fs->health, d, op);
		failed = health_failed(fs->health, d);
		/* a failed device is not slow too: judged afresh once back */
		if ((ev & SLOTS_SLOW) && !failed)
			health_note_slow(fs->health, d, true);
		if (ev & SLOTS_FAST)
			health_note_slow(fs->health, d, false);
		if (failed && !slots_failed(fs->slots, d)) {
			unsigned n = slots_fail(fs->slots, d);

			if (n)
				log_warn("device %u: %u parked request%s "
					 "answered EIO", d, n,
					 n == 1 ? "" : "s");
		} else if (!failed && slots_failed(fs->slots, d)) {
			slots_unfail(fs->slots, d);
			health_note_slow(fs->health, d, false);
		}
	}
}

static void *devq_main(void *arg)
{
	struct kvfs *fs = arg;
	struct timespec ts = { 0, DEVQ_TICK_MS * 1000000L };

	while (!atomic_load(&fs->devq_stop)) {
		devq_tick(fs);
		park_trim(fs, false);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int devq_start(struct kvfs *fs)
{
	int rc;

	if (!fs->slots)
		return 0;
	atomic_store(&fs->devq_stop, false);
	rc = -pthread_create(&fs->devq_thread, NULL, devq_main, fs);
	fs->devq_running = !rc;
	return rc;
}

void devq_stop(struct kvfs *fs)
{
	if (fs->devq_running) {
		atomic_store(&fs->devq_stop, true);
		pthread_join(fs->devq_thread, NULL);
		fs->devq_running = false;
	}
	/* the session still takes replies: nothing is left parked */
	for (unsigned d = 0; fs->slots && d < fs->ndev; d++)
		slots_fail(fs->slots, d);
}

int devq_describe(struct kvfs *fs, char *buf, size_t size)
{
	struct slots_stat st;
	int n = 0;

	for (unsigned d = 0; d < fs->ndev && n < (int)size; d++) {
		slots_stat(fs->slots, d, &st);
		n += snprintf(buf + n, size - (size_t)n, "%s%u/%u/%u",
			      d ? " " : "", st.busy, st.parked, st.waiting);
	}
	return n;
}
