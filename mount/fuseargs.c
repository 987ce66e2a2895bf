/*
 * fuseargs.c - the arguments kvstripe gives libfuse: its fixed options and
 * the user's pass-through ones; see fuseargs.h.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuseargs.h"
#include "fuselog.h"

/* The value after the last "@prefix" option in @opts, or NULL. */
static const char *opt_value(const char *opts, const char *prefix)
{
	size_t len = strlen(prefix);
	const char *p, *val = NULL;

	for (p = opts; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, prefix, len))
			val = p + len;
	}
	return val;
}

/* Whether the escaped libfuse option list @opts holds an option @prefix. */
static bool has_opt(const char *opts, const char *prefix)
{
	return opt_value(opts, prefix) != NULL;
}

unsigned fuseargs_max_read(const struct kv_config *c,
			  const struct devset *devs)
{
	const char *user = c->fuse_opts ? opt_value(c->fuse_opts, "max_read=")
					: NULL;

	if (user)
		return (unsigned)strtoul(user, NULL, 10);
	for (unsigned i = 0; i < devset_count(devs); i++)
		if (devset_dev(devs, i)->page_cache)
			return 512 * 1024;
	return 0;
}

int fuseargs_build(const struct kv_config *c, bool debug, unsigned max_read,
		   struct fuse_args *args)
{
	const char *user = c->fuse_opts ? c->fuse_opts : "";
	char fixed[160], mr[32] = "";
	bool others;

	if (max_read && !has_opt(user, "max_read="))
		snprintf(mr, sizeof(mr), ",max_read=%u", max_read);
	/*
	 * The kernel always checks permissions: the daemon runs as root. So
	 * a mount made by root is open to every user as far as modes allow,
	 * as a local filesystem is (FUSE's default would shut out all but
	 * root); -o private, or the user's allow_root, keeps FUSE's way.
	 */
	others = !geteuid() && !c->private_mount &&
		 !has_opt(user, "allow_other") && !has_opt(user, "allow_root");
	snprintf(fixed, sizeof(fixed), "default_permissions%s%s%s%s",
		 others ? ",allow_other" : "",
		 has_opt(user, "fsname=") ? "" : ",fsname=kvstripe",
		 has_opt(user, "subtype=") ? "" : ",subtype=kvstripe", mr);
	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (fuse_opt_add_arg(args, "kvstripe") ||
	    fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, fixed) ||
	    (*user && (fuse_opt_add_arg(args, "-o") ||
		       fuse_opt_add_arg(args, user))) ||
	    (debug && fuse_opt_add_arg(args, "-d"))) {
		fuse_opt_free_args(args);
		return -ENOMEM;
	}
	return 0;
}

int fuseargs_check(const struct kv_config *c, char *err, size_t errlen)
{
	struct fuse_lowlevel_ops none;
	struct fuse_session *se;
	struct fuse_args args;

	if (fuseargs_build(c, false, 0, &args)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(&none, 0, sizeof(none));
	fuselog_capture_start();
	se = fuse_session_new(&args, &none, sizeof(none), NULL);
	if (!se) {
		const char *why = fuselog_capture_stop();

		/* skip the ": " of fuselog_capture_stop() */
		snprintf(err, errlen, "%s",
			 *why ? why + 2 : "invalid FUSE options");
		fuse_opt_free_args(&args);
		return -EINVAL;
	}
	fuselog_capture_stop();
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return 0;
}
