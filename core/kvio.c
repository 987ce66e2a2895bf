/*
 * kvio.c - build and free the I/O engine (kvio.h): the direct-I/O engine,
 * then write-behind and read-ahead, each a buffer pool registered with its
 * own async ring. A part that cannot be built is left off with a warning;
 * the engine is complete without it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aring.h"
#include "bufpool.h"
#include "kvio_i.h"
#include "log.h"

/* Buffers are at least this aligned, whatever the devices ask. */
#define KVIO_MIN_ALIGN	4096

/* A pool of @pp->buffers buffers and a ring for them, registered. */
static int pool_new(const struct kvio_pool_params *pp, size_t align,
		    struct bufpool **pool, struct aring **ring)
{
	unsigned slots = pp->slots ? pp->slots : pp->buffers;
	int rc;

	rc = bufpool_new(pp->buffers, pp->size, align, pool);
	if (rc)
		return rc;
	rc = aring_new(slots, bufpool_base(*pool), pp->buffers * pp->size,
		       ring);
	if (rc) {
		bufpool_free(*pool);
		*pool = NULL;
	}
	return rc;
}

static void wb_free(struct kvio_wb *wb)
{
	aring_free(wb->ring);
	bufpool_free(wb->pool);
	free(wb->ios);
	free((void *)wb->refs);
	memset(wb, 0, sizeof(*wb));
}

static int wb_new(struct kvio_wb *wb, const struct kvio_pool_params *pp,
		  size_t align)
{
	int rc = pool_new(pp, align, &wb->pool, &wb->ring);

	if (rc)
		return rc;
	wb->ios = calloc((size_t)pp->buffers * WB_PIECES, sizeof(*wb->ios));
	wb->refs = calloc(pp->buffers, sizeof(*wb->refs));
	if (!wb->ios || !wb->refs) {
		wb_free(wb);
		return -ENOMEM;
	}
	wb->piece = pp->size / WB_PIECES;
	wb->page = (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

static void ra_free(struct kvio_ra *ra)
{
	aring_free(ra->ring);
	bufpool_free(ra->pool);
	ra->ring = NULL;
	ra->pool = NULL;
}

static int ra_new(struct kvio_ra *ra, const struct kvio_pool_params *pp,
		  size_t depth, size_t align)
{
	int rc = pool_new(pp, align, &ra->pool, &ra->ring);

	if (rc)
		return rc;
	ra->piece = pp->size;
	ra->depth = depth > pp->size ? depth : pp->size;
	return 0;
}

int kvio_new(const struct kvio_params *p, struct kvio **out)
{
	size_t align = p->dio.max_align;
	struct kvio *io;
	int rc;

	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	rc = dio_new(&p->dio, &io->dio);
	if (rc)
		goto err_free;
	rc = -pthread_mutex_init(&io->ra.mu, NULL);
	if (rc)
		goto err_free_dio;
	io->sum.verify = p->verify;
	if (align < KVIO_MIN_ALIGN)
		align = KVIO_MIN_ALIGN;
	if (p->wb.buffers) {
		rc = wb_new(&io->wb, &p->wb, align);
		if (rc)
			log_warn("write-behind off: %s", strerror(-rc));
	}
	if (p->ra.buffers) {
		rc = ra_new(&io->ra, &p->ra, p->ra_depth, align);
		if (rc)
			log_warn("read-ahead off: %s", strerror(-rc));
	}
	*out = io;
	return 0;

err_free_dio:
	dio_free(io->dio);
err_free:
	free(io);
	return rc;
}

void kvio_free(struct kvio *io)
{
	if (!io)
		return;
	wb_free(&io->wb);
	ra_free(&io->ra);
	pthread_mutex_destroy(&io->ra.mu);
	dio_free(io->dio);
	free(io);
}

void kvio_sum_stats(const struct kvio *io, struct kvio_sum_stats *st)
{
	st->bad_files = atomic_load(&io->sum.bad_files);
	st->bad_reads = atomic_load(&io->sum.bad_reads);
	st->sealed = atomic_load(&io->sum.sealed);
	st->reread = atomic_load(&io->sum.reread);
}

void kvio_buffers(const struct kvio *io, struct kvio_buffers *b)
{
	struct bufpool *wb = io->wb.ring ? io->wb.pool : NULL;
	struct bufpool *ra = io->ra.ring ? io->ra.pool : NULL;

	b->wb = wb ? bufpool_count(wb) : 0;
	b->wb_busy = wb ? bufpool_in_use(wb) : 0;
	b->ra = ra ? bufpool_count(ra) : 0;
	b->ra_busy = ra ? bufpool_in_use(ra) : 0;
}

bool kvio_writes_behind(const struct kvio *io)
{
	return io->wb.ring != NULL;
}

bool kvio_reads_ahead(const struct kvio *io)
{
	return io->ra.ring != NULL;
}
