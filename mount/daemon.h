/*
 * daemon.h - run kvstripe: from merged settings to a served mount, and back.
 *
 * Only mount/ decides where output goes: stderr until the process
 * daemonizes, syslog afterwards (stderr throughout in the foreground).
 */
#ifndef MOUNT_DAEMON_H
#define MOUNT_DAEMON_H

#include "config.h"

/*
 * Open the devices named by @c->sources, build the filesystem, mount it on
 * @c->mountpoint, daemonize unless @c->foreground, and serve until the mount
 * goes away or a signal arrives; then unmount and free everything.
 * @c must hold sources and a mount point.
 *
 * Returns the process exit status: 0 after an unmount or SIGINT/SIGTERM/
 * SIGHUP, 1 after a startup error (exactly one line on stderr, "kvstripe:
 * ..."), or after a failure once mounted (logged: the I/O engine or the
 * file system's threads could not start, or the FUSE loop failed); the
 * mount is then taken down.
 */
int daemon_run(const struct kv_config *c);

#endif /* MOUNT_DAEMON_H */
