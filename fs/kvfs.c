/*
 * kvfs.c - the kvfs object's life: built over the devices, started once the
 * session is mounted (the transport's hooks, the evictor), stopped after
 * the session loop, freed.
 */
#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "devcall.h"
#include "devq.h"
#include "evict.h"
#include "fcache.h"
#include "fs_i.h"
#include "hprobe.h"
#include "shadow.h"
#include "inode.h"
#include "limit.h"
#include "reclaim.h"
#include "kvfs.h"
#include "transport/transport.h"

/* The transport's I/O hooks get the kvfs; its first member leads to it. */
_Static_assert(offsetof(struct kvfs, tp) == 0, "kvfs.tp must come first");

/*
 * Idle backing files to keep open: a quarter of the descriptors the
 * process may have (a dfile uses one or two), within bounds.
 */
static size_t fcache_limit(void)
{
	struct rlimit rl;
	size_t n = FCACHE_MAX;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < n)
		n = rl.rlim_cur / 4;
	return n < FCACHE_MIN ? FCACHE_MIN : n;
}

/* A request met a device error: the probe looks at the device. */
static void suspect_device(void *arg, unsigned dev, int err)
{
	struct kvfs *fs = arg;

	(void)err;
	hprobe_suspect(atomic_load(&fs->probe), dev);
}

/*
 * The devices' error log and health, naming files below each device's
 * directory, and the queues of calls made with a deadline.
 */
static int errs_new(struct kvfs *fs)
{
	const char *roots[DEV_MAX];
	int rc;

	for (unsigned d = 0; d < fs->ndev; d++)
		roots[d] = kv_dev(fs, d)->path;
	rc = deverr_new(&(struct deverr_params){
				.count = fs->ndev, .roots = roots,
				.on_device = suspect_device,
				.on_device_arg = fs,
			}, &fs->errs);
	if (rc)
		return rc;
	rc = health_new(&(struct health_params){
				.count = fs->ndev, .roots = roots,
				.timeout_ms = fs->p.device_timeout_ms,
			}, &fs->health);
	if (!rc)
		rc = devcall_new(fs->ndev, fs->health, &fs->calls);
	if (rc) {
		health_free(fs->health);
		fs->health = NULL;
		deverr_free(fs->errs);
		fs->errs = NULL;
	}
	return rc;
}

/* The file system's own locks: all made, or none. */
static int locks_init(struct kvfs *fs)
{
	int rc;

	rc = -pthread_rwlock_init(&fs->ns_lock, NULL);
	if (rc)
		return rc;
	rc = -pthread_mutex_init(&fs->lock, NULL);
	if (rc)
		goto err_rwlock;
	rc = -pthread_cond_init(&fs->fcache_closed, NULL);
	if (rc)
		goto err_mutex;
	rc = -pthread_mutex_init(&fs->wmark_mu, NULL);
	if (rc)
		goto err_cond;
	return 0;

err_cond:
	pthread_cond_destroy(&fs->fcache_closed);
err_mutex:
	pthread_mutex_destroy(&fs->lock);
err_rwlock:
	pthread_rwlock_destroy(&fs->ns_lock);
	return rc;
}

static void locks_destroy(struct kvfs *fs)
{
	pthread_mutex_destroy(&fs->wmark_mu);
	pthread_cond_destroy(&fs->fcache_closed);
	pthread_mutex_destroy(&fs->lock);
	pthread_rwlock_destroy(&fs->ns_lock);
}

int kvfs_new(const struct kvfs_params *p, struct kvfs **out)
{
	struct kvfs *fs;
	struct stat st;
	int rc;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->p = *p;
	if (!fs->p.listing_window)
		fs->p.listing_window = KVFS_LISTING_WINDOW;
	fs->devs = p->devs;
	fs->ndev = devset_count(p->devs);
	fs->policy.ndev = fs->ndev;
	fs->policy.gpus = p->gpus;
	fs->policy.rules = p->rules;
	for (unsigned d = 0; p->minfree && d < fs->ndev; d++)
		fs->minfree[d] = p->minfree[d];
	fs->uid = geteuid();
	fs->gid = getegid();
	fs->fcache_max = fcache_limit();
	rc = errs_new(fs);
	if (rc)
		goto err_free;
	rc = devq_new(fs, p->device_slots, p->threads, p->max_background);
	if (rc)
		goto err_errs;
	rc = transport_new(&(struct transport_params){
				   .init_want = TRANSPORT_INIT_KILLPRIV_V2 |
						TRANSPORT_INIT_PARALLEL_DIROPS |
						TRANSPORT_INIT_DIRECT_IO_MMAP,
				   .ring_threads = p->ring_threads,
			   },
			   &fs->tp);
	if (rc)
		goto err_devq;
	rc = locks_init(fs);
	if (rc)
		goto err_transport;
	rc = limit_init(fs);
	if (rc)
		goto err_locks;
	rc = inode_table_init(fs);
	if (rc)
		goto err_limit;
	if (fstat(kv_rootfd(fs, 0), &st)) {
		rc = -errno;
		goto err_table;
	}
	fs->root->ino = inode_make_ino(fs, 0, st.st_ino);
	*out = fs;
	return 0;

err_table:
	inode_table_release(fs);
err_limit:
	limit_release(fs);
err_locks:
	locks_destroy(fs);
err_transport:
	transport_free(fs->tp);
err_devq:
	devq_free(fs);
err_errs:
	devcall_free(fs->calls);
	health_free(fs->health);
	deverr_free(fs->errs);
err_free:
	free(fs);
	return rc;
}

void kvfs_free(struct kvfs *fs)
{
	if (!fs)
		return;
	inode_table_release(fs);
	limit_release(fs);
	locks_destroy(fs);
	transport_free(fs->tp);
	devq_free(fs);
	deverr_free(fs->errs);	/* after the files: closing may fail */
	devcall_free(fs->calls);	/* a worker stuck on a device stays */
	health_free(fs->health);
	free(fs);
}

/* The health probe over every device (core/hprobe.h). */
static int probe_start(struct kvfs *fs)
{
	int fds[DEV_MAX];
	unsigned align[DEV_MAX];
	struct shadow *sh;
	struct hprobe *hp;
	int rc;

	for (unsigned d = 0; d < fs->ndev; d++) {
		fds[d] = kv_rootfd(fs, d);
		align[d] = kv_dev(fs, d)->dio_align;
	}
	rc = shadow_new(fs->ndev, &sh);
	if (rc)
		return rc;
	/* the prober owns the names: a stuck probe may sweep after us */
	rc = hprobe_start(&(struct hprobe_params){
				  .count = fs->ndev, .root_fds = fds,
				  .align = align, .health = fs->health,
				  .shadow = sh,
			  }, &hp);
	if (rc)
		return rc;
	atomic_store(&fs->shadow, sh);
	atomic_store(&fs->probe, hp);
	return 0;
}

int kvfs_serve(struct kvfs *fs, unsigned threads)
{
	return transport_serve(fs->tp, threads);
}

int kvfs_start(struct kvfs *fs, struct fuse_session *se, struct kvio *io)
{
	int rc;

	fs->se = se;
	fs->io = io;
	rc = transport_attach(fs->tp, se);
	if (rc)
		return rc;
	rc = evict_start(fs);
	if (rc)
		return rc;
	rc = reclaim_start(fs);
	if (rc) {
		evict_stop(fs);
		return rc;
	}
	rc = devq_start(fs);
	if (rc)
		goto err_reclaim;
	rc = probe_start(fs);
	if (rc)
		goto err_devq;
	return 0;

err_devq:
	devq_stop(fs);
err_reclaim:
	reclaim_stop(fs);
	evict_stop(fs);
	return rc;
}

void kvfs_stop(struct kvfs *fs)
{
	transport_stop(fs->tp);
	reclaim_stop(fs);
	evict_stop(fs);
	devq_stop(fs);
	/* last: the threads above may still have noted device errors */
	atomic_store(&fs->shadow, NULL);	/* the prober frees it */
	hprobe_stop(atomic_exchange(&fs->probe, NULL));
}

void kvfs_tally(struct kvfs *fs, struct kvfs_tally *out)
{
	out->created = atomic_load_explicit(&fs->tally_created,
					    memory_order_relaxed);
	out->bytes_read = atomic_load_explicit(&fs->tally_read,
					       memory_order_relaxed);
	out->bytes_written = atomic_load_explicit(&fs->tally_written,
						  memory_order_relaxed);
	out->errors = atomic_load_explicit(&fs->tally_errors,
					   memory_order_relaxed);
}
