/*
 * deverr.c - device errors for the log (deverr.h): per device, the first
 * error of each kind and operation logged with its file, repeats summed at
 * most every DEVERR_SUMMARY_MS, failing told once per run of errors.
 * Invariant: the lines a device writes are bounded by time (kinds and
 * DEVERR_OPS_MAX operations per quiet period, one
 * summary per window, one failing line), never by how many errors come.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "dev.h"
#include "deverr.h"
#include "log.h"

#define LINE_MAX_LEN 600

/* One device's errors; every field under mu. */
struct devstate {
	pthread_mutex_t mu;
	bool active;		/* errors came since the last quiet pause */
	bool failing;		/* told */
	uint64_t first_ms;	/* the run's first error */
	uint64_t last_ms;	/* its latest */
	uint64_t window_ms;	/* since when pending[] sums */
	unsigned run;		/* device errors in the run */
	bool seen[DEVERR_KINDS];		/* for errors without op */
	struct {
		enum deverr_kind kind;
		const char *op;
	} seen_op[DEVERR_OPS_MAX];	/* firsts told with an op */
	unsigned nseen_op;
	unsigned pending[DEVERR_KINDS];
	int pending_err[DEVERR_KINDS];	/* the latest, negative */
	char *root;		/* the device's directory, or NULL */
	size_t root_len;
};

struct deverr {
	unsigned count;
	uint64_t (*now_ms)(void);
	void (*on_device)(void *arg, unsigned dev, int err);
	void *on_device_arg;
	struct devstate d[];
};

/* Lines made under a device's mutex, logged after it is let go. */
struct lines {
	unsigned n;
	char s[3][LINE_MAX_LEN];
};

static const char *const kind_name[DEVERR_KINDS] = {
	[DEVERR_READ] = "read",
	[DEVERR_WRITE] = "write",
	[DEVERR_WRITE_BEHIND] = "write-behind",
	[DEVERR_READ_AHEAD] = "read-ahead",
	[DEVERR_FSYNC] = "fsync",
	[DEVERR_OPEN] = "open",
	[DEVERR_META] = "metadata",
};

static uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int deverr_new(const struct deverr_params *p, struct deverr **out)
{
	struct deverr *de;
	unsigned i;

	if (!p->count || p->count > DEV_MAX)
		return -EINVAL;
	de = calloc(1, sizeof(*de) + p->count * sizeof(de->d[0]));
	if (!de)
		return -ENOMEM;
	de->count = p->count;
	de->now_ms = p->now_ms ? p->now_ms : clock_ms;
	de->on_device = p->on_device;
	de->on_device_arg = p->on_device_arg;
	for (i = 0; i < p->count; i++) {
		struct devstate *s = &de->d[i];

		pthread_mutex_init(&s->mu, NULL);
		if (p->roots && p->roots[i]) {
			s->root = strdup(p->roots[i]);
			if (!s->root) {
				de->count = i + 1;
				deverr_free(de);
				return -ENOMEM;
			}
			s->root_len = strlen(s->root);
		}
	}
	*out = de;
	return 0;
}

bool deverr_is_device(int err)
{
	switch (-err) {
	case EIO: case EUCLEAN: case EBADMSG: case ENODEV: case ENXIO:
	case ENOMEDIUM: case ETIMEDOUT: case ENOLINK: case EREMOTEIO:
	case EBADE: case EILSEQ: case ENOTCONN: case EROFS:
		return true;
	default:
		return false;
	}
}

static const char *err_name(int err)
{
	const char *s = strerrorname_np(-err);

	return s ? s : "?";
}

/* Sum pending[] into one line, and start a new window; mu held. */
static void summarise(struct deverr *de, unsigned dev, uint64_t now,
		      struct lines *out)
{
	struct devstate *s = &de->d[dev];
	char *line = out->s[out->n];
	unsigned total = 0, k;
	uint64_t secs;
	size_t len;

	for (k = 0; k < DEVERR_KINDS; k++)
		total += s->pending[k];
	if (!total)
		return;
	/* whole seconds, rounded up: a window shorter than one says 1 s */
	secs = (now - s->window_ms + 999) / 1000;
	len = (size_t)snprintf(line, LINE_MAX_LEN,
			       "device %u: %u more error%s in the last %llu s:",
			       dev, total, total == 1 ? "" : "s",
			       (unsigned long long)(secs ? secs : 1));
	for (k = 0; k < DEVERR_KINDS; k++) {
		if (!s->pending[k])
			continue;
		if (len < LINE_MAX_LEN)
			len += (size_t)snprintf(line + len, LINE_MAX_LEN - len,
						"%s %u %s (%s)",
						line[len - 1] == ':' ? "" : ",",
						s->pending[k], kind_name[k],
						err_name(s->pending_err[k]));
		s->pending[k] = 0;
	}
	out->n++;
	s->window_ms = now;
}

/* The name of @at's file for a line, below the device root if it is. */
static const char *file_name(const struct devstate *s,
			     const struct deverr_at *at, char *buf, size_t n)
{
	char proc[64];
	ssize_t len;

	if (at->path)
		return *at->path ? at->path : ".";
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", at->fd);
	len = readlink(proc, buf, n - 1);
	if (len < 0) {
		snprintf(buf, n, "(descriptor %d)", at->fd);
		return buf;
	}
	buf[len] = '\0';
	if (s->root && !strncmp(buf, s->root, s->root_len) &&
	    buf[s->root_len] == '/')
		return buf + s->root_len + 1;
	return buf;
}

/* A pause long enough ends the run: start afresh. mu held. */
static void maybe_restart(struct deverr *de, unsigned dev, uint64_t now,
			  struct lines *out)
{
	struct devstate *s = &de->d[dev];

	if (s->active && now - s->last_ms < DEVERR_QUIET_MS)
		return;
	if (s->active)
		summarise(de, dev, now, out);
	memset(s->seen, 0, sizeof(s->seen));
	s->nseen_op = 0;
	s->active = true;
	s->failing = false;
	s->run = 0;
	s->first_ms = s->window_ms = now;
}

/*
 * Whether @at is the first of its kind (without op) or of its kind and op
 * in the run, and mark it seen. Past DEVERR_OPS_MAX names, none is a
 * first: the lines stay bounded whatever names come. mu held.
 */
static bool first_seen(struct devstate *s, const struct deverr_at *at)
{
	if (!at->op) {
		bool first = !s->seen[at->kind];

		s->seen[at->kind] = true;
		return first;
	}
	for (unsigned i = 0; i < s->nseen_op; i++)
		if (s->seen_op[i].kind == at->kind &&
		    !strcmp(s->seen_op[i].op, at->op))
			return false;
	if (s->nseen_op == DEVERR_OPS_MAX)
		return false;
	s->seen_op[s->nseen_op].kind = at->kind;
	s->seen_op[s->nseen_op++].op = at->op;
	return true;
}

static bool now_failing(struct devstate *s, uint64_t now)
{
	if (s->failing)
		return false;
	return s->run >= DEVERR_FAIL_COUNT ||
	       (s->run >= 3 && now - s->first_ms >= DEVERR_FAIL_SPAN_MS);
}

void deverr_note(struct deverr *de, const struct deverr_at *at, int err)
{
	struct devstate *s;
	struct lines out = { 0 };
	uint64_t now;
	bool first;

	if (!de || at->dev >= de->count || at->kind >= DEVERR_KINDS)
		return;
	s = &de->d[at->dev];
	pthread_mutex_lock(&s->mu);
	/*
	 * Under the lock: a time read before it could be older than the
	 * last_ms another thread stored meanwhile, and now - last_ms would
	 * wrap into a "quiet pause" that starts the device afresh.
	 */
	now = de->now_ms();
	maybe_restart(de, at->dev, now, &out);
	s->last_ms = now;
	first = first_seen(s, at);
	if (!first) {
		s->pending[at->kind]++;
		s->pending_err[at->kind] = err;
	}
	if (deverr_is_device(err)) {
		s->run++;
		if (now_failing(s, now)) {
			s->failing = true;
			snprintf(out.s[out.n++], LINE_MAX_LEN,
				 "device %u is failing: %u errors in %llu s, "
				 "the latest %s (%s); check the device (dmesg)",
				 at->dev, s->run,
				 (unsigned long long)((now - s->first_ms +
						       999) / 1000),
				 at->op ? at->op : kind_name[at->kind],
				 err_name(err));
		}
	}
	if (!first && now - s->window_ms >= DEVERR_SUMMARY_MS)
		summarise(de, at->dev, now, &out);
	pthread_mutex_unlock(&s->mu);

	/* the name only for a first: nothing to look up for repeats */
	if (first) {
		char name[4096];

		log_err("device %u: %s of '%s' failed: %s (repeats are "
			"summed every %u s)", at->dev,
			at->op ? at->op : kind_name[at->kind],
			file_name(s, at, name, sizeof(name)), strerror(-err),
			DEVERR_SUMMARY_MS / 1000);
	}
	for (unsigned i = 0; i < out.n; i++)
		log_err("%s", out.s[i]);
	if (de->on_device && deverr_is_device(err))
		de->on_device(de->on_device_arg, at->dev, err);
}

void deverr_tick(struct deverr *de)
{
	if (!de)
		return;
	for (unsigned i = 0; i < de->count; i++) {
		struct devstate *s = &de->d[i];
		struct lines out = { 0 };
		uint64_t now;

		pthread_mutex_lock(&s->mu);
		now = de->now_ms();	/* under the lock, as in deverr_note() */
		if (s->active && now - s->window_ms >= DEVERR_SUMMARY_MS)
			summarise(de, i, now, &out);
		pthread_mutex_unlock(&s->mu);
		for (unsigned j = 0; j < out.n; j++)
			log_err("%s", out.s[j]);
	}
}

void deverr_free(struct deverr *de)
{
	if (!de)
		return;
	for (unsigned i = 0; i < de->count; i++) {
		struct devstate *s = &de->d[i];
		struct lines out = { 0 };

		pthread_mutex_lock(&s->mu);
		summarise(de, i, de->now_ms(), &out);
		pthread_mutex_unlock(&s->mu);
		for (unsigned j = 0; j < out.n; j++)
			log_err("%s", out.s[j]);
		pthread_mutex_destroy(&s->mu);
		free(s->root);
	}
	free(de);
}
