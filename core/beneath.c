/*
 * beneath.c - confined path access (beneath.h): openat2 with
 * RESOLVE_BENEATH and friends, or a component walk that refuses symlinks
 * and mount points; then the *at() call on the final name, not followed.
 * Invariant: no path reaches the kernel but relative to a directory
 * descriptor resolved this way, and no symlink is followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#include "beneath.h"
#include "log.h"

#define BENEATH_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | \
			 RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define BENEATH_LOGGED 1024	/* refusals logged, one per path */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool use_openat2;

/* Refused paths already logged: hashes, 0 free; guarded by logged_lock. */
static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t logged[BENEATH_LOGGED];
static unsigned nlogged;

static long sys_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned)flags,
		.mode = flags & (O_CREAT | O_TMPFILE) ? mode & 07777 : 0,
		.resolve = BENEATH_RESOLVE,
	};

	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static void probe(void)
{
	const char *knob = getenv("KVSTRIPE_TEST_NO_OPENAT2");
	long fd;

	if (knob && *knob && strcmp(knob, "0")) {
		log_info("openat2 not used (KVSTRIPE_TEST_NO_OPENAT2): "
			 "confining paths by a component walk");
		return;
	}
	fd = sys_openat2(AT_FDCWD, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd >= 0) {
		close((int)fd);
		use_openat2 = true;
		return;
	}
	log_info("openat2 unavailable (%s): confining paths by a component "
		 "walk", strerror(errno));
}

void beneath_init(void)
{
	pthread_once(&probe_once, probe);
}

bool beneath_has_openat2(void)
{
	beneath_init();
	return use_openat2;
}

/* Log a refusal of @path beneath @root once; -ELOOP or -EXDEV only. */
static int refused(int root, const char *path, int rc)
{
	char proc[32], dir[PATH_MAX];
	uint64_t h;
	bool first = true, full = false;
	ssize_t n;

	if (rc != -ELOOP && rc != -EXDEV)
		return rc;
	h = XXH3_64bits_withSeed(path, strlen(path), (uint64_t)root);
	pthread_mutex_lock(&logged_lock);
	for (unsigned i = 0; i < nlogged && i < BENEATH_LOGGED && first; i++)
		first = logged[i] != h;
	if (first && nlogged < BENEATH_LOGGED)
		logged[nlogged++] = h;
	else if (first && nlogged == BENEATH_LOGGED)
		full = ++nlogged;
	else
		first = false;
	pthread_mutex_unlock(&logged_lock);
	if (full) {
		log_warn("%u paths refused: further refusals are not logged",
			 BENEATH_LOGGED);
		return rc;
	}
	if (!first)
		return rc;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", root);
	n = readlink(proc, dir, sizeof(dir) - 1);
	dir[n > 0 ? n : 0] = '\0';
	log_warn("refusing '%s/%s': %s on the way (%s)", dir, path,
		 rc == -ELOOP ? "a symlink" : "a mount point or '..'", strerror(-rc));
	return rc;
}

/* Refuse a name no path of the daemon has: "", ".", "..". */
static bool bad_name(const char *name, size_t len)
{
	return !len || (len == 1 && name[0] == '.') ||
	       (len == 2 && name[0] == '.' && name[1] == '.');
}

/*
 * Where the object @fd holds is mounted: the mount id, which tells a bind
 * mount of the same filesystem apart (st_dev does not), where the
 * filesystem gives out handles; else its st_dev. 0 or -errno.
 */
static int mount_of(int fd, uint64_t *id)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h = { .fh.handle_bytes = MAX_HANDLE_SZ };
	struct stat st;
	int mnt;

	if (!name_to_handle_at(fd, "", &h.fh, &mnt, AT_EMPTY_PATH)) {
		*id = (uint64_t)(unsigned)mnt;
		return 0;
	}
	if (fstat(fd, &st))
		return -errno;
	*id = (uint64_t)st.st_dev | 1ULL << 63;
	return 0;
}

/* The walk: open directory @dir (not empty) beneath @root, O_PATH. */
static int walk(int root, const char *dir)
{
	int cur = root, fd, rc;
	char name[NAME_MAX + 1];
	uint64_t rmnt, mnt;
	struct stat st;

	rc = mount_of(root, &rmnt);
	if (rc)
		return rc;
	while (*dir) {
		size_t len = strcspn(dir, "/");

		if (bad_name(dir, len) || len > NAME_MAX) {
			rc = len > NAME_MAX ? -ENAMETOOLONG : -EXDEV;
			break;
		}
		memcpy(name, dir, len);
		name[len] = '\0';
		dir += len + (dir[len] == '/');
		fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_DIRECTORY |
			    O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			/* O_PATH|O_NOFOLLOW opens a symlink, then ENOTDIR */
			if (rc == -ENOTDIR &&
			    !fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) &&
			    S_ISLNK(st.st_mode))
				rc = -ELOOP;
			break;
		}
		if (cur != root)
			close(cur);
		cur = fd;
		rc = mount_of(cur, &mnt);
		if (!rc && mnt != rmnt)
			rc = -EXDEV;
		if (rc)
			break;
	}
	if (rc) {
		if (cur != root)
			close(cur);
		return rc;
	}
	return cur;
}

/* Open directory @dir (@len bytes of a path) beneath @root, O_PATH. */
static int open_dir(int root, const char *dir, size_t len)
{
	char buf[PATH_MAX];
	long fd;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len);
	buf[len] = '\0';
	if (!use_openat2)
		return walk(root, buf);
	fd = sys_openat2(root, buf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	return fd < 0 ? -errno : (int)fd;
}

int beneath_parent(int root, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	int fd;

	beneath_init();
	if (!*path || !strcmp(path, ".")) {
		*name = ".";
		return root;
	}
	if (!slash) {
		*name = path;
		return root;
	}
	*name = slash + 1;
	fd = open_dir(root, path, (size_t)(slash - path));
	return fd < 0 ? refused(root, path, fd) : fd;
}

void beneath_close(int root, int fd)
{
	if (fd >= 0 && fd != root)
		close(fd);
}

/* The walk's open: the final name by openat on its directory. */
static int walk_open(int root, const char *path, int flags, mode_t mode)
{
	const char *name;
	int dir = beneath_parent(root, path, &name);
	uint64_t rmnt = 0, mnt = 0;
	int fd, rc = 0;

	if (dir < 0)
		return dir;
	fd = openat(dir, name, flags, mode);
	if (fd < 0)
		rc = -errno;
	else
		rc = mount_of(root, &rmnt) ?: mount_of(fd, &mnt);
	if (!rc && mnt != rmnt)
		rc = -EXDEV;
	if (rc && fd >= 0)
		close(fd);
	beneath_close(root, dir);
	return rc ? rc : fd;
}

int beneath_open(int root, const char *path, int flags, mode_t mode)
{
	struct stat st;
	long fd;

	beneath_init();
	if (!*path)
		path = ".";
	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (!use_openat2)
		fd = walk_open(root, path, flags, mode);
	else if ((fd = sys_openat2(root, path, flags, mode)) < 0)
		fd = -errno;
	/* O_DIRECTORY|O_NOFOLLOW on a final symlink says ENOTDIR */
	if (fd == -ENOTDIR && (flags & O_DIRECTORY) &&
	    !beneath_stat(root, path, &st) && S_ISLNK(st.st_mode))
		fd = -ELOOP;
	/* O_NOFOLLOW on a final symlink: ELOOP, as a symlink on the way */
	return fd < 0 ? refused(root, path, (int)fd) : (int)fd;
}

/*
 * Run @call on (dir, name) for @path beneath @root: the parent resolved,
 * the call's result as 0 or -errno.
 */
#define BENEATH_AT(root, path, call)					\
	do {								\
		const char *name;					\
		int dir = beneath_parent((root), (path), &name);	\
		int rc_;						\
									\
		if (dir < 0)						\
			return dir;					\
		rc_ = (call) ? -errno : 0;				\
		beneath_close((root), dir);				\
		return rc_;						\
	} while (0)

int beneath_stat(int root, const char *path, struct stat *st)
{
	BENEATH_AT(root, path,
		   fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW));
}

int beneath_mkdir(int root, const char *path, mode_t mode)
{
	BENEATH_AT(root, path, mkdirat(dir, name, mode));
}

int beneath_mknod(int root, const char *path, mode_t mode, dev_t rdev)
{
	BENEATH_AT(root, path, mknodat(dir, name, mode, rdev));
}

int beneath_symlink(const char *target, int root, const char *path)
{
	BENEATH_AT(root, path, symlinkat(target, dir, name));
}

int beneath_unlink(int root, const char *path, int flags)
{
	BENEATH_AT(root, path, unlinkat(dir, name, flags));
}

int beneath_fchown(int fd, uid_t uid, gid_t gid)
{
	return fchownat(fd, "", uid, gid, AT_EMPTY_PATH) ? -errno : 0;
}

/*
 * chmod by an O_PATH descriptor: fchmod() refuses one, and fchmodat2()
 * with AT_EMPTY_PATH is Linux 6.6. /proc/self/fd/N lands on the object
 * the descriptor holds, as glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does it.
 */
int beneath_fchmod(int fd, mode_t mode)
{
	char proc[32];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (!chmod(proc, mode))
		return 0;
	return errno == EOPNOTSUPP ? -ELOOP : -errno;
}

int beneath_futimens(int fd, const struct timespec tv[2])
{
	char proc[32];

	if (!utimensat(fd, "", tv, AT_EMPTY_PATH))
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* before Linux 5.8, utimensat had no AT_EMPTY_PATH */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return utimensat(AT_FDCWD, proc, tv, 0) ? -errno : 0;
}

/* Run @call on the O_PATH descriptor of @path beneath @root. */
#define BENEATH_OBJ(root, path, call)					\
	do {								\
		int fd = beneath_open((root), (path), O_PATH, 0);	\
		int rc_;						\
									\
		if (fd < 0)						\
			return fd;					\
		rc_ = (call);						\
		close(fd);						\
		return rc_;						\
	} while (0)

int beneath_chown(int root, const char *path, uid_t uid, gid_t gid)
{
	BENEATH_OBJ(root, path, beneath_fchown(fd, uid, gid));
}

int beneath_utimens(int root, const char *path, const struct timespec tv[2])
{
	BENEATH_OBJ(root, path, beneath_futimens(fd, tv));
}

int beneath_chmod(int root, const char *path, mode_t mode)
{
	int fd = beneath_open(root, path, O_PATH, 0);
	int rc;

	if (fd < 0)
		return fd;
	rc = beneath_fchmod(fd, mode);
	close(fd);
	return rc == -ELOOP ? refused(root, path, rc) : rc;
}

ssize_t beneath_readlink(int root, const char *path, char *buf, size_t size)
{
	const char *name;
	int dir = beneath_parent(root, path, &name);
	ssize_t n;

	if (dir < 0)
		return dir;
	n = readlinkat(dir, name, buf, size);
	if (n < 0)
		n = -errno;
	beneath_close(root, dir);
	return n;
}

/* The directories of @from and @to, the second shared where they match. */
static int two_parents(int root, const char *from, const char *to,
		       int dirs[2], const char *names[2])
{
	size_t lf = (size_t)(strrchr(from, '/') ? strrchr(from, '/') - from : 0);
	size_t lt = (size_t)(strrchr(to, '/') ? strrchr(to, '/') - to : 0);

	dirs[0] = beneath_parent(root, from, &names[0]);
	if (dirs[0] < 0)
		return dirs[0];
	if (lf == lt && !strncmp(from, to, lf)) {
		names[1] = lf ? to + lt + 1 : to;
		dirs[1] = dirs[0];
		return 0;
	}
	dirs[1] = beneath_parent(root, to, &names[1]);
	if (dirs[1] < 0) {
		beneath_close(root, dirs[0]);
		return dirs[1];
	}
	return 0;
}

static void two_close(int root, const int dirs[2])
{
	if (dirs[1] != dirs[0])
		beneath_close(root, dirs[1]);
	beneath_close(root, dirs[0]);
}

int beneath_rename(int root, const char *from, const char *to,
		   unsigned flags)
{
	const char *names[2];
	int dirs[2], rc = two_parents(root, from, to, dirs, names);

	if (rc)
		return rc;
	rc = renameat2(dirs[0], names[0], dirs[1], names[1], flags) ?
	     -errno : 0;
	two_close(root, dirs);
	return rc;
}

int beneath_link(int root, const char *from, const char *to)
{
	const char *names[2];
	int dirs[2], rc = two_parents(root, from, to, dirs, names);

	if (rc)
		return rc;
	rc = linkat(dirs[0], names[0], dirs[1], names[1], 0) ? -errno : 0;
	two_close(root, dirs);
	return rc;
}
