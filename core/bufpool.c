/*
 * bufpool.c - fixed pool of aligned buffers carved out of one allocation.
 *
 * Free buffers sit on a stack of indexes guarded by one mutex; takers that
 * find it empty sleep on a condition variable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "align.h"
#include "bufpool.h"
#include "iomem.h"

struct bufpool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	char *base;
	size_t size;
	unsigned count;
	unsigned nfree;		/* protected by lock */
	unsigned *free;		/* stack of free indexes, protected by lock */
};

int bufpool_new(unsigned count, size_t size, size_t align,
		struct bufpool **out)
{
	struct bufpool *pool;
	int rc;

	if (!count || !size || !is_pow2(align) || size % align)
		return -EINVAL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->free = calloc(count, sizeof(*pool->free));
	if (!pool->free) {
		rc = -ENOMEM;
		goto err_free_pool;
	}
	pool->base = iomem_alloc((size_t)count * size, align);
	if (!pool->base) {
		rc = -errno;
		goto err_free_stack;
	}
	rc = -pthread_mutex_init(&pool->lock, NULL);
	if (rc)
		goto err_free_mem;
	rc = -pthread_cond_init(&pool->freed, NULL);
	if (rc)
		goto err_destroy_lock;
	pool->size = size;
	pool->count = count;
	for (unsigned i = 0; i < count; i++)
		pool->free[i] = count - 1 - i;
	pool->nfree = count;
	*out = pool;
	return 0;

err_destroy_lock:
	pthread_mutex_destroy(&pool->lock);
err_free_mem:
	free(pool->base);
err_free_stack:
	free(pool->free);
err_free_pool:
	free(pool);
	return rc;
}

void bufpool_free(struct bufpool *pool)
{
	if (!pool)
		return;
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool->base);
	free(pool->free);
	free(pool);
}

void *bufpool_get(struct bufpool *pool, bool wait)
{
	void *buf = NULL;

	pthread_mutex_lock(&pool->lock);
	while (wait && !pool->nfree)
		pthread_cond_wait(&pool->freed, &pool->lock);
	if (pool->nfree)
		buf = pool->base + (size_t)pool->free[--pool->nfree] * pool->size;
	pthread_mutex_unlock(&pool->lock);
	return buf;
}

void bufpool_put(struct bufpool *pool, void *buf)
{
	size_t idx = (size_t)((char *)buf - pool->base) / pool->size;

	pthread_mutex_lock(&pool->lock);
	pool->free[pool->nfree++] = (unsigned)idx;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

size_t bufpool_size(const struct bufpool *pool)
{
	return pool->size;
}

unsigned bufpool_count(const struct bufpool *pool)
{
	return pool->count;
}

unsigned bufpool_in_use(struct bufpool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->lock);
	n = pool->count - pool->nfree;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void *bufpool_base(const struct bufpool *pool)
{
	return pool->base;
}
