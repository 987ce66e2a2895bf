/*
 * dirsnap.c - windows of a merged directory listing, their cookies, and a
 * directory's set of windows (see dirsnap.h). Invariant: a finished
 * window's entries are sorted by cookie, each cookie distinct, each above
 * the window's floor minus DIRSNAP_COOKIE_SLACK and at most its ceil.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "dirsnap.h"

/* See dirsnap.h: the cookies before a window's floor it also holds. */
#define DIRSNAP_COOKIE_SLACK	64

/*
 * A window of one merged directory, shared by every reader in it: all its
 * entries with cookies after @floor, up to the @window smallest.
 */
struct dirsnap {
	struct dirsnap *next;	/* the directory's other windows */
	unsigned refs;
	uint64_t changes;	/* dirsnap_listing.changes before it was read */
	uint64_t taken_ms;	/* the clock before it was read */
	size_t window;		/* most entries it keeps */
	dirsnap_cookie_fn *cookie;	/* name_cookie() but in tests */
	uint64_t floor;		/* taken for readers after this cookie */
	uint64_t ceil;		/* holds no cookie above this one */
	bool last;		/* ... and there is none above it */
	bool tail;		/* empty, after a window a reader got past */
	struct dirsnap_ent *ents;	/* sorted by cookie once built */
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint32_t *index;	/* while building: open addressing, 0 = empty */
	size_t index_cap;
};

/* What a directory knows about its listings. */
struct dirsnap_listing {
	struct dirsnap *snaps;	/* its windows, most recently used first */
	uint64_t changes;	/* names changed through the mount */
	uint64_t start_changes;	/* ... when the latest listing began */
	uint64_t start_ms;	/* the clock then */
};

static const char *dent_name(const struct dirsnap *h,
			     const struct dirsnap_ent *e)
{
	return h->names + e->name;
}

static void dirsnap_free(struct dirsnap *h)
{
	free(h->ents);
	free(h->names);
	free(h->index);
	free(h);
}

/* The cookie of @name before equal ones are made distinct. */
static uint64_t name_cookie(const char *name)
{
	return (XXH3_64bits(name, strlen(name)) >> 2) + DIRSNAP_COOKIE_FIRST;
}

static int cookie_cmp(const void *a, const void *b)
{
	const struct dirsnap_ent *x = a, *y = b;

	return x->cookie < y->cookie ? -1 : x->cookie > y->cookie;
}

static int index_build(struct dirsnap *h, size_t cap)
{
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++) {
		size_t slot = h->ents[i].cookie & (cap - 1);

		while (idx[slot])
			slot = (slot + 1) & (cap - 1);
		idx[slot] = (uint32_t)i + 1;
	}
	free(h->index);
	h->index = idx;
	h->index_cap = cap;
	return 0;
}

/* The entry named @name, or the empty slot where it belongs. */
static uint32_t *index_slot(struct dirsnap *h, const char *name,
			    uint64_t cookie)
{
	size_t slot = cookie & (h->index_cap - 1);

	while (h->index[slot]) {
		const struct dirsnap_ent *e = &h->ents[h->index[slot] - 1];

		if (e->cookie == cookie && !strcmp(dent_name(h, e), name))
			break;
		slot = (slot + 1) & (h->index_cap - 1);
	}
	return &h->index[slot];
}

static int snap_append(struct dirsnap *h, const char *name, uint64_t cookie,
		       uint8_t type, unsigned dev, ino_t ino, uint32_t *slot)
{
	size_t len = strlen(name) + 1;
	struct dirsnap_ent *e;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct dirsnap_ent *ents;

		ents = realloc(h->ents, cap * sizeof(*ents));
		if (!ents)
			return -ENOMEM;
		h->ents = ents;
		h->cap = cap;
	}
	if (h->names_len + len > h->names_cap) {
		size_t cap = h->names_cap ? h->names_cap * 2 : 4096;
		char *names;

		while (cap < h->names_len + len)
			cap *= 2;
		names = realloc(h->names, cap);
		if (!names)
			return -ENOMEM;
		h->names = names;
		h->names_cap = cap;
	}
	e = &h->ents[h->n];
	e->cookie = cookie;
	e->name = (uint32_t)h->names_len;
	memcpy(h->names + h->names_len, name, len);
	h->names_len += len;
	e->type = type;
	e->dev = (int8_t)dev;
	e->ino = ino;
	e->dir_dev = type == DT_DIR ? (int8_t)dev : -1;
	e->dir_ino = ino;
	*slot = (uint32_t)++h->n;
	return 0;
}

/*
 * Keep the @h->window smallest cookies (all of those equal to the last
 * one kept, too) and leave every larger one out from now on.
 */
static int snap_prune(struct dirsnap *h)
{
	size_t keep = h->window, len = 0;
	char *names;

	qsort(h->ents, h->n, sizeof(*h->ents), cookie_cmp);
	while (keep < h->n && h->ents[keep].cookie == h->ents[keep - 1].cookie)
		keep++;
	if (keep == h->n)
		return 0;
	h->ceil = h->ents[keep - 1].cookie;
	h->n = keep;
	for (size_t i = 0; i < keep; i++)
		len += strlen(dent_name(h, &h->ents[i])) + 1;
	names = malloc(len);
	if (!names)
		return -ENOMEM;
	len = 0;
	for (size_t i = 0; i < keep; i++) {
		const char *name = dent_name(h, &h->ents[i]);
		size_t n = strlen(name) + 1;

		memcpy(names + len, name, n);
		h->ents[i].name = (uint32_t)len;
		len += n;
	}
	free(h->names);
	h->names = names;
	h->names_len = h->names_cap = len;
	return h->index ? index_build(h, h->index_cap) : 0;
}

/* Cookies up to this one are not in @h. */
static uint64_t window_lo(const struct dirsnap *h)
{
	return h->floor < DIRSNAP_COOKIE_SLACK ? 0 :
	       h->floor - DIRSNAP_COOKIE_SLACK;
}

int dirsnap_new(uint64_t floor, size_t size, uint64_t changes, uint64_t now_ms,
		struct dirsnap **out)
{
	struct dirsnap *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->changes = changes;
	h->taken_ms = now_ms;
	h->window = size;
	h->cookie = name_cookie;
	h->floor = floor;
	h->ceil = UINT64_MAX;
	h->refs = 1;
	*out = h;
	return 0;
}

void dirsnap_set_cookie_fn(struct dirsnap *h, dirsnap_cookie_fn *fn)
{
	h->cookie = fn;
}

int dirsnap_add(struct dirsnap *h, const char *name, uint8_t type, unsigned dev,
		ino_t ino, dirsnap_rank_fn *rank, void *ctx)
{
	uint64_t cookie = h->cookie(name);
	uint32_t *slot;
	struct dirsnap_ent *e;

	if (cookie <= window_lo(h) || cookie > h->ceil)
		return 0;
	if ((h->n + 1) * 2 > h->index_cap &&
	    index_build(h, h->index_cap ? h->index_cap * 2 : 256))
		return -ENOMEM;
	slot = index_slot(h, name, cookie);
	if (!*slot) {
		int rc = snap_append(h, name, cookie, type, dev, ino, slot);

		return rc || h->n < 2 * h->window ? rc : snap_prune(h);
	}
	e = &h->ents[*slot - 1];
	if (type == DT_DIR && e->dir_dev < 0) {
		e->dir_dev = (int8_t)dev;
		e->dir_ino = ino;
	}
	if (type == DT_DIR && e->type == DT_DIR)
		return 0;
	if (rank(ctx, name, dev) < rank(ctx, name, (unsigned)e->dev)) {
		e->dev = (int8_t)dev;
		e->type = type;
		e->ino = ino;
	}
	return 0;
}

/* Sort a window by cookie and make equal cookies distinct. */
static void snap_sort(struct dirsnap *h)
{
	if (h->n > 1)
		qsort(h->ents, h->n, sizeof(*h->ents), cookie_cmp);
	for (size_t i = 1; i < h->n; i++)
		if (h->ents[i].cookie <= h->ents[i - 1].cookie)
			h->ents[i].cookie = h->ents[i - 1].cookie + 1;
}

int dirsnap_finish(struct dirsnap *h)
{
	int rc = 0;

	free(h->index);
	h->index = NULL;
	if (h->n > h->window)
		rc = snap_prune(h);
	if (rc)
		return rc;
	h->last = h->ceil == UINT64_MAX;
	snap_sort(h);
	return 0;
}

void dirsnap_ref(struct dirsnap *h)
{
	h->refs++;
}

void dirsnap_put(struct dirsnap *h)
{
	if (h && !--h->refs)
		dirsnap_free(h);
}

size_t dirsnap_count(const struct dirsnap *h)
{
	return h->n;
}

const struct dirsnap_ent *dirsnap_ent(const struct dirsnap *h, size_t i)
{
	return &h->ents[i];
}

const char *dirsnap_name(const struct dirsnap *h, const struct dirsnap_ent *e)
{
	return dent_name(h, e);
}

bool dirsnap_last(const struct dirsnap *h)
{
	return h->last;
}

size_t dirsnap_seek(const struct dirsnap *h, uint64_t off)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->ents[mid].cookie <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool dirsnap_covers(const struct dirsnap *h, uint64_t off)
{
	return h->floor <= off &&
	       (h->last || (h->n && off < h->ents[h->n - 1].cookie));
}

/*
 * Take @h off @l's windows; the caller now owns the reference @l had if
 * this returns true.
 */
static bool snap_unlink(struct dirsnap_listing *l, struct dirsnap *h)
{
	for (struct dirsnap **pp = &l->snaps; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			return true;
		}
	}
	return false;
}

/*
 * Make @h the directory's most recent window: it replaces one taken for
 * the same offset, and the least recently used goes past DIRSNAP_SLOTS. A
 * tail speaks only for the window it followed: any new one replaces it.
 */
static void snap_insert(struct dirsnap_listing *l, struct dirsnap *h)
{
	struct dirsnap **pp = &l->snaps, *w;
	unsigned kept = 1;

	while ((w = *pp)) {
		if (w->floor == h->floor || w->tail || kept == DIRSNAP_SLOTS) {
			*pp = w->next;
			dirsnap_put(w);
			continue;
		}
		kept++;
		pp = &w->next;
	}
	h->next = l->snaps;
	l->snaps = h;
}

struct dirsnap_listing *dirsnap_listing_new(void)
{
	return calloc(1, sizeof(struct dirsnap_listing));
}

void dirsnap_listing_free(struct dirsnap_listing *l)
{
	if (!l)
		return;
	while (l->snaps) {
		struct dirsnap *h = l->snaps;

		l->snaps = h->next;
		dirsnap_put(h);
	}
	free(l);
}

void dirsnap_listing_changed(struct dirsnap_listing *l)
{
	l->changes++;
}

uint64_t dirsnap_listing_changes(const struct dirsnap_listing *l)
{
	return l->changes;
}

void dirsnap_listing_begin(struct dirsnap_listing *l, uint64_t now_ms)
{
	l->start_changes = l->changes;
	l->start_ms = now_ms;
}

bool dirsnap_listing_fresh(const struct dirsnap_listing *l,
			   const struct dirsnap *h, double max_age_ms)
{
	return h->changes >= l->start_changes &&
	       (h->taken_ms >= l->start_ms ||
		(double)(l->start_ms - h->taken_ms) <= max_age_ms);
}

struct dirsnap *dirsnap_listing_find(struct dirsnap_listing *l, uint64_t off,
				     double max_age_ms)
{
	struct dirsnap **pp, *h;

	for (pp = &l->snaps; (h = *pp);) {
		if (!dirsnap_listing_fresh(l, h, max_age_ms)) {
			*pp = h->next;
			dirsnap_put(h);
			continue;
		}
		if (dirsnap_covers(h, off)) {
			*pp = h->next;
			h->next = l->snaps;
			l->snaps = h;
			h->refs++;
			return h;
		}
		pp = &h->next;
	}
	return NULL;
}

bool dirsnap_listing_keep(struct dirsnap_listing *l, struct dirsnap *h,
			  double max_age_ms)
{
	if (!dirsnap_listing_fresh(l, h, max_age_ms))
		return false;
	snap_insert(l, h);
	h->refs++;
	return true;
}

struct dirsnap *dirsnap_tail_new(const struct dirsnap *h)
{
	struct dirsnap *tail;

	if (!h->last || !h->n)
		return NULL;
	tail = calloc(1, sizeof(*tail));
	if (!tail)
		return NULL;
	tail->changes = h->changes;
	tail->taken_ms = h->taken_ms;
	tail->cookie = h->cookie;
	tail->floor = h->ents[h->n - 1].cookie;
	tail->ceil = UINT64_MAX;
	tail->last = tail->tail = true;
	tail->refs = 1;
	return tail;
}

void dirsnap_listing_done(struct dirsnap_listing *l, struct dirsnap *h,
			  bool passed, struct dirsnap **tail)
{
	if (passed && snap_unlink(l, h)) {
		h->refs--;	/* @l's: the caller's is still held */
		if (*tail) {
			snap_insert(l, *tail);
			*tail = NULL;
		}
	}
	dirsnap_put(h);
}
