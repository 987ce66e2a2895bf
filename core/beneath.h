/*
 * beneath.h - confined path access: every backing path the daemon touches
 * resolves beneath a device's directory descriptor and follows no symlink.
 *
 * @root is a device's directory descriptor; @path is relative to it, with
 * no leading slash, no "." or ".." component ("" is the root itself). A
 * directory on the way is opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), or, where
 * the kernel has no openat2 (ENOSYS), by a walk of openat(O_PATH |
 * O_NOFOLLOW | O_DIRECTORY) calls that refuses symlinks and a change of
 * st_dev. The final name is then handed to an *at() call on that
 * directory that does not follow it. A path of one name costs no extra
 * call: its directory is @root.
 *
 * Errors besides the call's own: -ELOOP where a symlink stands on the way
 * (or is the file an open was asked for), -EXDEV where a mount point does.
 * Each such refusal is logged once per path (a bounded table; past it one
 * line says further ones go unlogged).
 */
#ifndef CORE_BENEATH_H
#define CORE_BENEATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * Probe openat2 once, at start-up (later calls are no-ops). The
 * environment variable KVSTRIPE_TEST_NO_OPENAT2=1 forces the walk: a test
 * knob, so both ways can be tested on one kernel.
 */
void beneath_init(void);

/* Whether openat2 is used (false: the walk). beneath_init() first. */
bool beneath_has_openat2(void);

/*
 * Open @path with @flags (O_NOFOLLOW and O_CLOEXEC are added) and @mode.
 * Returns the descriptor, or -errno: -ELOOP where @path or a directory on
 * its way is a symlink (with O_PATH the final symlink itself is opened),
 * -EXDEV across a mount point, the open's own errors.
 */
int beneath_open(int root, const char *path, int flags, mode_t mode);

/*
 * Open the directory holding @path's final name (O_PATH) and point *@name
 * at that name inside @path. Returns a descriptor to give back with
 * beneath_close() (@root itself for a path of one name, or for ""; then
 * *@name is "" or the name) or -errno as beneath_open().
 */
int beneath_parent(int root, const char *path, const char **name);

/* Give back a descriptor from beneath_parent(): closes it unless @root. */
void beneath_close(int root, int fd);

/*
 * The *at() calls on @path beneath @root. Each returns 0 (or a count) or
 * -errno; none follows a final symlink.
 *
 * beneath_stat: lstat; "" stats @root.
 * beneath_chown, beneath_chmod, beneath_utimens: the final name is opened
 *   O_PATH first (a mount point there: -EXDEV, as on the way), then
 *   changed by descriptor (beneath_fchown() and the like below); a final
 *   symlink is changed itself, except by chmod: -ELOOP.
 * beneath_rename: renameat2 with @flags; @to may be on another directory.
 * beneath_link: linkat without AT_SYMLINK_FOLLOW.
 * beneath_readlink: the target's length, not terminated.
 */
int beneath_stat(int root, const char *path, struct stat *st);
int beneath_mkdir(int root, const char *path, mode_t mode);
int beneath_mknod(int root, const char *path, mode_t mode, dev_t rdev);
int beneath_symlink(const char *target, int root, const char *path);
int beneath_unlink(int root, const char *path, int flags);
int beneath_chown(int root, const char *path, uid_t uid, gid_t gid);
int beneath_chmod(int root, const char *path, mode_t mode);
int beneath_utimens(int root, const char *path, const struct timespec tv[2]);
int beneath_rename(int root, const char *from, const char *to,
		   unsigned flags);
int beneath_link(int root, const char *from, const char *to);
ssize_t beneath_readlink(int root, const char *path, char *buf, size_t size);

/*
 * Change the object descriptor @fd holds (an O_PATH one from
 * beneath_open() too, a symlink among them): no name is resolved again,
 * so a mount point or symlink planted at the final name since cannot
 * redirect the change. Return 0 or -errno; beneath_fchmod() says -ELOOP
 * for a symlink (whose mode cannot change).
 */
int beneath_fchown(int fd, uid_t uid, gid_t gid);
int beneath_fchmod(int fd, mode_t mode);
int beneath_futimens(int fd, const struct timespec tv[2]);

#endif /* CORE_BENEATH_H */
