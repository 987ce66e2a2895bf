/*
 * shadow.c - names made while a device was failed; see shadow.h.
 *
 * A list of entries, each a path and the devices still to sweep it from;
 * an entry goes once no device is left. Noting happens only while some
 * device is failed, sweeping once per device that comes back: a list and
 * one mutex are enough.
 */
#include "shadow.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "beneath.h"
#include "dev.h"
#include "log.h"

struct entry {
	struct entry *next;
	uint64_t devs;		/* still to sweep from */
	char path[];
};

struct shadow {
	pthread_mutex_t mu;
	struct entry *head;
	unsigned count, ndev;
	uint64_t told;		/* devices whose failed sweep was logged */
	unsigned lost[];	/* per device: names past SHADOW_MAX */
};

int shadow_new(unsigned ndev, struct shadow **out)
{
	struct shadow *s;

	if (!ndev || ndev > DEV_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s) + ndev * sizeof(s->lost[0]));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->ndev = ndev;
	*out = s;
	return 0;
}

void shadow_free(struct shadow *s)
{
	if (!s)
		return;
	while (s->head) {
		struct entry *e = s->head;

		s->head = e->next;
		free(e);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Count @devs' names that could not be kept; under mu. */
static void lose_locked(struct shadow *s, uint64_t devs)
{
	for (unsigned d = 0; d < s->ndev; d++)
		if (devs & ((uint64_t)1 << d))
			s->lost[d]++;
}

void shadow_note(struct shadow *s, const char *path, uint64_t devs)
{
	size_t len = strlen(path) + 1;
	struct entry *e;

	devs &= s->ndev < 64 ? ((uint64_t)1 << s->ndev) - 1 : ~(uint64_t)0;
	if (!devs)
		return;
	e = malloc(sizeof(*e) + len);
	pthread_mutex_lock(&s->mu);
	if (!e || s->count >= SHADOW_MAX) {
		lose_locked(s, devs);
		pthread_mutex_unlock(&s->mu);
		free(e);
		return;
	}
	e->devs = devs;
	memcpy(e->path, path, len);
	e->next = s->head;
	s->head = e;
	s->count++;
	pthread_mutex_unlock(&s->mu);
}

/*
 * Take device @dev's entries off the list, in a list of their own (their
 * bit cleared; an entry no other device needs is moved, the others are
 * copied). Under mu.
 */
static struct entry *take_locked(struct shadow *s, unsigned dev)
{
	uint64_t bit = (uint64_t)1 << dev;
	struct entry **pp = &s->head, *mine = NULL;

	while (*pp) {
		struct entry *e = *pp;

		if (!(e->devs & bit)) {
			pp = &e->next;
			continue;
		}
		e->devs &= ~bit;
		if (!e->devs) {
			*pp = e->next;
			s->count--;
		} else {
			size_t len = strlen(e->path) + 1;
			struct entry *c = malloc(sizeof(*c) + len);

			if (!c) {
				e->devs |= bit;	/* swept next time */
				pp = &e->next;
				continue;
			}
			memcpy(c->path, e->path, len);
			e = c;
			pp = &(*pp)->next;
		}
		e->devs = bit;
		e->next = mine;
		mine = e;
	}
	return mine;
}

int shadow_sweep(struct shadow *s, unsigned dev, int root_fd)
{
	struct entry *mine, *back = NULL;
	unsigned removed = 0, lost;
	int first = 0;

	if (dev >= s->ndev)
		return 0;
	pthread_mutex_lock(&s->mu);
	mine = take_locked(s, dev);
	lost = s->lost[dev];
	s->lost[dev] = 0;
	pthread_mutex_unlock(&s->mu);
	while (mine) {
		struct entry *e = mine;
		int rc = first ? first : beneath_unlink(root_fd, e->path, 0);

		mine = e->next;
		if (!rc) {
			removed++;
		} else if (rc != -ENOENT && rc != -EISDIR && rc != -ENOTDIR) {
			first = first ? first : rc;
			e->next = back;	/* noted again below */
			back = e;
			continue;
		}
		free(e);
	}
	if (removed)
		log_info("device %u: %u file(s) made elsewhere while it was "
			 "failed: its older copies are removed", dev, removed);
	if (lost)
		log_warn("device %u: %u more name(s) were made elsewhere while "
			 "it was failed, past %u kept: its older files of those "
			 "names, if any, are served again", dev, lost,
			 SHADOW_MAX);
	pthread_mutex_lock(&s->mu);
	if (!back) {
		s->told &= ~((uint64_t)1 << dev);
	} else if (!(s->told & ((uint64_t)1 << dev))) {
		s->told |= (uint64_t)1 << dev;
		log_warn("device %u: files made elsewhere while it was failed "
			 "cannot be removed from it (%s): it stays failed "
			 "until they are", dev, strerror(-first));
	}
	pthread_mutex_unlock(&s->mu);
	if (back) {
		pthread_mutex_lock(&s->mu);
		while (back) {
			struct entry *e = back;

			back = e->next;
			e->next = s->head;
			s->head = e;
			s->count++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return first;
}

unsigned shadow_pending(struct shadow *s, unsigned dev)
{
	unsigned n = 0;

	pthread_mutex_lock(&s->mu);
	for (struct entry *e = s->head; e; e = e->next)
		n += !!(e->devs & ((uint64_t)1 << dev));
	pthread_mutex_unlock(&s->mu);
	return n;
}
