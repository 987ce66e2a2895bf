/*
 * test_dirsnap.c - listing windows and cookies (fs/dirsnap.c): cookies
 * depend on the name alone, windows walked one after another list every
 * name once, a reader resumes (seekdir) after a retake without skipping
 * or repeating, device copies merge as lookup ranks them, equal cookies
 * (built through dirsnap_set_cookie_fn()) are made distinct, and a
 * directory's windows go stale after a change or with age, or give way to
 * more recently used ones.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirsnap.h"

#define T_NAMES		1000
#define T_AGE_MS	1000.0
#define T_TIE_BASE	1000u
#define T_TIE_GROUPS	300

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
static struct dirsnap *t_window(uint64_t floor, size_t size, unsigned n,
				const bool *skip, uint64_t changes,
				uint64_t now_ms)
{
	struct dirsnap *h;
	char name[32];

	cr_assert_eq(dirsnap_new(floor, size, changes, now_ms, &h), 0);
	for (unsigned i = 0; i < n; i++) {
		if (skip && skip[i])
			continue;
		t_name(name, sizeof(name), i);
		cr_assert_eq(dirsnap_add(h, name, DT_REG, 0, 100 + i, t_rank,
					 &t_pref), 0);
	}
	cr_assert_eq(dirsnap_finish(h), 0);
	return h;
}

/* Test cookies that tie: "<cookie>-<tag>" has the cookie <cookie>. */
static uint64_t t_tie_cookie(const char *name)
{
	return strtoull(name, NULL, 10);
}

/*
 * A finished window after @floor of at most @size entries over @groups
 * groups of tied names: group g has the cookie T_TIE_BASE + 3 g and 1 to 3
 * names, so that making a group distinct pushes into the next one.
 */
static struct dirsnap *t_tie_window(uint64_t floor, size_t size,
				    unsigned groups)
{
	struct dirsnap *h;
	char name[32];

	cr_assert_eq(dirsnap_new(floor, size, 0, 0, &h), 0);
	dirsnap_set_cookie_fn(h, t_tie_cookie);
	for (unsigned g = 0; g < groups; g++) {
		for (unsigned k = 0; k <= g % 3; k++) {
			snprintf(name, sizeof(name), "%u-%u",
				 T_TIE_BASE + 3 * g, k);
			cr_assert_eq(dirsnap_add(h, name, DT_REG, 0, g, t_rank,
						 &t_pref), 0);
		}
	}
	cr_assert_eq(dirsnap_finish(h), 0);
	return h;
}

static uint64_t t_cookie_of(const struct dirsnap *h, const char *name)
{
	for (size_t i = 0; i < dirsnap_count(h); i++)
		if (!strcmp(dirsnap_name(h, dirsnap_ent(h, i)), name))
			return dirsnap_ent(h, i)->cookie;
	return 0;
}

static uint64_t t_end(const struct dirsnap *h)
{
	return dirsnap_ent(h, dirsnap_count(h) - 1)->cookie;
}

Test(dirsnap, cookies_sorted_distinct_in_range)
{
	struct dirsnap *h = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	bool seen[T_NAMES] = { false };

	cr_assert_eq(dirsnap_count(h), T_NAMES);
	cr_assert(dirsnap_last(h));
	for (size_t i = 0; i < dirsnap_count(h); i++) {
		const struct dirsnap_ent *e = dirsnap_ent(h, i);
		int k = t_num(dirsnap_name(h, e));

		cr_assert_geq(e->cookie, DIRSNAP_COOKIE_FIRST,
			      "above the dots");
		cr_assert_lt(e->cookie, 1ull << 63, "a valid off_t");
		if (i)
			cr_assert_gt(e->cookie, dirsnap_ent(h, i - 1)->cookie);
		cr_assert(k >= 0 && !seen[k], "each name once");
		seen[k] = true;
		cr_assert_eq(e->type, DT_REG);
		cr_assert_eq(e->ino, (ino_t)(100 + k));
	}
	dirsnap_put(h);
}

Test(dirsnap, cookie_depends_on_the_name_alone)
{
	struct dirsnap *a = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	struct dirsnap *b;
	char name[32];

	/* other names around it, other order, another window */
	cr_assert_eq(dirsnap_new(0, 4096, 7, 99, &b), 0);
	for (unsigned i = T_NAMES; i-- > 0;) {
		t_name(name, sizeof(name), i);
		if (i % 3 == 0)
			cr_assert_eq(dirsnap_add(b, name, DT_REG, 0, 1, t_rank,
						 &t_pref), 0);
	}
	cr_assert_eq(dirsnap_add(b, "other", DT_DIR, 0, 1, t_rank, &t_pref), 0);
	cr_assert_eq(dirsnap_finish(b), 0);
	for (unsigned i = 0; i < T_NAMES; i += 3) {
		t_name(name, sizeof(name), i);
		cr_assert_eq(t_cookie_of(a, name), t_cookie_of(b, name),
			     "%s keeps its cookie", name);
	}
	dirsnap_put(a);
	dirsnap_put(b);
}

Test(dirsnap, small_window_keeps_the_smallest_cookies)
{
	struct dirsnap *all = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	struct dirsnap *h = t_window(0, 100, T_NAMES, NULL, 0, 0);

	cr_assert_eq(dirsnap_count(h), 100);
	cr_assert_not(dirsnap_last(h), "more names follow");
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(dirsnap_ent(h, i)->cookie,
			     dirsnap_ent(all, i)->cookie);
	cr_assert(dirsnap_covers(h, 0));
	cr_assert(dirsnap_covers(h, dirsnap_ent(h, 50)->cookie));
	cr_assert_not(dirsnap_covers(h, t_end(h)), "the next window's part");
	cr_assert(dirsnap_covers(all, t_end(all)), "the last one goes on");
	dirsnap_put(all);
	dirsnap_put(h);
}

/* Window after window, as readdir goes: every name once, in order. */
Test(dirsnap, windows_walked_list_every_name_once)
{
	bool seen[T_NAMES] = { false };
	uint64_t at = 0, prev = 0;
	unsigned windows = 0, listed = 0;

	for (;;) {
		uint64_t floor = at < DIRSNAP_COOKIE_FIRST ? 0 : at;
		struct dirsnap *h = t_window(floor, 64, T_NAMES, NULL, 0, 0);
		bool last = dirsnap_last(h);
		size_t n = dirsnap_count(h);

		windows++;
		cr_assert(dirsnap_covers(h, at));
		for (size_t i = dirsnap_seek(h, at); i < n; i++) {
			const struct dirsnap_ent *e = dirsnap_ent(h, i);
			int k = t_num(dirsnap_name(h, e));

			cr_assert_gt(e->cookie, prev, "offsets only grow");
			prev = e->cookie;
			cr_assert(!seen[k], "%s listed twice",
				  dirsnap_name(h, e));
			seen[k] = true;
			listed++;
		}
		at = t_end(h);
		dirsnap_put(h);
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
	struct dirsnap *a = t_window(0, 4096, 200, NULL, 0, 0), *b;
	bool skip[201] = { false }, seen[201] = { false };
	uint64_t pos = dirsnap_ent(a, 49)->cookie;	/* telldir */
	const char *gone_read = NULL;
	char gone_unread[32];
	size_t i;

	for (i = 0; i < 50; i++)
		seen[t_num(dirsnap_name(a, dirsnap_ent(a, i)))] = true;
	/* one name already read goes, one not yet read goes, one comes */
	gone_read = dirsnap_name(a, dirsnap_ent(a, 10));
	skip[t_num(gone_read)] = true;
	snprintf(gone_unread, sizeof(gone_unread), "%s",
		 dirsnap_name(a, dirsnap_ent(a, 120)));
	skip[t_num(gone_unread)] = true;
	b = t_window(pos, 4096, 201, skip, 1, 0);	/* seekdir(pos) */
	for (i = dirsnap_seek(b, pos); i < dirsnap_count(b); i++) {
		int k = t_num(dirsnap_name(b, dirsnap_ent(b, i)));

		cr_assert_gt(dirsnap_ent(b, i)->cookie, pos);
		cr_assert_not(seen[k], "%s repeated",
			      dirsnap_name(b, dirsnap_ent(b, i)));
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
	cr_assert_eq(dirsnap_seek(a, dirsnap_ent(a, 20)->cookie), 21);
	cr_assert_eq(dirsnap_seek(a, 0), 0);
	cr_assert_eq(dirsnap_seek(a, t_end(a)), dirsnap_count(a));
	dirsnap_put(a);
	dirsnap_put(b);
}

Test(dirsnap, copies_merge_as_lookup_ranks_them)
{
	unsigned pref = 1;
	struct dirsnap *h;
	const struct dirsnap_ent *e;

	cr_assert_eq(dirsnap_new(0, 64, 0, 0, &h), 0);
	/* devices are read in ascending order, as dir.c does */
	cr_assert_eq(dirsnap_add(h, "file", DT_REG, 0, 10, t_rank, &pref), 0);
	cr_assert_eq(dirsnap_add(h, "dir", DT_DIR, 0, 20, t_rank, &pref), 0);
	cr_assert_eq(dirsnap_add(h, "file", DT_REG, 1, 11, t_rank, &pref), 0);
	cr_assert_eq(dirsnap_add(h, "dir", DT_DIR, 1, 21, t_rank, &pref), 0);
	cr_assert_eq(dirsnap_add(h, "file", DT_REG, 2, 12, t_rank, &pref), 0);
	cr_assert_eq(dirsnap_add(h, "link", DT_LNK, 2, 32, t_rank, &pref), 0);
	cr_assert_eq(dirsnap_finish(h), 0);
	cr_assert_eq(dirsnap_count(h), 3, "each name once");
	for (size_t i = 0; i < dirsnap_count(h); i++) {
		e = dirsnap_ent(h, i);
		if (!strcmp(dirsnap_name(h, e), "file")) {
			cr_assert_eq(e->dev, 1, "the preferred copy wins");
			cr_assert_eq(e->ino, 11);
			cr_assert_eq(e->dir_dev, -1);
		} else if (!strcmp(dirsnap_name(h, e), "dir")) {
			cr_assert_eq(e->type, DT_DIR);
			cr_assert_eq(e->dir_dev, 0, "the lowest device's copy");
			cr_assert_eq(e->dir_ino, 20);
			/* the preferred device's directory does not win */
			cr_assert_eq(e->dev, 0, "a directory keeps its first");
			cr_assert_eq(e->ino, 20);
		} else {
			cr_assert_eq(e->type, DT_LNK);
			cr_assert_eq(e->dev, 2);
		}
	}
	dirsnap_put(h);
}

/*
 * A name that is a file on one device and a directory on another takes,
 * in a listing, the type of whichever copy ranks first (the directory
 * counts as one more copy). This differs from lookup, where the directory
 * wins whatever the ranks (ns.c); it is what listings do today.
 */
Test(dirsnap, file_and_directory_of_one_name_take_the_first_ranked)
{
	unsigned pref = 1;
	struct dirsnap *h;
	const struct dirsnap_ent *e;

	cr_assert_eq(dirsnap_new(0, 64, 0, 0, &h), 0);
	/* the directory's copy is on the preferred device: a directory */
	cr_assert_eq(dirsnap_add(h, "dir-wins", DT_REG, 0, 10, t_rank, &pref),
		     0);
	cr_assert_eq(dirsnap_add(h, "dir-wins", DT_DIR, 1, 11, t_rank, &pref),
		     0);
	/* the file's copy is on the preferred device: a file */
	cr_assert_eq(dirsnap_add(h, "file-wins", DT_DIR, 0, 20, t_rank, &pref),
		     0);
	cr_assert_eq(dirsnap_add(h, "file-wins", DT_REG, 1, 21, t_rank, &pref),
		     0);
	cr_assert_eq(dirsnap_finish(h), 0);
	cr_assert_eq(dirsnap_count(h), 2, "each name once");
	for (size_t i = 0; i < dirsnap_count(h); i++) {
		e = dirsnap_ent(h, i);
		if (!strcmp(dirsnap_name(h, e), "dir-wins")) {
			cr_assert_eq(e->type, DT_DIR);
			cr_assert_eq(e->dev, 1);
			cr_assert_eq(e->ino, 11);
			cr_assert_eq(e->dir_dev, 1);
			cr_assert_eq(e->dir_ino, 11);
		} else {
			cr_assert_eq(e->type, DT_REG, "unlike lookup");
			cr_assert_eq(e->dev, 1);
			cr_assert_eq(e->ino, 21);
			/* the directory's copy is still known */
			cr_assert_eq(e->dir_dev, 0);
			cr_assert_eq(e->dir_ino, 20);
		}
	}
	dirsnap_put(h);
}

/* Equal cookies get the next free ones, in sorted order. */
Test(dirsnap, equal_cookies_made_distinct)
{
	static const char *names[] = {
		"2000-a", "1000-a", "1000-b", "1001-a", "1000-c",
	};
	static const uint64_t want[] = { 1000, 1001, 1002, 1003, 2000 };
	struct dirsnap *h;

	cr_assert_eq(dirsnap_new(0, 64, 0, 0, &h), 0);
	dirsnap_set_cookie_fn(h, t_tie_cookie);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(dirsnap_add(h, names[i], DT_REG, 0, i, t_rank,
					 &t_pref), 0);
	cr_assert_eq(dirsnap_finish(h), 0);
	cr_assert_eq(dirsnap_count(h), 5);
	for (size_t i = 0; i < 5; i++) {
		const struct dirsnap_ent *e = dirsnap_ent(h, i);
		const char *name = dirsnap_name(h, e);

		cr_assert_eq(e->cookie, want[i], "%s: %llu", name,
			     (unsigned long long)e->cookie);
		if (i < 3)
			cr_assert(!strncmp(name, "1000-", 5), "%s", name);
	}
	cr_assert_str_eq(dirsnap_name(h, dirsnap_ent(h, 3)), "1001-a",
			 "pushed after the ties");
	cr_assert_str_eq(dirsnap_name(h, dirsnap_ent(h, 4)), "2000-a");
	dirsnap_put(h);
}

/* A window cut at its size keeps every entry tied with its last one. */
Test(dirsnap, window_keeps_every_entry_tied_with_its_last)
{
	static const char *names[] = {
		"1000-a", "2000-a", "1000-b", "3000-a", "1000-c",
	};
	struct dirsnap *h;

	cr_assert_eq(dirsnap_new(0, 2, 0, 0, &h), 0);
	dirsnap_set_cookie_fn(h, t_tie_cookie);
	/* the fourth name makes the window cut itself while being built */
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(dirsnap_add(h, names[i], DT_REG, 0, i, t_rank,
					 &t_pref), 0);
	cr_assert_eq(dirsnap_finish(h), 0);
	cr_assert_eq(dirsnap_count(h), 3, "two, and one more that ties");
	cr_assert_not(dirsnap_last(h));
	for (size_t i = 0; i < 3; i++) {
		const struct dirsnap_ent *e = dirsnap_ent(h, i);

		cr_assert(!strncmp(dirsnap_name(h, e), "1000-", 5));
		cr_assert_eq(e->cookie, 1000 + i);
	}
	dirsnap_put(h);
}

/*
 * Window after window over tied cookies: each window makes the ties
 * before its floor distinct as the one before did, so every name comes
 * once. Names are added in the same order each time, as a device lists
 * them between two changes.
 */
Test(dirsnap, windows_walked_over_ties_list_every_name_once)
{
	unsigned listed = 0, windows = 0, total = 0;
	static bool seen[T_TIE_GROUPS][3];
	uint64_t at = 0, prev = 0;

	for (unsigned g = 0; g < T_TIE_GROUPS; g++)
		total += g % 3 + 1;
	for (;;) {
		uint64_t floor = at < DIRSNAP_COOKIE_FIRST ? 0 : at;
		struct dirsnap *h = t_tie_window(floor, 100, T_TIE_GROUPS);
		bool last = dirsnap_last(h);
		size_t n = dirsnap_count(h);

		windows++;
		for (size_t i = dirsnap_seek(h, at); i < n; i++) {
			const struct dirsnap_ent *e = dirsnap_ent(h, i);
			const char *name = dirsnap_name(h, e);
			unsigned c, k;

			cr_assert_eq(sscanf(name, "%u-%u", &c, &k), 2);
			cr_assert_gt(e->cookie, prev, "offsets only grow");
			prev = e->cookie;
			c = (c - T_TIE_BASE) / 3;
			cr_assert_not(seen[c][k], "%s listed twice", name);
			seen[c][k] = true;
			listed++;
		}
		at = t_end(h);
		dirsnap_put(h);
		if (last)
			break;
		cr_assert_lt(windows, total, "the walk ends");
	}
	cr_assert_eq(listed, total);
	cr_assert_gt(windows, 2, "listed in windows");
}

/* A window found again serves the listing it was taken for. */
Test(dirsnap, window_serves_its_listing)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	struct dirsnap *h, *f;

	cr_assert_not_null(l);
	dirsnap_listing_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, dirsnap_listing_changes(l), 1000);
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	f = dirsnap_listing_find(l, dirsnap_ent(h, 10)->cookie, T_AGE_MS);
	cr_assert_eq(f, h);
	dirsnap_put(f);
	cr_assert_null(dirsnap_listing_find(l, t_end(h), T_AGE_MS),
		       "past its end: the next window's job");
	dirsnap_put(h);
	dirsnap_listing_free(l);
}

/*
 * A change through the mount: a listing going on keeps its window (no
 * rewinddir, no new names promised), a listing that begins after it
 * never uses a window read before.
 */
Test(dirsnap, change_makes_windows_stale_for_new_listings)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	uint64_t off;
	struct dirsnap *h, *f;

	dirsnap_listing_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, dirsnap_listing_changes(l), 1000);
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	off = dirsnap_ent(h, 5)->cookie;
	dirsnap_put(h);
	dirsnap_listing_changed(l);
	f = dirsnap_listing_find(l, off, T_AGE_MS);
	cr_assert_not_null(f, "the listing under way keeps its window");
	cr_assert(dirsnap_listing_fresh(l, f, T_AGE_MS));
	dirsnap_put(f);
	dirsnap_listing_begin(l, 1001);
	cr_assert_null(dirsnap_listing_find(l, off, T_AGE_MS));
	/* once stale, always: a later listing does not bring it back */
	dirsnap_listing_begin(l, 1002);
	cr_assert_null(dirsnap_listing_find(l, off, T_AGE_MS));
	dirsnap_listing_free(l);
}

/* A window read before a change a listing has already seen is not kept. */
Test(dirsnap, window_read_before_a_seen_change_is_not_kept)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	uint64_t before = dirsnap_listing_changes(l);
	struct dirsnap *h;

	dirsnap_listing_changed(l);
	dirsnap_listing_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, before, 1000);
	cr_assert_not(dirsnap_listing_fresh(l, h, T_AGE_MS));
	cr_assert_not(dirsnap_listing_keep(l, h, T_AGE_MS));
	cr_assert_null(dirsnap_listing_find(l, dirsnap_ent(h, 1)->cookie,
					    T_AGE_MS));
	dirsnap_put(h);
	dirsnap_listing_free(l);
}

/* Changes made by hand show within the age given. */
Test(dirsnap, window_ages_out)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	uint64_t off;
	struct dirsnap *h, *f;

	dirsnap_listing_begin(l, 1000);
	h = t_window(0, 64, T_NAMES, NULL, 0, 1000);
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	off = dirsnap_ent(h, 3)->cookie;
	dirsnap_put(h);
	dirsnap_listing_begin(l, 1000 + (uint64_t)T_AGE_MS);
	f = dirsnap_listing_find(l, off, T_AGE_MS);
	cr_assert_not_null(f, "exactly the age: still fresh");
	dirsnap_put(f);
	dirsnap_listing_begin(l, 1001 + (uint64_t)T_AGE_MS);
	cr_assert_null(dirsnap_listing_find(l, off, T_AGE_MS), "older: stale");
	dirsnap_listing_free(l);
}

/* Windows for DIRSNAP_SLOTS places; one per floor; the oldest goes. */
Test(dirsnap, slots_keep_the_most_recently_used)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	uint64_t floors[DIRSNAP_SLOTS + 1], at = 0;
	struct dirsnap *h, *f, *old;

	dirsnap_listing_begin(l, 0);
	for (unsigned w = 0; w <= DIRSNAP_SLOTS; w++) {
		floors[w] = at;
		h = t_window(at, 64, T_NAMES, NULL, 0, 0);
		cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
		at = t_end(h);
		dirsnap_put(h);
	}
	/* the first window (floor 0) was the least recently used */
	cr_assert_null(dirsnap_listing_find(l, DIRSNAP_COOKIE_FIRST, T_AGE_MS));
	for (unsigned w = 1; w <= DIRSNAP_SLOTS; w++) {
		f = dirsnap_listing_find(l, floors[w], T_AGE_MS);
		cr_assert_not_null(f, "window %u kept", w);
		dirsnap_put(f);
	}
	/* a window taken again for a floor replaces the one there */
	old = dirsnap_listing_find(l, floors[2], T_AGE_MS);	/* held */
	h = t_window(floors[2], 64, T_NAMES, NULL, 0, 0);
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	f = dirsnap_listing_find(l, floors[2], T_AGE_MS);
	cr_assert_eq(f, h);
	dirsnap_put(f);
	/* ... and so takes no slot: had the old one stayed, window 1 went */
	for (unsigned w = 1; w <= DIRSNAP_SLOTS; w++) {
		f = dirsnap_listing_find(l, floors[w], T_AGE_MS);
		cr_assert_not_null(f, "window %u kept", w);
		cr_assert_neq(f, old, "the window replaced went");
		dirsnap_put(f);
	}
	dirsnap_put(old);
	dirsnap_put(h);
	dirsnap_listing_free(l);
}

/* Finding a window makes it the most recently used. */
Test(dirsnap, find_makes_a_window_the_most_recently_used)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	uint64_t floors[DIRSNAP_SLOTS + 1], at = 0;
	struct dirsnap *h, *f;

	dirsnap_listing_begin(l, 0);
	for (unsigned w = 0; w <= DIRSNAP_SLOTS; w++) {
		floors[w] = at;
		h = t_window(at, 64, T_NAMES, NULL, 0, 0);
		if (w == DIRSNAP_SLOTS) {
			/* the oldest, found again, is now the most recent */
			f = dirsnap_listing_find(l, floors[0], T_AGE_MS);
			cr_assert_not_null(f);
			dirsnap_put(f);
		}
		cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
		at = t_end(h);
		dirsnap_put(h);
	}
	cr_assert_null(dirsnap_listing_find(l, floors[1], T_AGE_MS),
		       "the second oldest went");
	for (unsigned w = 0; w <= DIRSNAP_SLOTS; w++) {
		if (w == 1)
			continue;
		f = dirsnap_listing_find(l, floors[w], T_AGE_MS);
		cr_assert_not_null(f, "window %u kept", w);
		dirsnap_put(f);
	}
	dirsnap_listing_free(l);
}

/*
 * A reader that got past the last window leaves an empty tail at the end
 * offset, so the kernel's final read needs no new window; one that did
 * not get past leaves the window in place.
 */
Test(dirsnap, passing_the_last_window_leaves_a_tail)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	struct dirsnap *h, *f, *tail;
	uint64_t end;

	dirsnap_listing_begin(l, 0);
	h = t_window(0, 4096, 100, NULL, 0, 0);
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	end = t_end(h);
	/* stopped inside: the window stays */
	dirsnap_ref(h);
	dirsnap_listing_done(l, h, false, &(struct dirsnap *){ NULL });
	f = dirsnap_listing_find(l, 5, T_AGE_MS);
	cr_assert_eq(f, h);
	dirsnap_put(f);
	/* passed: the tail takes its place */
	tail = dirsnap_tail_new(h);
	cr_assert_not_null(tail);
	dirsnap_listing_done(l, h, true, &tail);
	cr_assert_null(tail, "the listing took the tail");
	cr_assert_null(dirsnap_listing_find(l, 5, T_AGE_MS), "the window went");
	f = dirsnap_listing_find(l, end, T_AGE_MS);
	cr_assert_not_null(f);
	cr_assert_eq(dirsnap_count(f), 0);
	cr_assert(dirsnap_last(f));
	cr_assert_eq(dirsnap_seek(f, end), 0);
	dirsnap_put(f);
	/*
	 * any new window replaces a tail: here one taken at its floor once
	 * more names came, so that it no longer reaches as far as the tail
	 * (the same floor and being a tail both make it go)
	 */
	h = t_window(end, 4, T_NAMES, NULL, 0, 0);
	cr_assert_not(dirsnap_last(h), "names after the end now");
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	f = dirsnap_listing_find(l, end, T_AGE_MS);
	cr_assert_eq(f, h);
	dirsnap_put(f);
	cr_assert_null(dirsnap_listing_find(l, t_end(h), T_AGE_MS),
		       "the tail went");
	dirsnap_put(h);
	dirsnap_listing_free(l);
}

Test(dirsnap, only_a_last_window_with_entries_gets_a_tail)
{
	struct dirsnap *part = t_window(0, 10, 100, NULL, 0, 0);
	struct dirsnap *none = t_window(0, 10, 0, NULL, 0, 0);

	cr_assert_null(dirsnap_tail_new(part), "more windows follow");
	cr_assert(dirsnap_last(none));
	cr_assert_null(dirsnap_tail_new(none), "nothing to end after");
	dirsnap_put(part);
	dirsnap_put(none);
	dirsnap_put(NULL);
	dirsnap_listing_free(NULL);
}

/* Any new window replaces a tail, whatever its floor. */
Test(dirsnap, new_window_replaces_the_tail)
{
	struct dirsnap_listing *l = dirsnap_listing_new();
	struct dirsnap *h = t_window(0, 4096, 100, NULL, 0, 0), *tail;
	uint64_t end = t_end(h);

	dirsnap_listing_begin(l, 0);
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	tail = dirsnap_tail_new(h);
	dirsnap_listing_done(l, h, true, &tail);
	h = t_window(0, 10, 100, NULL, 0, 0);	/* not the last one */
	cr_assert(dirsnap_listing_keep(l, h, T_AGE_MS));
	dirsnap_put(h);
	cr_assert_null(dirsnap_listing_find(l, end, T_AGE_MS), "the tail went");
	dirsnap_listing_free(l);
}

/*
 * A window taken for a later offset also holds the cookies just before
 * it (DIRSNAP_COOKIE_SLACK), so that equal hashes there are made distinct
 * as the window before made them.
 */
Test(dirsnap, window_holds_the_cookies_just_before_its_floor)
{
	struct dirsnap *all = t_window(0, 4096, T_NAMES, NULL, 0, 0);
	const struct dirsnap_ent *e = dirsnap_ent(all, T_NAMES / 2);
	const char *name = dirsnap_name(all, e);
	struct dirsnap *h = t_window(e->cookie + 10, 64, T_NAMES, NULL, 0, 0);

	cr_assert_eq(t_cookie_of(h, name), e->cookie);
	cr_assert_eq(dirsnap_seek(h, e->cookie + 10),
		     dirsnap_seek(h, e->cookie),
		     "but a reader after the floor starts after it");
	dirsnap_put(h);
	dirsnap_put(all);
}
