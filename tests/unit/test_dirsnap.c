/*
 * test_dirsnap.c - listing windows and cookies (fs/dirsnap.c): cookies
 * depend on the name alone, windows walked one after another list every
 * name once, a reader resumes (seekdir) after a retake without skipping
 * or repeating, device copies merge as lookup ranks them, and a
 * directory's windows go stale after a change or with age.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirsnap.h"

#define T_NAMES		1000
#define T_AGE_MS	1000.0

/* Lookup's order: the preferred device first, then ascending. */
static unsigned t_rank(void *ctx, const char *name, unsigned dev)
{
	unsigned pref = *(const unsigned *)ctx;

	(void)name;
	return dev == pref ? 0 : dev + 1;
}

static unsigned t_pref;

static void t_name(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "chunk-%04u.bin", i);
}

/* The number in a name made by t_name(), or -1. */
static int t_num(const char *name)
{
	unsigned i;

	return sscanf(name, "chunk-%4u.bin", &i) == 1 ? (int)i : -1;
}

/*
 * A finished window after @floor of at most @size entries over the names
 * 0..@n-1 that @skip (may be NULL) does not mark, all files on device 0.
 */
static struct dsnap *t_window(uint64_t floor, size_t size, unsigned n,
			      const bool *skip, uint64_t changes,
			      uint64_t now_ms)
{
	struct dsnap *h;
	char name[32];

	cr_assert_eq(dsnap_new(floor, size, changes, now_ms, &h), 0);
	for (unsigned i = 0; i < n; i++) {
		if (skip && skip[i])
			continue;
		t_name(name, sizeof(name), i);
		cr_assert_eq(dsnap_add(h, name, DT_REG, 0, 100 + i, t_rank,
				       &t_pref), 0);
	}
	cr_assert_eq(dsnap_finish(h), 0);
	return h;
}

static uint64_t t_cookie_of(const struct dsnap *h, const char *name)
{
	for (size_t i = 0; i < dsnap_count(h); i++)
		if (!strcmp(dsnap_name(h, dsnap_ent(h, i)), name))
			return dsnap_ent(h, i)->cookie;
	return 0;
}

static uint64_t t_end(const struct dsnap *h)
{
	return dsnap_ent(h, dsnap_count(h) - 1)->cookie;
}

Test(dirsnap, cookies_sorted_distinct_in_range)
{
	struct dsnap *h = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	bool seen[T_NAMES] = { false };

	cr_assert_eq(dsnap_count(h), T_NAMES);
	cr_assert(dsnap_last(h));
	for (size_t i = 0; i < dsnap_count(h); i++) {
		const struct dent *e = dsnap_ent(h, i);
		int k = t_num(dsnap_name(h, e));

		cr_assert_geq(e->cookie, DSNAP_COOKIE_FIRST, "above the dots");
		cr_assert_lt(e->cookie, 1ull << 63, "a valid off_t");
		if (i)
			cr_assert_gt(e->cookie, dsnap_ent(h, i - 1)->cookie);
		cr_assert(k >= 0 && !seen[k], "each name once");
		seen[k] = true;
		cr_assert_eq(e->type, DT_REG);
		cr_assert_eq(e->ino, (ino_t)(100 + k));
	}
	dsnap_put(h);
}

Test(dirsnap, cookie_depends_on_the_name_alone)
{
	struct dsnap *a = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	struct dsnap *b;
	char name[32];

	/* other names around it, other order, another window */
	cr_assert_eq(dsnap_new(0, 4096, 7, 99, &b), 0);
	for (unsigned i = T_NAMES; i-- > 0;) {
		t_name(name, sizeof(name), i);
		if (i % 3 == 0)
			cr_assert_eq(dsnap_add(b, name, DT_REG, 0, 1, t_rank,
					       &t_pref), 0);
	}
	cr_assert_eq(dsnap_add(b, "other", DT_DIR, 0, 1, t_rank, &t_pref), 0);
	cr_assert_eq(dsnap_finish(b), 0);
	for (unsigned i = 0; i < T_NAMES; i += 3) {
		t_name(name, sizeof(name), i);
		cr_assert_eq(t_cookie_of(a, name), t_cookie_of(b, name),
			     "%s keeps its cookie", name);
	}
	dsnap_put(a);
	dsnap_put(b);
}

Test(dirsnap, small_window_keeps_the_smallest_cookies)
{
	struct dsnap *all = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	struct dsnap *h = t_window(0, 100, T_NAMES, NULL, 0, 0);

	cr_assert_eq(dsnap_count(h), 100);
	cr_assert_not(dsnap_last(h), "more names follow");
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(dsnap_ent(h, i)->cookie,
			     dsnap_ent(all, i)->cookie);
	cr_assert(dsnap_covers(h, 0));
	cr_assert(dsnap_covers(h, dsnap_ent(h, 50)->cookie));
	cr_assert_not(dsnap_covers(h, t_end(h)), "the next window's part");
	cr_assert(dsnap_covers(all, t_end(all)), "the last one goes on");
	dsnap_put(all);
	dsnap_put(h);
}

/* Window after window, as readdir goes: every name once, in order. */
Test(dirsnap, windows_walked_list_every_name_once)
{
	bool seen[T_NAMES] = { false };
	uint64_t at = 0, prev = 0;
	unsigned windows = 0, listed = 0;

	for (;;) {
		uint64_t floor = at < DSNAP_COOKIE_FIRST ? 0 : at;
		struct dsnap *h = t_window(floor, 64, T_NAMES, NULL, 0, 0);
		bool last = dsnap_last(h);

		windows++;
		cr_assert(dsnap_covers(h, at));
		for (size_t i = dsnap_seek(h, at); i < dsnap_count(h); i++) {
			const struct dent *e = dsnap_ent(h, i);
			int k = t_num(dsnap_name(h, e));

			cr_assert_gt(e->cookie, prev, "offsets only grow");
			prev = e->cookie;
			cr_assert(!seen[k], "%s listed twice",
				  dsnap_name(h, e));
			seen[k] = true;
			listed++;
		}
		at = t_end(h);
		dsnap_put(h);
		if (last)
			break;
		cr_assert_lt(windows, T_NAMES, "the walk ends");
	}
	cr_assert_eq(listed, T_NAMES);
	cr_assert_gt(windows, T_NAMES / 64, "listed in windows");
}

/*
 * telldir/seekdir: a reader stopped after a cookie resumes there in a
 * window retaken after names came and went.
 */
Test(dirsnap, resume_after_retake_skips_and_repeats_nothing)
{
	struct dsnap *a = t_window(0, 4096, 200, NULL, 0, 0), *b;
	bool skip[201] = { false }, seen[201] = { false };
	uint64_t pos = dsnap_ent(a, 49)->cookie;	/* telldir */
	const char *gone_read = NULL;
	char gone_unread[32];
	size_t i;

	for (i = 0; i < 50; i++)
		seen[t_num(dsnap_name(a, dsnap_ent(a, i)))] = true;
	/* one name already read goes, one not yet read goes, one comes */
	gone_read = dsnap_name(a, dsnap_ent(a, 10));
	skip[t_num(gone_read)] = true;
	snprintf(gone_unread, sizeof(gone_unread), "%s",
		 dsnap_name(a, dsnap_ent(a, 120)));
	skip[t_num(gone_unread)] = true;
	b = t_window(pos, 4096, 201, skip, 1, 0);	/* seekdir(pos) */
	for (i = dsnap_seek(b, pos); i < dsnap_count(b); i++) {
		int k = t_num(dsnap_name(b, dsnap_ent(b, i)));

		cr_assert_gt(dsnap_ent(b, i)->cookie, pos);
		cr_assert_not(seen[k], "%s repeated",
			      dsnap_name(b, dsnap_ent(b, i)));
		seen[k] = true;
	}
	for (unsigned k = 0; k < 200; k++) {
		char name[32];

		t_name(name, sizeof(name), k);
		if (!strcmp(name, gone_unread))
			cr_assert_not(seen[k], "a removed name is not listed");
		else
			cr_assert(seen[k], "%s skipped", name);
	}
	/* the new name shows iff it sorts after the position */
	cr_assert_eq(seen[200], t_cookie_of(b, "chunk-0200.bin") > pos);
	/* seekdir back to an earlier telldir in the same window */
	cr_assert_eq(dsnap_seek(a, dsnap_ent(a, 20)->cookie), 21);
	cr_assert_eq(dsnap_seek(a, 0), 0);
	cr_assert_eq(dsnap_seek(a, t_end(a)), dsnap_count(a));
	dsnap_put(a);
	dsnap_put(b);
}

Test(dirsnap, copies_merge_as_lookup_ranks_them)
{
	unsigned pref = 1;
	struct dsnap *h;
	const struct dent *e;

	cr_assert_eq(dsnap_new(0, 64, 0, 0, &h), 0);
	/* devices are read in ascending order, as dir.c does */
	cr_assert_eq(dsnap_add(h, "file", DT_REG, 0, 10, t_rank, &pref), 0);
	cr_assert_eq(dsnap_add(h, "dir", DT_DIR, 0, 20, t_rank, &pref), 0);
	cr_assert_eq(dsnap_add(h, "file", DT_REG, 1, 11, t_rank, &pref), 0);
	cr_assert_eq(dsnap_add(h, "dir", DT_DIR, 1, 21, t_rank, &pref), 0);
	cr_assert_eq(dsnap_add(h, "file", DT_REG, 2, 12, t_rank, &pref), 0);
	cr_assert_eq(dsnap_add(h, "link", DT_LNK, 2, 32, t_rank, &pref), 0);
	cr_assert_eq(dsnap_finish(h), 0);
	cr_assert_eq(dsnap_count(h), 3, "each name once");
	for (size_t i = 0; i < dsnap_count(h); i++) {
		e = dsnap_ent(h, i);
		if (!strcmp(dsnap_name(h, e), "file")) {
			cr_assert_eq(e->dev, 1, "the preferred copy wins");
			cr_assert_eq(e->ino, 11);
			cr_assert_eq(e->dir_dev, -1);
		} else if (!strcmp(dsnap_name(h, e), "dir")) {
			cr_assert_eq(e->type, DT_DIR);
			cr_assert_eq(e->dir_dev, 0, "the lowest device's copy");
			cr_assert_eq(e->dir_ino, 20);
		} else {
			cr_assert_eq(e->type, DT_LNK);
			cr_assert_eq(e->dev, 2);
		}
	}
	dsnap_put(h);
}

/* A window found again serves the listing it was taken for. */
Test(dirsnap, window_serves_its_listing)
{
	struct dlisting *l = dlisting_new();
	struct dsnap *h, *f;

	cr_assert_not_null(l);
	dlisting_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, dlisting_changes(l), 1000);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	f = dlisting_find(l, dsnap_ent(h, 10)->cookie, T_AGE_MS);
	cr_assert_eq(f, h);
	dsnap_put(f);
	cr_assert_null(dlisting_find(l, t_end(h), T_AGE_MS),
		       "past its end: the next window's job");
	dsnap_put(h);
	dlisting_free(l);
}

/*
 * A change through the mount: a listing going on keeps its window (no
 * rewinddir, no new names promised), a listing that begins after it
 * never uses a window read before.
 */
Test(dirsnap, change_makes_windows_stale_for_new_listings)
{
	struct dlisting *l = dlisting_new();
	uint64_t off;
	struct dsnap *h, *f;

	dlisting_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, dlisting_changes(l), 1000);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	off = dsnap_ent(h, 5)->cookie;
	dsnap_put(h);
	dlisting_changed(l);
	f = dlisting_find(l, off, T_AGE_MS);
	cr_assert_not_null(f, "the listing under way keeps its window");
	cr_assert(dlisting_fresh(l, f, T_AGE_MS));
	dsnap_put(f);
	dlisting_begin(l, 1001);
	cr_assert_null(dlisting_find(l, off, T_AGE_MS));
	/* once stale, always: a later listing does not bring it back */
	dlisting_begin(l, 1002);
	cr_assert_null(dlisting_find(l, off, T_AGE_MS));
	dlisting_free(l);
}

/* A window read before a change a listing has already seen is not kept. */
Test(dirsnap, window_read_before_a_seen_change_is_not_kept)
{
	struct dlisting *l = dlisting_new();
	uint64_t before = dlisting_changes(l);
	struct dsnap *h;

	dlisting_changed(l);
	dlisting_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, before, 1000);
	cr_assert_not(dlisting_fresh(l, h, T_AGE_MS));
	cr_assert_not(dlisting_keep(l, h, T_AGE_MS));
	cr_assert_null(dlisting_find(l, dsnap_ent(h, 1)->cookie, T_AGE_MS));
	dsnap_put(h);
	dlisting_free(l);
}

/* Changes made by hand show within the age given. */
Test(dirsnap, window_ages_out)
{
	struct dlisting *l = dlisting_new();
	uint64_t off;
	struct dsnap *h, *f;

	dlisting_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, 0, 1000);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	off = dsnap_ent(h, 3)->cookie;
	dsnap_put(h);
	dlisting_begin(l, 1000 + (uint64_t)T_AGE_MS);
	f = dlisting_find(l, off, T_AGE_MS);
	cr_assert_not_null(f, "exactly the age: still fresh");
	dsnap_put(f);
	dlisting_begin(l, 1001 + (uint64_t)T_AGE_MS);
	cr_assert_null(dlisting_find(l, off, T_AGE_MS), "older: stale");
	dlisting_free(l);
}

/* Windows for DSNAP_SLOTS places; one per floor; the oldest goes. */
Test(dirsnap, slots_keep_the_most_recently_used)
{
	struct dlisting *l = dlisting_new();
	uint64_t floors[DSNAP_SLOTS + 1], at = 0;
	struct dsnap *h, *f;

	dlisting_begin(l, 0);
	for (unsigned w = 0; w <= DSNAP_SLOTS; w++) {
		floors[w] = at;
		h = t_window(at, 64, T_NAMES, NULL, 0, 0);
		cr_assert(dlisting_keep(l, h, T_AGE_MS));
		at = t_end(h);
		dsnap_put(h);
	}
	/* the first window (floor 0) was the least recently used */
	cr_assert_null(dlisting_find(l, DSNAP_COOKIE_FIRST, T_AGE_MS));
	for (unsigned w = 1; w <= DSNAP_SLOTS; w++) {
		f = dlisting_find(l, floors[w], T_AGE_MS);
		cr_assert_not_null(f, "window %u kept", w);
		dsnap_put(f);
	}
	/* a window taken again for a floor replaces the one there */
	h = t_window(floors[2], 64, T_NAMES, NULL, 0, 0);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	f = dlisting_find(l, floors[2], T_AGE_MS);
	cr_assert_eq(f, h);
	dsnap_put(f);
	dsnap_put(h);
	dlisting_free(l);
}

/*
 * A reader that got past the last window leaves an empty tail at the end
 * offset, so the kernel's final read needs no new window; one that did
 * not get past leaves the window in place.
 */
Test(dirsnap, passing_the_last_window_leaves_a_tail)
{
	struct dlisting *l = dlisting_new();
	struct dsnap *h, *f, *tail;
	uint64_t end;

	dlisting_begin(l, 0);
	h = t_window(0, 4096, 100, NULL, 0, 0);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	end = t_end(h);
	/* stopped inside: the window stays */
	dsnap_ref(h);
	dlisting_done(l, h, false, &(struct dsnap *){ NULL });
	f = dlisting_find(l, 5, T_AGE_MS);
	cr_assert_eq(f, h);
	dsnap_put(f);
	/* passed: the tail takes its place */
	tail = dsnap_tail_new(h);
	cr_assert_not_null(tail);
	dlisting_done(l, h, true, &tail);
	cr_assert_null(tail, "the listing took the tail");
	cr_assert_null(dlisting_find(l, 5, T_AGE_MS), "the window went");
	f = dlisting_find(l, end, T_AGE_MS);
	cr_assert_not_null(f);
	cr_assert_eq(dsnap_count(f), 0);
	cr_assert(dsnap_last(f));
	cr_assert_eq(dsnap_seek(f, end), 0);
	dsnap_put(f);
	/* any new window replaces a tail */
	h = t_window(end, 4096, 100, NULL, 0, 0);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	f = dlisting_find(l, end, T_AGE_MS);
	cr_assert_eq(f, h);
	dsnap_put(f);
	dsnap_put(h);
	dlisting_free(l);
}

Test(dirsnap, only_a_last_window_with_entries_gets_a_tail)
{
	struct dsnap *part = t_window(0, 10, 100, NULL, 0, 0);
	struct dsnap *none = t_window(0, 10, 0, NULL, 0, 0);

	cr_assert_null(dsnap_tail_new(part), "more windows follow");
	cr_assert(dsnap_last(none));
	cr_assert_null(dsnap_tail_new(none), "nothing to end after");
	dsnap_put(part);
	dsnap_put(none);
	dsnap_put(NULL);
	dlisting_free(NULL);
}

/* Any new window replaces a tail, whatever its floor. */
Test(dirsnap, new_window_replaces_the_tail)
{
	struct dlisting *l = dlisting_new();
	struct dsnap *h = t_window(0, 4096, 100, NULL, 0, 0), *tail;
	uint64_t end = t_end(h);

	dlisting_begin(l, 0);
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	tail = dsnap_tail_new(h);
	dlisting_done(l, h, true, &tail);
	h = t_window(0, 10, 100, NULL, 0, 0);	/* not the last one */
	cr_assert(dlisting_keep(l, h, T_AGE_MS));
	dsnap_put(h);
	cr_assert_null(dlisting_find(l, end, T_AGE_MS), "the tail went");
	dlisting_free(l);
}

/*
 * A window taken for a later offset also holds the cookies just before
 * it (DSNAP_COOKIE_SLACK), so that equal hashes there are made distinct
 * as the window before made them.
 */
Test(dirsnap, window_holds_the_cookies_just_before_its_floor)
{
	struct dsnap *all = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	const struct dent *e = dsnap_ent(all, T_NAMES / 2);
	const char *name = dsnap_name(all, e);
	struct dsnap *h = t_window(e->cookie + 10, 64, T_NAMES, NULL, 0, 0);

	cr_assert_eq(t_cookie_of(h, name), e->cookie);
	cr_assert_eq(dsnap_seek(h, e->cookie + 10), dsnap_seek(h, e->cookie),
		     "but a reader after the floor starts after it");
	dsnap_put(h);
	dsnap_put(all);
}
