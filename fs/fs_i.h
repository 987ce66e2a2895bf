/*
 * fs_i.h - what every fs/ file shares: the filesystem object, the inode and
 * name structs, and tiny inlines for backing paths. Functions are declared
 * in their own file's header (inode.h, ns.h, dir.h, ...).
 *
 * An inode is named by (parent inode, name) pairs: every name the kernel
 * learned from us. Paths are rebuilt from those on demand, so a rename moves
 * a whole subtree by relinking one name. Lock order: ns_lock, then lock.
 */
#ifndef FS_FS_I_H
#define FS_FS_I_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "caller.h"
#include "kvfs.h"
#include "dev.h"
#include "deverr.h"
#include "health.h"
#include "place.h"

struct devcalls;
struct dfile;
struct slots;
struct stats;
struct transport;
struct dirsnap_listing;

/* A set of devices, bit d for device d (DEV_MAX is 64). */
typedef uint64_t devmask_t;
#define DEVBIT(d) ((devmask_t)1 << (d))

struct name {
	struct name *next;
	struct inode *parent;	/* holds a reference on the parent */
	char str[];
};

struct inode {
	struct inode *hnext;	/* hash chain, protected by fs->lock */
	uint64_t ino;		/* st_ino shown to clients, the table key */
	uint64_t nlookup;	/* kernel's references, protected by fs->lock */
	unsigned refs;		/* children's names and open files */
	mode_t type;		/* S_IFMT bits */
	int dev;		/* device of a non-directory; -1 for directories */
	struct name *names;	/* protected by fs->lock; empty once unlinked */
	/*
	 * Removed while the kernel still holds it (rmdir, or the last
	 * link's unlink or a rename over it, or its number found on an
	 * object of another type since): not found by number again
	 * (inode_link()), and its last attributes, with st_nlink 0, answer
	 * the kernel's GETATTRs (NULL if there was no memory for them).
	 * Both protected by fs->lock.
	 */
	bool gone;
	struct stat *last;

	/*
	 * The backing file has no security.capability: the kernel asks on
	 * every write, and only our own setxattr can add one.
	 */
	_Atomic bool nocap;

	bool recent;		/* looked up since the evictor's hand passed */

	/* a regular file's backing file (fcache.h), protected by fs->lock */
	struct dfile *df;
	unsigned opens;		/* requests using df */
	bool on_lru;		/* df idle, on the list */
	bool kept;		/* unlinked: df stays open until FORGET */
	bool writing;		/* created, not flushed yet: counted in writers */
	bool closing;		/* a detached df is being closed */
	_Atomic uint64_t size_seen; /* st_size of the last attributes
				       given, or at a writer's release */
	struct inode *lru_prev, *lru_next;
	uint64_t idle_since;	/* monotonic ms when df went on the list */
	_Atomic int werr;	/* failure found closing an earlier df */

	/* the write mark (wmark.h): state, writes under way and begun */
	_Atomic unsigned char wmark;	/* enum wmark_state */
	_Atomic unsigned wbusy, wgen;
	_Atomic uint64_t wowner;	/* lock owner of the last write, or 0 */
	_Atomic bool wunsynced;	/* a closed df left page-cache writes */
	_Atomic bool wfailed;	/* a write of the session failed */

	/* limit.h: bytes counted for the file (LIMIT_KNOWN, LIMIT_GONE) */
	_Atomic uint64_t charged;
	_Atomic uint64_t read_ms;	/* reclaim.c: atime last stamped, 0: not */

	/* a directory's listing windows (dir.c), ditto */
	struct dirsnap_listing *listing;
};

struct kvfs {
	/*
	 * First: the transport's I/O hooks find it through the session's
	 * userdata, the kvfs (fs/transport/transport.h).
	 */
	struct transport *tp;
	struct devset *devs;
	struct deverr *errs;	/* device errors for the log */
	struct health *health;	/* each device's state (core/health.h) */
	struct hprobe *_Atomic probe;	/* kvfs_start(): core/hprobe.h */
	/* names made while a device was failed: the probe's (ns_made()) */
	struct shadow *_Atomic shadow;
	struct devcalls *calls;	/* calls with a deadline (core/devcall.h) */
	struct kvio *io;	/* kvfs_start(): every dfile's I/O engine */
	unsigned ndev;
	struct place_policy policy;
	struct kvfs_params p;
	unsigned ino_shift;	/* bits of st_ino that carry the device */
	bool no_opendir;	/* the kernel lists directories without opendir */
	bool splice_reads;	/* page-cache devices' reads are spliced */
	/* files being written per device: new files go to idle devices */
	_Atomic unsigned writers[DEV_MAX];
	/* fcache.c: idle backing files, oldest first, under lock */
	struct inode *lru_first, *lru_last;
	size_t lru_count, fcache_max;
	pthread_cond_t fcache_closed;	/* some inode's closing ended */
	/* wmark.c: state changes of the write mark; devices without it */
	pthread_mutex_t wmark_mu;
	_Atomic bool nomark[DEV_MAX];
	_Atomic unsigned torn_found;	/* torn files found since the mount */
	/* mkent.c: a device below minfree[d] free bytes takes no new files */
	uint64_t minfree[DEV_MAX];
	struct space_avail avail[DEV_MAX];	/* free bytes, sampled */
	_Atomic uint64_t spilled;	/* new files put off a full device */
	/* file.c, mkent.c: what the mount did, for the line at unmount */
	_Atomic uint64_t tally_created;	/* files made by CREATE */
	_Atomic uint64_t tally_read;	/* bytes answered to READs */
	_Atomic uint64_t tally_written;	/* bytes WRITEs took */
	_Atomic uint64_t tally_errors;	/* READs and WRITEs answered an error */
	/* limit.c, reclaim.c: max_size; NULL usage: no limit */
	struct usage *usage;
	uint64_t limit_size;	/* what df shows as the size */
	struct reclaim *reclaim;	/* the usage thread */
	/* the kernel opens files without asking (FUSE_NO_OPEN_SUPPORT) */
	bool no_open;
	/* readers' opens may bypass the page cache (file_open_flags()) */
	bool direct_reads;
	/* the kernel enforces POSIX ACLs and leaves the umask to us */
	bool posix_acl;
	uid_t uid;		/* the daemon's own credentials */
	gid_t gid;

	/*
	 * A directory's rename holds ns_lock exclusively: it is the only
	 * operation that moves names other than its own arguments. Every
	 * other path-based operation, a file's rename too, holds it shared
	 * while its path is in use (a file renamed meanwhile: ns_path_moved).
	 */
	pthread_rwlock_t ns_lock;
	pthread_mutex_t lock;	/* the inode table, names, refs, open state */
	struct inode *root;
	struct inode **buckets;
	size_t nbuckets, count;
	size_t freed;		/* inodes freed since the last malloc_trim */

	/*
	 * evict.c: keeps count near p.max_inodes and closes idle backing
	 * files (fcache_expire()), under lock
	 */
	struct fuse_session *se;
	pthread_t evict_thread;
	pthread_cond_t evict_cond;
	bool evict_running, evict_stop;
	size_t evict_hand;	/* the clock sweep's next bucket */
	uint64_t dev_check_at;	/* when to look at the backing roots again */
	int dev_state[DEV_MAX];	/* what devset_check() said last */

	/* devq.c: each device's slots and queue, and their watchdog */
	struct slots *slots;
	struct stats *stats;	/* requests per device (core/stats.h) */
	pthread_t devq_thread;
	bool devq_running;
	_Atomic bool devq_stop;
	/* parked requests' copies of one block each, kept for reuse */
	pthread_mutex_t park_mu;
	struct devq_spare *park_spare;	/* under park_mu */
	unsigned park_spares;
	uint64_t park_used_ms;		/* when one was last taken */
};

/* Coarse monotonic milliseconds: for timers that need no precision. */
static inline uint64_t kv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Paths relative to a device root are at most this long, NUL included. */
#define KV_PATH_MAX PATH_MAX

static inline const struct dev *kv_dev(struct kvfs *fs, unsigned d)
{
	return devset_dev(fs->devs, d);
}

static inline int kv_rootfd(struct kvfs *fs, unsigned d)
{
	return devset_dev(fs->devs, d)->root_fd;
}

/*
 * A backing call on device @d for @path (relative to its root) failed
 * with @rc: a device error (deverr_is_device()) goes to the error log,
 * which names the first of each kind and sums the rest. @op names the
 * call ("lookup", "unlink", ...).
 */
static inline int kv_dev_note(struct kvfs *fs, const struct deverr_at *at,
			      int rc)
{
	if (rc < 0 && deverr_is_device(rc))
		deverr_note(fs->errs, at, rc);
	return rc;
}

static inline void kv_dev_err(struct kvfs *fs, unsigned d,
			      enum deverr_kind kind, const char *op,
			      const char *path, int rc)
{
	kv_dev_note(fs, &(struct deverr_at){
			.dev = d, .kind = kind, .op = op, .path = path,
			.fd = -1,
		}, rc);
}

/*
 * A metadata call @op ("rename", "setxattr", ...: a literal) on device @d
 * failed with @rc: as kv_dev_err(), naming the file by @path, or if @path
 * is NULL by descriptor @fd (an open file whose name is gone). Each
 * operation calls it in one place. Returns @rc.
 */
static inline int kv_meta_err(struct kvfs *fs, unsigned d, const char *op,
			      const char *path, int fd, int rc)
{
	return kv_dev_note(fs, &(struct deverr_at){
			.dev = d, .kind = DEVERR_META, .op = op, .path = path,
			.fd = fd,
		}, rc);
}

/* The xattrs that hold POSIX ACLs. */
#define XATTR_ACL_ACCESS	"system.posix_acl_access"
#define XATTR_ACL_DEFAULT	"system.posix_acl_default"
/* What fs->posix_acl asks of the kernel. */
#define KV_ACL_CAPS	(FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK)
/* ENAMETOOLONG check for a name from the kernel. */
static inline int kv_check_name(const char *name)
{
	size_t n = 0;

	while (name[n] && n <= NAME_MAX)
		n++;
	return n > NAME_MAX ? -ENAMETOOLONG : 0;
}

/* The filesystem a request is for. */
static inline struct kvfs *kv_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * Act for the request's caller on the backing filesystems (core/caller.h):
 * before anything that may allocate blocks there, so that a caller who is
 * not root stops where the backing filesystem would stop it. Returns 0 or
 * -EPERM.
 */
static inline int kv_as_caller(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return caller_enter((struct caller){ .uid = ctx->uid,
					     .gid = ctx->gid });
}

#endif /* FS_FS_I_H */
