/*
 * kvio.h - the I/O engine: everything a dfile does I/O with, built from one
 * parameter struct. It owns the per-thread direct-I/O engine (dio.h), the
 * write-behind buffers and ring, and the read-ahead buffers, ring and
 * depth; no I/O setting lives anywhere else in core/. dfile_open() takes
 * the engine, and a file keeps it until closed.
 *
 * Make it after daemonizing: the rings register the buffer pools with the
 * kernel, and registered buffers are pinned pages of the process that
 * registered them, which a fork does not hand to the child.
 *
 * One engine per device: the engine is a value, nothing in core/ assumes
 * there is only one. Today the daemon makes one for all devices; making
 * one per device (each with its own buffers, rings, ring slots and thread
 * contexts, so a slow device fills only its own) is a change of scope:
 * mount/ calls kvio_new() once per device (max_align that device's), fs/
 * hands dfile_open() the engine of the device the file is on instead of
 * the one engine, and kvio_free() runs per device. dfile.c, dfile_wb.c
 * and dfile_ra.c already reach every buffer, ring and list through the
 * file's engine; a thread that serves several devices keeps one dio
 * context per engine (dio.h).
 */
#ifndef CORE_KVIO_H
#define CORE_KVIO_H

#include <stdbool.h>
#include <stddef.h>

#include "dio.h"

/* A pool of equal I/O buffers and the async ring that moves them. */
struct kvio_pool_params {
	unsigned buffers;	/* 0: the feature is off */
	size_t size;		/* bytes per buffer */
	unsigned slots;		/* ops in flight on the ring at once (a
				 * caller beyond waits), 0: one per buffer */
};

struct kvio_params {
	/* per-thread rings and bounce buffers (dio.h); all required */
	struct dio_params dio;
	/*
	 * Write-behind: dfile_write() copies the data into a buffer (size a
	 * multiple of 4 * every device's alignment), starts the device write
	 * as soon as a quarter buffer of a sequential stream is whole, and
	 * returns; what is left of a stream when it ends goes through the
	 * page cache. A failure is reported by the next dfile_write(),
	 * dfile_settle(), dfile_fsync() or dfile_close() of the file. Reads,
	 * truncates and seeks wait for the writes in flight.
	 */
	struct kvio_pool_params wb;
	/*
	 * Read-ahead: dfile_read_ahead() keeps up to ra_depth bytes ahead of
	 * a sequential reader in flight, one piece of ra.size bytes (a
	 * multiple of every device's alignment) per buffer. A piece is
	 * served only while no write, truncate or fallocate has changed the
	 * file since it was started. A depth under one piece is raised to
	 * one piece.
	 */
	struct kvio_pool_params ra;
	size_t ra_depth;
	/*
	 * Checksums (csum.h): a file written through a dfile gets its record
	 * at dfile_seal(), and every read of a file that has one is checked
	 * against it before its bytes are returned. Off: no hashing, no
	 * checking; a file changed through a dfile loses its record.
	 */
	bool verify;
};

struct kvio;

/*
 * Build an engine from @p (copied). Buffers are aligned to the larger of
 * dio.max_align and 4096. Write-behind or read-ahead that cannot be built
 * (no memory, io_uring refused) is not an error: it is logged as a warning
 * ("write-behind off: ...", "read-ahead off: ...") and the engine works
 * without it. Returns 0 and the engine in *@out, -EINVAL for dio
 * parameters dio_new() refuses, or -ENOMEM.
 */
int kvio_new(const struct kvio_params *p, struct kvio **out);

/*
 * Free @io: every dfile opened with it must be closed, and no other thread
 * may be in a dfile call. NULL is a no-op.
 */
void kvio_free(struct kvio *io);

/* What checksums found since the engine was built. */
struct kvio_sum_stats {
	uint64_t bad_files;	/* files a mismatch was found in */
	uint64_t bad_reads;	/* reads refused for it */
	uint64_t sealed;	/* records stored */
	uint64_t reread;	/* chunks read back from the device to seal */
};

void kvio_sum_stats(const struct kvio *io, struct kvio_sum_stats *st);

/* The buffers of write-behind and read-ahead: all, and in use now (0 0
 * for one that is off). */
struct kvio_buffers {
	unsigned wb, wb_busy;
	unsigned ra, ra_busy;
};

void kvio_buffers(const struct kvio *io, struct kvio_buffers *b);

/* Whether write-behind, or read-ahead, is on. */
bool kvio_writes_behind(const struct kvio *io);
bool kvio_reads_ahead(const struct kvio *io);

#endif /* CORE_KVIO_H */
