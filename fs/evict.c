/*
 * evict.c - keep the inode table near max_inodes, close idle backing files.
 *
 * The daemon keeps an inode for as long as the kernel holds a lookup
 * reference on it, and the kernel keeps dentries until memory runs short:
 * a find over a million files would grow the table by a million entries.
 * Past the limit, a thread asks the kernel to drop the names of inodes
 * nobody has open (FUSE_NOTIFY_INVAL_ENTRY); the kernel then evicts them
 * and sends FORGET, which frees them here. The next lookup of such a name
 * simply creates the inode again.
 *
 * Victims are picked by a clock sweep over the hash table: an inode looked
 * up since the hand last passed gets a second chance. Only non-directories
 * are asked for: a directory's dentry may be a process's working directory,
 * and dropping it would make getcwd() fail there.
 *
 * The same thread closes backing files left idle for FCACHE_IDLE_MS (see
 * fcache.h): it sleeps until the oldest is due. Every 5 s it also checks
 * that each backing directory is still where it was opened
 * (check_devices()), so it never sleeps longer than that.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "evict.h"
#include "fcache.h"
#include "inode.h"
#include "limit.h"
#include "log.h"

#define EVICT_BATCH 512		/* names dropped per pass */
#define EVICT_SCAN 8192		/* hash buckets looked at per pass, at most */
#define EVICT_PAUSE_MS 1	/* between passes: FORGETs come back meanwhile */
#define EVICT_IDLE_MS 200	/* after a pass that found nothing to drop */
#define DEV_CHECK_MS 5000	/* between looks at the backing directories */

struct victim {
	struct inode *parent;	/* referenced while the name is sent */
	char name[NAME_MAX + 1];
};

static bool evictable(struct kvfs *fs, struct inode *in)
{
	return in != fs->root && !S_ISDIR(in->type) && in->nlookup &&
	       !in->opens && in->names;
}

/* Collect up to @max victims; the caller holds fs->lock. */
static size_t pick_locked(struct kvfs *fs, struct victim *v, size_t max)
{
	size_t n = 0;

	for (size_t s = 0; s < EVICT_SCAN && n < max; s++) {
		size_t b = fs->evict_hand++ & (fs->nbuckets - 1);

		for (struct inode *in = fs->buckets[b]; in && n < max;
		     in = in->hnext) {
			if (!evictable(fs, in))
				continue;
			if (in->recent) {
				in->recent = false;	/* second chance */
				continue;
			}
			v[n].parent = in->names->parent;
			v[n].parent->refs++;
			strcpy(v[n].name, in->names->str);
			n++;
		}
	}
	return n;
}

/* Wait for a kick, or at most @ms; fs->lock held. */
static void wait_ms(struct kvfs *fs, long ms)
{
	struct timespec ts = clock_deadline_ms(ms < 0 ? 0 : (uint64_t)ms);

	pthread_cond_timedwait(&fs->evict_cond, &fs->lock, &ts);
}

static bool over_limit_locked(struct kvfs *fs)
{
	return fs->p.max_inodes && fs->count > fs->p.max_inodes;
}

/* One pass of name dropping; returns the ms to wait before the next. */
static long evict_pass_locked(struct kvfs *fs, struct victim *v)
{
	/* down to 7/8 of the limit, so that passes come in bursts */
	size_t excess = fs->count - fs->p.max_inodes * 7 / 8;
	size_t n = pick_locked(fs, v, excess < EVICT_BATCH ? excess :
						       EVICT_BATCH);

	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_entry(fs->se,
			inode_nodeid(fs, v[i].parent), v[i].name,
			strlen(v[i].name));
	for (size_t i = 0; i < n; i++)
		inode_unref(fs, v[i].parent);
	pthread_mutex_lock(&fs->lock);
	/* nothing to drop (all open, or directories): look less often */
	return n ? EVICT_PAUSE_MS : EVICT_IDLE_MS;
}

/*
 * A backing directory removed or renamed away under a running mount is
 * still served (the daemon holds it open), but new files then land where
 * nobody looks. Say so in the log, once per change.
 */
static void check_devices(struct kvfs *fs)
{
	for (unsigned d = 0; d < fs->ndev; d++) {
		int rc = devset_check(fs->devs, d), was = fs->dev_state[d];
		const char *path = kv_dev(fs, d)->path;

		/* full or not shows in its state while nothing is created */
		limit_takes_new(fs, d);
		fs->dev_state[d] = rc;
		if (rc == was)
			continue;
		if (rc == -ENOENT)
			log_err("device %u: backing directory '%s' was "
				"removed; its files are served from the "
				"removed directory until remounted", d, path);
		else if (rc == -ESTALE)
			log_err("device %u: '%s' no longer names the backing "
				"directory (renamed or replaced); the mount "
				"keeps using the directory it opened", d, path);
		else if (!rc)
			log_info("device %u: backing directory '%s' is in "
				 "place again", d, path);
	}
}

static void *evict_main(void *arg)
{
	struct kvfs *fs = arg;
	struct victim *v = malloc(EVICT_BATCH * sizeof(*v));

	if (!v)
		return NULL;
	pthread_mutex_lock(&fs->lock);
	while (!fs->evict_stop) {
		long wait = fcache_due_locked(fs);

		if (wait == 0) {
			pthread_mutex_unlock(&fs->lock);
			fcache_expire(fs);
			pthread_mutex_lock(&fs->lock);
			continue;
		}
		if (over_limit_locked(fs)) {
			long pause = evict_pass_locked(fs, v);

			if (wait < 0 || pause < wait)
				wait = pause;
		}
		if (kv_now_ms() >= fs->dev_check_at) {
			pthread_mutex_unlock(&fs->lock);
			check_devices(fs);
			/* repeats of device errors, summed while none come */
			deverr_tick(fs->errs);
			pthread_mutex_lock(&fs->lock);
			fs->dev_check_at = kv_now_ms() + DEV_CHECK_MS;
		}
		if (wait < 0 || wait > DEV_CHECK_MS)
			wait = DEV_CHECK_MS;
		if (!fs->evict_stop)
			wait_ms(fs, wait);
	}
	pthread_mutex_unlock(&fs->lock);
	free(v);
	return NULL;
}

void evict_kick_locked(struct kvfs *fs)
{
	if (fs->evict_running && over_limit_locked(fs))
		pthread_cond_signal(&fs->evict_cond);
}

void evict_wake_locked(struct kvfs *fs)
{
	if (fs->evict_running)
		pthread_cond_signal(&fs->evict_cond);
}

int evict_start(struct kvfs *fs)
{
	int rc;

	rc = clock_cond_init(&fs->evict_cond);
	if (rc)
		return rc;
	rc = -pthread_create(&fs->evict_thread, NULL, evict_main, fs);
	if (rc) {
		pthread_cond_destroy(&fs->evict_cond);
		return rc;
	}
	pthread_mutex_lock(&fs->lock);
	fs->evict_running = true;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

void evict_stop(struct kvfs *fs)
{
	pthread_mutex_lock(&fs->lock);
	if (!fs->evict_running) {
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	fs->evict_stop = true;
	fs->evict_running = false;
	pthread_cond_signal(&fs->evict_cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->evict_thread, NULL);
	pthread_cond_destroy(&fs->evict_cond);
}
