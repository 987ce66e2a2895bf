/*
 * health.c - each device's state, from flags the request paths set; see
 * health.h.
 *
 * A device's flags are one atomic word: the queries are single loads. A
 * change takes the device's mutex, so that the line telling it is logged
 * once and in the order the changes happened.
 */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev.h"
#include "deverr.h"
#include "log.h"

enum {
	F_FAILED = 1u << 0,
	F_RO = 1u << 1,
	F_FULL = 1u << 2,
	F_SLOW = 1u << 3,
	F_DRAIN = 1u << 4,
};

struct health_dev {
	_Atomic unsigned flags;
	pthread_mutex_t mu;	/* serialises changes and their lines */
	char *root;
};

struct health {
	unsigned count;
	unsigned timeout_ms;
	uint64_t (*now_ms)(void);
	struct health_dev dev[];
};

static enum health_state state_of(unsigned flags)
{
	if (flags & F_FAILED)
		return HEALTH_FAILED;
	if (flags & F_RO)
		return HEALTH_RO;
	if (flags & F_FULL)
		return HEALTH_FULL;
	if (flags & F_SLOW)
		return HEALTH_SLOW;
	return HEALTH_OK;
}

const char *health_state_name(enum health_state s)
{
	static const char *const names[] = {
		[HEALTH_OK] = "ok", [HEALTH_SLOW] = "slow",
		[HEALTH_FULL] = "full", [HEALTH_RO] = "read-only",
		[HEALTH_FAILED] = "failed",
	};

	return s <= HEALTH_FAILED ? names[s] : "?";
}

int health_new(const struct health_params *p, struct health **out)
{
	struct health *h;

	if (!p->count || p->count > DEV_MAX)
		return -EINVAL;
	h = calloc(1, sizeof(*h) + p->count * sizeof(h->dev[0]));
	if (!h)
		return -ENOMEM;
	h->count = p->count;
	h->timeout_ms = p->timeout_ms ? p->timeout_ms : HEALTH_TIMEOUT_MS;
	h->now_ms = p->now_ms;
	for (unsigned d = 0; d < p->count; d++) {
		const char *root = p->roots ? p->roots[d] : NULL;

		pthread_mutex_init(&h->dev[d].mu, NULL);
		if (root && !(h->dev[d].root = strdup(root))) {
			h->count = d + 1;
			health_free(h);
			return -ENOMEM;
		}
	}
	*out = h;
	return 0;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	for (unsigned d = 0; d < h->count; d++) {
		pthread_mutex_destroy(&h->dev[d].mu);
		free(h->dev[d].root);
	}
	free(h);
}

unsigned health_timeout_ms(const struct health *h)
{
	return h->timeout_ms;
}

static unsigned flags_of(const struct health *h, unsigned dev)
{
	return atomic_load_explicit(&h->dev[dev].flags, memory_order_acquire);
}

enum health_state health_state(const struct health *h, unsigned dev)
{
	return state_of(flags_of(h, dev));
}

bool health_failed(const struct health *h, unsigned dev)
{
	return flags_of(h, dev) & F_FAILED;
}

bool health_takes_new(const struct health *h, unsigned dev)
{
	return !(flags_of(h, dev) & (F_FAILED | F_RO | F_FULL | F_DRAIN));
}

bool health_drained(const struct health *h, unsigned dev)
{
	return flags_of(h, dev) & F_DRAIN;
}

/*
 * Set the flags @set and clear @clear on device @dev; if its state or
 * drain changed, log one line with @why. Returns whether anything did.
 */
static bool change(struct health *h, unsigned dev, unsigned set,
		   unsigned clear, const char *why)
{
	struct health_dev *hd = &h->dev[dev];
	unsigned was = flags_of(h, dev), now = (was | set) & ~clear;
	const char *root = hd->root ? hd->root : "";

	if (now == was)
		return false;
	pthread_mutex_lock(&hd->mu);
	was = flags_of(h, dev);
	now = (was | set) & ~clear;
	atomic_store_explicit(&hd->flags, now, memory_order_release);
	if ((was ^ now) & F_DRAIN)
		log_warn("device %u (%s): %s", dev, root,
			 now & F_DRAIN ? "drained: takes no new files"
				       : "back in placement");
	else if (state_of(was) != state_of(now))
		log_warn("device %u (%s): %s -> %s%s%s", dev, root,
			 health_state_name(state_of(was)),
			 health_state_name(state_of(now)), why ? ": " : "",
			 why ? why : "");
	pthread_mutex_unlock(&hd->mu);
	return was != now;
}

bool health_set_drain(struct health *h, unsigned dev, bool on)
{
	return change(h, dev, on ? F_DRAIN : 0, on ? 0 : F_DRAIN, NULL);
}

void health_note_timeout(struct health *h, unsigned dev, const char *op)
{
	char why[96];

	if (flags_of(h, dev) & F_FAILED)
		return;
	snprintf(why, sizeof(why), "no answer to %s within %u ms", op,
		 h->timeout_ms);
	change(h, dev, F_FAILED, 0, why);
}

void health_note_error(struct health *h, unsigned dev, int err)
{
	char why[96];

	snprintf(why, sizeof(why), "%s", strerror(-err));
	change(h, dev, err == -EROFS ? F_RO : F_FAILED, 0, why);
}

void health_note_slow(struct health *h, unsigned dev, bool slow)
{
	change(h, dev, slow ? F_SLOW : 0, slow ? 0 : F_SLOW,
	       slow ? "requests past the slow bound" : "requests fast again");
}

void health_note_full(struct health *h, unsigned dev, bool full)
{
	change(h, dev, full ? F_FULL : 0, full ? 0 : F_FULL,
	       full ? "below minfree" : "above minfree again");
}

void health_note_ok(struct health *h, unsigned dev)
{
	change(h, dev, 0, F_FAILED | F_RO, "answers again");
}

void health_note_probe(struct health *h, unsigned dev, int rc)
{
	char why[96];

	if (rc == -EROFS || rc == -EUCLEAN) {
		/* its filesystem refuses to write, but the device answers */
		change(h, dev, F_RO, F_FAILED, rc == -EROFS ? "probe: read-only" :
		       "probe: filesystem needs checking (EUCLEAN)");
	} else if (rc < 0 && deverr_is_device(rc)) {
		snprintf(why, sizeof(why), "probe: %s", strerror(-rc));
		change(h, dev, F_FAILED, 0, why);
	} else {
		change(h, dev, 0, F_FAILED | F_RO, "answers again");
	}
}

int health_describe(const struct health *h, unsigned dev, char *buf,
		    size_t len)
{
	unsigned f = flags_of(h, dev);

	return snprintf(buf, len, "%s%s", health_state_name(state_of(f)),
			f & F_DRAIN ? ",drain" : "");
}
