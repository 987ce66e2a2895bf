/*
 * fs_i.h - internals shared by the fs/ files: the filesystem object, the
 * inode table, backing paths and the helpers every operation uses.
 *
 * An inode is named by (parent inode, name) pairs: every name the kernel
 * learned from us. Paths are rebuilt from those on demand, so a rename moves
 * a whole subtree by relinking one name. Lock order: ns_lock, then lock.
 */
#ifndef FS_FS_I_H
#define FS_FS_I_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "kvfs.h"
#include "dev.h"
#include "place.h"

struct dfile;
struct dlisting;

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
	 * link's unlink or a rename over it): not found by number again
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
	struct inode *lru_prev, *lru_next;
	uint64_t idle_since;	/* monotonic ms when df went on the list */
	_Atomic int werr;	/* failure found closing an earlier df */

	/* a directory's listing windows (dir.c), ditto */
	struct dlisting *listing;
};

struct kvfs {
	struct devset *devs;
	unsigned ndev;
	struct place_policy policy;
	struct kvfs_params p;
	unsigned ino_shift;	/* bits of st_ino that carry the device */
	bool no_opendir;	/* the kernel lists directories without opendir */
	bool splice_reads;	/* page-cache devices' reads are spliced */
	/* FUSE_HANDLE_KILLPRIV_V2 is on: strip suid/sgid when asked */
	bool killpriv;
	/* files being written per device: new files go to idle devices */
	_Atomic unsigned writers[DEV_MAX];
	/* fcache.c: idle backing files, oldest first, under lock */
	struct inode *lru_first, *lru_last;
	size_t lru_count, fcache_max;
	pthread_cond_t fcache_closed;	/* some inode's closing ended */
	/* the kernel opens files without asking (FUSE_NO_OPEN_SUPPORT) */
	bool no_open;
	/* the kernel enforces POSIX ACLs and leaves the umask to us */
	bool posix_acl;
	uid_t uid;		/* the daemon's own credentials */
	gid_t gid;

	/*
	 * rename holds ns_lock exclusively: it is the only operation that
	 * moves names other than its own arguments. Every path-based
	 * operation holds it shared while its path is in use.
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

	struct fring *ring;	/* fring.c: io_uring serving threads */
	_Atomic unsigned long long ring_served;	/* requests they took */
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

/* A relative path for *at() calls: "" (the root) becomes ".". */
static inline const char *kv_at(const char *path)
{
	return *path ? path : ".";
}

static inline const struct dev *kv_dev(struct kvfs *fs, unsigned d)
{
	return devset_dev(fs->devs, d);
}

static inline int kv_rootfd(struct kvfs *fs, unsigned d)
{
	return devset_dev(fs->devs, d)->root_fd;
}

/*
 * wire.c: the session's reads and writes of /dev/fuse. wire_attach() hooks
 * them in, before the session reads its first request. wire_request():
 * note the request @buf that this thread is about to process (the read
 * hook does it for /dev/fuse, fring.c for the ring). wire_kill_asked():
 * the request being handled on this thread is a WRITE carrying
 * FUSE_WRITE_KILL_SUIDGID (only ever with fs->killpriv).
 * kv_kill_suidgid(): clear the set-id bits of a regular file as the VFS
 * does for the unprivileged caller of @req: the file @fd, or if @fd < 0
 * @path below @dirfd. Returns 1 if a bit went, 0 if none did, or -errno.
 * kv_kill_setid_open(): the same for the file @fd of node @ino, also
 * making the kernel drop the mode it cached; 0 or -errno.
 */
int wire_attach(struct fuse_session *se);
void wire_request(const char *buf, size_t len);
bool wire_kill_asked(void);
int kv_kill_suidgid(fuse_req_t req, int fd, int dirfd, const char *path);
int kv_kill_setid_open(fuse_req_t req, fuse_ino_t ino, int fd);
/* The caller of @req has @gid as its group or a supplementary one. */
bool kv_caller_in_group(fuse_req_t req, gid_t gid);

/*
 * evict.c, with fs->lock held: evict_kick_locked() wakes the evictor if
 * the table is over its limit; evict_wake_locked() wakes it regardless
 * (the first backing file went idle: it has a close to time).
 */
void evict_kick_locked(struct kvfs *fs);
void evict_wake_locked(struct kvfs *fs);
void *evict_main(void *arg);
/* file.c: the open flags of every open and create */
void set_open_flags(struct fuse_file_info *fi);

/* inode.c: the table */
int inode_table_init(struct kvfs *fs);
void inode_table_release(struct kvfs *fs);
uint64_t kv_make_ino(struct kvfs *fs, unsigned dev, ino_t backing);
struct inode *inode_of(struct kvfs *fs, fuse_ino_t nodeid);
fuse_ino_t inode_nodeid(struct kvfs *fs, struct inode *in);
/*
 * Find or create the inode for @ino, add one kernel reference and the name
 * (@parent, @name) (if not known yet), and set its device and type.
 * Returns NULL on -ENOMEM.
 */
struct inode *inode_link(struct kvfs *fs, uint64_t ino, mode_t type, int dev,
			 struct inode *parent, const char *name);
struct inode *inode_find(struct kvfs *fs, uint64_t ino);
void inode_forget(struct kvfs *fs, struct inode *in, uint64_t n);
/* Drop or move a name; the caller holds ns_lock. */
void inode_unname(struct kvfs *fs, struct inode *in, struct inode *parent,
		  const char *name);
/*
 * @in's object, whose stat is @st, is about to be removed: a directory,
 * or a file whose last link this is, is marked gone first, before the
 * backing file system can give its number to an object made meanwhile
 * (struct inode.gone). Returns whether it marked it; inode_ungone() takes
 * that back if the removal failed.
 */
bool inode_gone(struct kvfs *fs, struct inode *in, const struct stat *st);
void inode_ungone(struct kvfs *fs, struct inode *in);
int inode_rename(struct kvfs *fs, struct inode *in, struct inode *oldparent,
		 const char *oldname, struct inode *newparent,
		 const char *newname);
/* Internal references: keep an inode alive across an operation. */
void inode_ref(struct kvfs *fs, struct inode *in);
void inode_unref(struct kvfs *fs, struct inode *in);
/*
 * Write @in's path (relative to the mount, "" for the root) into @buf.
 * Returns its length, -ENOENT once the inode has no name left, or
 * -ENAMETOOLONG.
 */
int inode_path(struct kvfs *fs, struct inode *in, char *buf, size_t size);
/* Path of @name below @parent. Same returns as inode_path(). */
int inode_child_path(struct kvfs *fs, struct inode *parent, const char *name,
		     char *buf, size_t size);

/* ns.c: resolving names across devices */
struct found {
	int dev;		/* device of a non-directory, or the home of a dir */
	devmask_t dirs;		/* devices holding it as a directory */
	struct stat st;		/* from the device that decided */
};
/*
 * Find @path on the devices: the policy's device first, then the others.
 * A non-directory found first wins; a directory is merged over all
 * devices, its attributes from the lowest-numbered one. Returns 0 or
 * -ENOENT (or another -errno if no device could answer).
 */
int kv_resolve(struct kvfs *fs, const char *path, struct found *f);
/* Split @path at its last slash: the parent's length ("" has length 0). */
size_t parent_len(const char *path);
uint64_t found_ino(struct kvfs *fs, const struct found *f);
/*
 * Common start of every operation on (parent, name): check the name, take
 * ns_lock shared and build the path. On failure the lock is not held.
 */
int child_begin(struct kvfs *fs, fuse_ino_t parent, const char *name,
		char *path);
/* remove.c, shared with rename.c */
void sweep_stale(struct kvfs *fs, unsigned keep, const char *path);
int keep_open(struct kvfs *fs, struct inode *in, const struct found *f,
	      const char *path);
int dirs_empty(struct kvfs *fs, devmask_t dirs, const char *path);
int remove_dirs(struct kvfs *fs, devmask_t dirs, const char *path,
		const struct stat *st);
/* Open directory @path on @dev for reading. Returns 0 or -errno. */
int kv_opendir(struct kvfs *fs, unsigned dev, const char *path, DIR **out);
/* Create @path's missing parent directories on @dev (mode, owner copied). */
int kv_make_parents(struct kvfs *fs, unsigned dev, const char *path);
/* The xattrs that hold POSIX ACLs. */
#define XATTR_ACL_ACCESS	"system.posix_acl_access"
#define XATTR_ACL_DEFAULT	"system.posix_acl_default"
/* What fs->posix_acl asks of the kernel. */
#define KV_ACL_CAPS	(FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK)
/*
 * Before making an entry for @req: with fs->posix_acl, take the caller's
 * umask for this thread (which gets a umask of its own on first use), so
 * that the backing file system applies it unless the parent has a
 * default ACL, as it would for the caller. Returns 0 or -errno.
 */
int kv_caller_umask(struct kvfs *fs, fuse_req_t req);
/* Owner a new entry must get, given the caller and the parent directory. */
int kv_set_owner(struct kvfs *fs, fuse_req_t req, unsigned dev,
		 const char *path, int fd, bool is_dir);
/* Reply with the entry for @path below @parent after a create-like op. */
int kv_entry(struct kvfs *fs, struct inode *parent, const char *name,
	     const char *path, struct fuse_entry_param *e, struct inode **out);
/* Fill @st with what clients see for @in (size from its open dfile). */
int kv_getattr(struct kvfs *fs, struct inode *in, struct stat *st);
/* ENAMETOOLONG check for a name from the kernel. */
static inline int kv_check_name(const char *name)
{
	size_t n = 0;

	while (name[n] && n <= NAME_MAX)
		n++;
	return n > NAME_MAX ? -ENAMETOOLONG : 0;
}

/* Common reply helpers */
static inline struct kvfs *kv_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void kv_fill_entry(struct kvfs *fs, struct inode *in, const struct stat *st,
		   struct fuse_entry_param *e);

/* The ops, by file */
void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode);
void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void fs_readlink(fuse_req_t req, fuse_ino_t ino);

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
/* Release @in's listing windows; the caller holds fs->lock. */
void dir_listing_free(struct inode *in);
/*
 * A name in directory @dir was made, removed or moved through the mount
 * (or an attempt may have touched one): listings that begin from now on
 * use no window read before. Call after the change, before replying;
 * takes fs->lock.
 */
void dir_changed(struct kvfs *fs, struct inode *dir);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi);
void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int valid, struct fuse_file_info *fi);
void fs_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif /* FS_FS_I_H */
