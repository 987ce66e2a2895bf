/*
 * kvio_i.h - the I/O engine's insides, for kvio.c, which builds them, and
 * the dfile module (dfile.c, dfile_wb.c, dfile_ra.c), which uses them.
 * Everything here is set by kvio_new() and read only afterwards, except
 * the fields a comment names a lock or an atomic for.
 */
#ifndef CORE_KVIO_I_H
#define CORE_KVIO_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kvio.h"

struct aring;
struct bufpool;
struct dfile;
struct rastream;

/* A write-behind buffer goes to the device in pieces of a quarter of it. */
#define WB_PIECES 4

/* One write-behind write in flight: one record per piece of each buffer. */
struct wbio {
	struct wbio *next;	/* in the file's in-flight list */
	struct dfile *f;
	size_t idx;		/* of the pool buffer; WBIO_LENT: none */
	uint64_t off, end;	/* aligned device range */
	/* WBIO_LENT: the lender's, called when the device is done */
	void (*give_back)(void *token);
	void *token;
};

/* A wbio writing a lent buffer (dfile_write_lent()): malloc()ed. */
#define WBIO_LENT	SIZE_MAX

struct kvio_wb {
	struct aring *ring;	/* NULL: write-behind is off */
	struct bufpool *pool;
	size_t piece;		/* bytes: bufpool_size() / WB_PIECES */
	uint64_t page;		/* the page cache's unit */
	struct wbio *ios;	/* [buffer * WB_PIECES + piece] */
	/* per buffer: pieces in flight, plus one while it is a stage */
	_Atomic unsigned *refs;
};

struct kvio_ra {
	struct aring *ring;	/* NULL: read-ahead is off */
	struct bufpool *pool;
	size_t piece;		/* bytes: bufpool_size() */
	uint64_t depth;
	/* every file's stream, for reclaiming idle pieces (dfile_ra.c) */
	pthread_mutex_t mu;	/* before a stream's own lock */
	struct rastream *streams;	/* under mu */
	_Atomic uint64_t reclaimed_ns;	/* when idle pieces were last sought */
};

/* Checksums (dfile_sum.c): the counters are atomics. */
struct kvio_sum {
	bool verify;
	_Atomic uint64_t bad_files, bad_reads, sealed, reread;
	_Atomic unsigned logged;	/* mismatch lines so far */
};

struct kvio {
	struct dio *dio;
	struct kvio_wb wb;
	struct kvio_ra ra;
	struct kvio_sum sum;
};

#endif /* CORE_KVIO_I_H */
