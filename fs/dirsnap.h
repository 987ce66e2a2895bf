/*
 * dirsnap.h - windows of a merged directory listing and the cookies that
 * index them: a pure data structure, no FUSE and no file system calls.
 *
 * Cookies: an entry's d_off is a hash of its name, kept above the dots'
 * offsets 1 and 2 and below 2^63, and a window is sorted by it. A reader
 * resumes after the entry with the cookie it was given, so a window can be
 * retaken between two of its requests without skipping or repeating a
 * name that stayed (ext4's htree offsets work the same way). Equal hashes
 * are made distinct in sorted order; a window taken for a later offset
 * also holds the DIRSNAP_COOKIE_SLACK cookies before it, so it makes them
 * distinct the same way.
 *
 * A window (struct dirsnap) holds every entry with a cookie after its
 * floor, up to its size: the smallest ones. It is built by one thread
 * (dirsnap_new(), dirsnap_add(), dirsnap_finish()), then only read, and
 * shared by reference. A directory's windows (struct dirsnap_listing)
 * carry when they were taken, so a listing that began after a change, or
 * more than the given age after the window was read, never uses one.
 * Nothing here locks: the caller serialises every dirsnap_listing_* call
 * and every reference count change (dir.c holds fs->lock); a finished
 * window's entries may be read without the lock while a reference is held.
 */
#ifndef FS_DIRSNAP_H
#define FS_DIRSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Cookies below this are the dots': "." is 1, ".." is 2. */
#define DIRSNAP_COOKIE_FIRST	3
/* Windows a directory keeps, for readers at different places in it. */
#define DIRSNAP_SLOTS		4

/* One merged entry. */
struct dirsnap_ent {
	uint64_t cookie;	/* its d_off */
	uint32_t name;		/* offset into the window's names */
	uint8_t type;		/* DT_* of the winning copy */
	int8_t dev;		/* device of the winning copy */
	int8_t dir_dev;		/* lowest device holding it as a directory */
	ino_t ino, dir_ino;	/* backing inode numbers of those copies */
};

struct dirsnap;
struct dirsnap_listing;

/*
 * How lookup ranks device @dev for the entry @name: of two non-directory
 * copies the lower rank wins.
 */
typedef unsigned dirsnap_rank_fn(void *ctx, const char *name, unsigned dev);

/*
 * Start a window for readers after cookie @floor, keeping at most @size
 * entries (a few more if cookies tie). @changes and @now_ms: the
 * directory's change count and the clock before its copies are read (see
 * dirsnap_listing_fresh()). Returns 0 with one reference in *@out, or -ENOMEM.
 */
int dirsnap_new(uint64_t floor, size_t size, uint64_t changes, uint64_t now_ms,
		struct dirsnap **out);

/*
 * A name's cookie before equal ones are made distinct: at least
 * DIRSNAP_COOKIE_FIRST, below 2^62 + DIRSNAP_COOKIE_FIRST.
 */
typedef uint64_t dirsnap_cookie_fn(const char *name);

/*
 * For tests: make window @h, before its first dirsnap_add(), take cookies
 * from @fn instead of the name hash, which never ties in practice, so
 * that equal cookies can be built. Every window of a directory must use
 * the same function.
 */
void dirsnap_set_cookie_fn(struct dirsnap *h, dirsnap_cookie_fn *fn);

/*
 * Merge one backing entry seen on device @dev (below 128) into a window
 * being built: a new name is added, a name seen before as a non-directory
 * takes the copy @rank prefers, a directory keeps the first device seen
 * holding it as one. Names outside the window are ignored. Returns 0 or
 * -ENOMEM (the window is then only fit for dirsnap_put()).
 */
int dirsnap_add(struct dirsnap *h, const char *name, uint8_t type, unsigned dev,
		ino_t ino, dirsnap_rank_fn *rank, void *ctx);

/* End building: sort, make cookies distinct. Returns 0 or -ENOMEM. */
int dirsnap_finish(struct dirsnap *h);

/* Take or drop a reference; the last one frees the window. NULL: no-op. */
void dirsnap_ref(struct dirsnap *h);
void dirsnap_put(struct dirsnap *h);

/* A finished window's entries, by cookie. */
size_t dirsnap_count(const struct dirsnap *h);
const struct dirsnap_ent *dirsnap_ent(const struct dirsnap *h, size_t i);
const char *dirsnap_name(const struct dirsnap *h, const struct dirsnap_ent *e);
/* Index of the first entry with a cookie after @off (count if none). */
size_t dirsnap_seek(const struct dirsnap *h, uint64_t off);
/* No entry of the directory has a cookie above the window's. */
bool dirsnap_last(const struct dirsnap *h);
/* A reader after cookie @off finds what comes next in @h. */
bool dirsnap_covers(const struct dirsnap *h, uint64_t off);

/* A directory's windows, empty. NULL on -ENOMEM. */
struct dirsnap_listing *dirsnap_listing_new(void);
/* Drop every window's reference and free @l; NULL: no-op. */
void dirsnap_listing_free(struct dirsnap_listing *l);
/* A name of the directory changed (or may have) through the mount. */
void dirsnap_listing_changed(struct dirsnap_listing *l);
/* The change count, for dirsnap_new(). */
uint64_t dirsnap_listing_changes(const struct dirsnap_listing *l);
/* A listing begins (a read at offset 0) at @now_ms. */
void dirsnap_listing_begin(struct dirsnap_listing *l, uint64_t now_ms);
/*
 * Whether window @h may serve the listing that began last, and with it
 * every listing still going (they began no later): no change between the
 * window's read and that beginning, and the window at most @max_age_ms
 * old then (the time changes made by hand are given to show). Once stale,
 * a window stays so.
 */
bool dirsnap_listing_fresh(const struct dirsnap_listing *l,
			   const struct dirsnap *h, double max_age_ms);
/*
 * A fresh window of @l that goes on from cookie @off, made the most
 * recently used and returned with a reference for the caller; stale
 * windows met on the way are dropped. NULL if there is none.
 */
struct dirsnap *dirsnap_listing_find(struct dirsnap_listing *l, uint64_t off,
				     double max_age_ms);
/*
 * Offer the new window @h (taken by the caller) to @l: if a listing that
 * began meanwhile may still use it, @l keeps it with a reference of its
 * own and true is returned. It then replaces a window taken for the same
 * floor and any tail, and the least recently used goes past DIRSNAP_SLOTS.
 */
bool dirsnap_listing_keep(struct dirsnap_listing *l, struct dirsnap *h,
			  double max_age_ms);
/*
 * What dirsnap_listing_done() needs if a reader gets past @h: past the last
 * window, an empty tail takes its place, so that the kernel's one more
 * read at the end offset needs no new window. NULL if @h needs none (or
 * no memory). Call it before taking the caller's lock.
 */
struct dirsnap *dirsnap_tail_new(const struct dirsnap *h);
/*
 * A reader is done with @h and drops its reference; @passed: it got past
 * the window's end, and @l drops the window, putting *@tail (from
 * dirsnap_tail_new(), may be NULL) in its place. *@tail is set to NULL if
 * it was used; else the caller puts it.
 */
void dirsnap_listing_done(struct dirsnap_listing *l, struct dirsnap *h,
			  bool passed, struct dirsnap **tail);

#endif /* FS_DIRSNAP_H */
