/*
 * rootwait.h - -o require_mounts: wait until every backing directory is on
 * a filesystem other than the one holding /, so that a drive not mounted
 * yet at boot is not filled in its place on the root filesystem.
 *
 * No FUSE header: the unit tests link this file.
 */
#ifndef MOUNT_ROOTWAIT_H
#define MOUNT_ROOTWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Write into @buf (@len bytes) the directory that holds @path: "a/b/c" ->
 * "a/b", "/a" -> "/", "a" -> ".", "/" -> "/"; trailing slashes are ignored.
 * Nothing is looked up. Returns 0, or -ENAMETOOLONG if @buf is too small.
 */
int rootwait_parent(const char *path, char *buf, size_t len);

/*
 * The st_dev of @path, or, if it does not exist, of its nearest existing
 * ancestor; *@exists says which. Returns 0, or -errno of a stat() that
 * failed other than with ENOENT (or -ENAMETOOLONG).
 */
int rootwait_dev_of(const char *path, dev_t *dev, bool *exists);

/*
 * Wait until each of the @count paths is ready: it (or, if missing, its
 * nearest existing ancestor) is on a filesystem other than the one holding
 * "/", and it exists unless @mkdir allows creating it. Checks every 0.5 s
 * for up to @seconds (0: once). Logs one info line when it starts waiting
 * and one when the wait ends in success.
 *
 * Returns 0 when every path is ready, and also when, at the end, each path
 * not ready is off the root filesystem but missing (devset_open() then
 * names it). Returns -ETIMEDOUT with one line in @err naming each path
 * still on the root filesystem and its device number, or -errno of a
 * failed stat() with one line naming the path.
 */
int rootwait_wait(char *const *paths, unsigned count, double seconds,
		  bool mkdir, char *err, size_t errlen);

#endif /* MOUNT_ROOTWAIT_H */
