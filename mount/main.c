/*
 * main.c - kvstripe's command line: parse it, read the config file, merge
 * the two (the command line wins), check, then hand over to daemon.c.
 *
 * Every startup error is exactly one line on stderr, "kvstripe: ...", and
 * exit status 1; main() returns the status that it or daemon_run() chose.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "fuselog.h"

#ifndef KVSTRIPE_VERSION
#define KVSTRIPE_VERSION	"0.1.0"
#endif

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE,
	KEY_URING,
	KEY_PRIVATE,
	KEY_CONFIG,
	KEY_SETTING,
};

static const struct fuse_opt cli_spec[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_KEY("io_uring", KEY_URING),
	FUSE_OPT_KEY("io_uring=", KEY_SETTING),
	FUSE_OPT_KEY("private", KEY_PRIVATE),
	FUSE_OPT_KEY("private=", KEY_SETTING),
	FUSE_OPT_KEY("config=", KEY_CONFIG),
	/* FUSE 2's, in old fstab lines: FUSE 3 mounts on non-empty points */
	FUSE_OPT_KEY("nonempty", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("gpus=", KEY_SETTING),
	FUSE_OPT_KEY("threads=", KEY_SETTING),
	FUSE_OPT_KEY("max_background=", KEY_SETTING),
	FUSE_OPT_KEY("write_buffers=", KEY_SETTING),
	FUSE_OPT_KEY("write_buffer_kb=", KEY_SETTING),
	FUSE_OPT_KEY("read_ahead_kb=", KEY_SETTING),
	FUSE_OPT_KEY("read_buffers=", KEY_SETTING),
	FUSE_OPT_KEY("max_inodes=", KEY_SETTING),
	FUSE_OPT_KEY("listing_window=", KEY_SETTING),
	FUSE_OPT_KEY("entry_timeout=", KEY_SETTING),
	FUSE_OPT_KEY("attr_timeout=", KEY_SETTING),
	FUSE_OPT_END
};

/* Our -o options that take a value, to catch them given without one. */
static const char *const value_opts[] = {
	"config", "gpus", "threads", "max_background", "write_buffers",
	"write_buffer_kb", "read_ahead_kb", "read_buffers", "max_inodes", "listing_window",
	"entry_timeout", "attr_timeout",
};

struct cli {
	struct kv_config c;
	char *pos[2];		/* SOURCES and MOUNTPOINT as given */
	unsigned npos;
	bool help;
	bool version;
	char err[512];
};

static void usage(void)
{
	printf(
"usage: kvstripe SOURCES MOUNTPOINT [options]\n"
"       kvstripe -o config=FILE [SOURCES] [MOUNTPOINT] [options]\n"
"\n"
"Show several backing directories as one KV-cache directory.\n"
"SOURCES is a comma-separated list of directories, as LMCache's local_disk\n"
"takes it: /mnt/nvme0/kv,/mnt/nvme1/kv (file:// prefixes allowed).\n"
"\n"
"options:\n"
"    -h, --help            print this help and exit\n"
"    -V, --version         print the version and exit\n"
"    -f                    stay in the foreground, log to stderr\n"
"    -d, -o debug          log every request (implies -f)\n"
"    -s                    serve all requests from one thread\n"
"    -o config=FILE        read settings from an INI file; options given\n"
"                          here win over the file\n"
"    -o gpus=N             GPUs in the machine, for gpu<N>/ placement\n"
"                          (0: off, the default)\n"
"    -o threads=N          at most N FUSE worker threads (default %d)\n"
"    -o max_background=N   async requests the kernel may queue (default %d)\n"
"    -o write_buffers=N    write-behind buffers (default %d, 0: off)\n"
"    -o write_buffer_kb=N  size of one, KiB, a power of two (default %d)\n"
"    -o read_ahead_kb=N    the kernel's read-ahead on the mount (default %d)\n"
"    -o read_buffers=N     1 MiB buffers the daemon reads ahead into for\n"
"                          buffered readers (default %d, 0: off)\n"
"    -o max_inodes=N       files the daemon keeps track of before it asks\n"
"                          the kernel to forget some (default %d, 0: no limit)\n"
"    -o listing_window=N   directory entries a listing holds in memory at a\n"
"                          time; larger directories are read in windows\n"
"                          (default %d)\n"
"    -o entry_timeout=S    seconds the kernel may cache names (default 1)\n"
"    -o attr_timeout=S     seconds the kernel may cache attributes (default 1)\n"
"    -o io_uring           also take requests through io_uring (kernel 6.14+\n"
"                          with fuse.enable_uring=1; see configuration.md)\n"
"    -o align.N=BYTES      force device N's O_DIRECT alignment\n"
"    -o private            only the user who mounts may use the mount\n"
"                          (started by root, everyone may, as permissions allow)\n"
"    -o OPT[,OPT...]       anything else goes to FUSE: ro, allow_root, ...\n"
"\n"
"default_permissions is always on: the kernel checks access permissions.\n"
"See kvstripe(1) and docs/configuration.md.\n",
	       KV_DEFAULT_THREADS, KV_DEFAULT_BACKGROUND,
	       KV_DEFAULT_WRITE_BUFFERS, KV_DEFAULT_WRITE_BUFFER_KB,
	       KV_DEFAULT_READ_AHEAD, KV_DEFAULT_READ_BUFFERS,
	       KV_DEFAULT_MAX_INODES,
	       KV_DEFAULT_LISTING_WINDOW);
}

static int cli_fail(struct cli *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int cli_fail(struct cli *cl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cl->err, sizeof(cl->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* -o KEY=VALUE for one of our settings. */
static int cli_setting(struct cli *cl, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[32], msg[400];
	int rc;

	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	rc = kv_config_set(&cl->c, key, eq + 1, msg, sizeof(msg));
	if (rc == -ENOMEM)
		return cli_fail(cl, "out of memory");
	if (rc)
		return cli_fail(cl, "%s", msg);
	return 0;
}

/* -o align.N=BYTES */
static int cli_align(struct cli *cl, const char *arg)
{
	const char *num = arg + 6, *eq = strchr(arg, '=');
	unsigned long index;
	char msg[400], *end;

	if (!eq || eq == num || *num < '0' || *num > '9')
		return cli_fail(cl, "invalid option '%s' (expected align.N=BYTES)",
				arg);
	errno = 0;
	index = strtoul(num, &end, 10);
	if (errno || end != eq || index >= DEV_MAX)
		return cli_fail(cl, "invalid device number in '%s' (expected 0 to %d)",
				arg, DEV_MAX - 1);
	if (kv_config_set_dev(&cl->c, index, "align", eq + 1, msg,
			      sizeof(msg)))
		return cli_fail(cl, "%s", msg);
	return 0;
}

/* An -o option that is not ours goes to FUSE, unless it is misspelt. */
static int cli_other(struct cli *cl, const char *arg)
{
	size_t i;

	if (arg[0] == '-')
		return cli_fail(cl, "unknown option '%s' (see kvstripe --help)",
				arg);
	if (!strncmp(arg, "align.", 6))
		return cli_align(cl, arg);
	for (i = 0; i < sizeof(value_opts) / sizeof(value_opts[0]); i++)
		if (!strcmp(arg, value_opts[i]))
			return cli_fail(cl, "option '%s' needs a value (-o %s=...)",
					arg, arg);
	if (kv_config_add_fuse_opt(&cl->c, arg))
		return cli_fail(cl, "out of memory");
	return 0;
}

static int cli_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct cli *cl = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		cl->help = true;
		return 0;
	case KEY_VERSION:
		cl->version = true;
		return 0;
	case KEY_FOREGROUND:
		cl->c.foreground = true;
		cl->c.set |= KV_SET_FOREGROUND;
		return 0;
	case KEY_DEBUG:
		cl->c.debug = true;
		cl->c.set |= KV_SET_DEBUG;
		return 0;
	case KEY_SINGLE:
		cl->c.single_thread = true;
		cl->c.set |= KV_SET_SINGLE_THREAD;
		return 0;
	case KEY_URING:
		cl->c.io_uring = true;
		cl->c.set |= KV_SET_IO_URING;
		return 0;
	case KEY_PRIVATE:
		cl->c.private_mount = true;
		cl->c.set |= KV_SET_PRIVATE;
		return 0;
	case KEY_CONFIG:
		if (!arg[7])
			return cli_fail(cl, "option 'config' needs a file name");
		if (cl->c.config)
			return cli_fail(cl, "option 'config' given twice ('%s' and '%s')",
					cl->c.config, arg + 7);
		cl->c.config = strdup(arg + 7);
		return cl->c.config ? 0 : cli_fail(cl, "out of memory");
	case KEY_SETTING:
		return cli_setting(cl, arg);
	case FUSE_OPT_KEY_NONOPT:
		if (cl->npos == 2)
			return cli_fail(cl, "unexpected argument '%s' (see kvstripe --help)",
					arg);
		cl->pos[cl->npos] = strdup(arg);
		if (!cl->pos[cl->npos])
			return cli_fail(cl, "out of memory");
		cl->npos++;
		return 0;
	default:
		return cli_other(cl, arg);
	}
}

/*
 * Give the positional arguments their meaning: SOURCES MOUNTPOINT, except
 * that a lone argument is the mount point when the file lists the sources.
 */
static int cli_positional(struct cli *cl, const struct kv_config *file)
{
	static const char *const keys[] = { "sources", "mountpoint" };
	unsigned i, first = 0;
	char msg[400];

	if (cl->npos == 1 && file && (file->set & KV_SET_SOURCES))
		first = 1;
	for (i = 0; i < cl->npos; i++) {
		if (kv_config_set(&cl->c, keys[first + i], cl->pos[i], msg,
				  sizeof(msg))) {
			fprintf(stderr, "kvstripe: empty %s argument\n",
				first + i ? "MOUNTPOINT" : "SOURCES");
			return -1;
		}
	}
	return 0;
}

static void cli_release(struct cli *cl)
{
	kv_config_release(&cl->c);
	free(cl->pos[0]);
	free(cl->pos[1]);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct kv_config file, cfg;
	struct cli cl;
	char err[1024];
	int rc, status = 1;

	fuselog_init();
	memset(&cl, 0, sizeof(cl));
	kv_config_init(&cl.c);
	kv_config_init(&file);

	rc = fuse_opt_parse(&args, &cl, cli_spec, cli_proc);
	if (cl.help || cl.version) {
		if (cl.help)
			usage();
		else
			printf("kvstripe %s (libfuse %s)\n", KVSTRIPE_VERSION,
			       fuse_pkgversion());
		status = 0;
		goto out;
	}
	if (rc) {
		/* libfuse has printed its own complaint if we have none */
		if (cl.err[0])
			fprintf(stderr, "kvstripe: %s\n", cl.err);
		goto out;
	}
	if (cl.c.config) {
		rc = kv_config_load(&file, cl.c.config, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "kvstripe: %s\n", err);
			goto out;
		}
	}
	if (cli_positional(&cl, cl.c.config ? &file : NULL))
		goto out;
	if (kv_config_merge(&cfg, &cl.c, &file)) {
		fprintf(stderr, "kvstripe: out of memory\n");
		goto out;
	}
	if (!cfg.sources)
		fprintf(stderr, "kvstripe: no backing directories given (see kvstripe --help)\n");
	else if (!cfg.mountpoint)
		fprintf(stderr, "kvstripe: no mount point given (see kvstripe --help)\n");
	else
		status = daemon_run(&cfg);
	kv_config_release(&cfg);
out:
	kv_config_release(&file);
	cli_release(&cl);
	fuse_opt_free_args(&args);
	return status;
}
