/*
 * fuseargs.h - the arguments kvstripe gives fuse_session_new(): its fixed
 * options (default_permissions, allow_other for a root mount, fsname,
 * subtype, max_read), then the user's pass-through options, so that they
 * win, then -d for libfuse's request log.
 */
#ifndef MOUNT_FUSEARGS_H
#define MOUNT_FUSEARGS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dev.h"

/*
 * Largest READ request: the user's max_read if given; with a page-cache
 * device 512 KiB, so that a spliced reply fits the 1 MiB pipe an
 * unprivileged pipe may grow to (libfuse copies instead when it does not).
 * 0: the kernel's own limit. The kernel and libfuse must agree on it.
 */
unsigned fuseargs_max_read(const struct kv_config *c,
			  const struct devset *devs);

/*
 * Build the arguments for settings @c into @args (freed with
 * fuse_opt_free_args()), with -d if @debug and @max_read if not 0 and the
 * user gave none. Returns 0 or -ENOMEM.
 */
int fuseargs_build(const struct kv_config *c, bool debug, unsigned max_read,
		   struct fuse_args *args);

/*
 * Let libfuse judge the pass-through options now, before anything is
 * created on disk: a session that is never mounted costs nothing. Returns
 * 0, or -errno with one line in @err (libfuse's own words where it gave
 * some).
 */
int fuseargs_check(const struct kv_config *c, char *err, size_t errlen);

#endif /* MOUNT_FUSEARGS_H */
