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
#include "fsck.h"
#include "fuselog.h"
#include "sources.h"
#include "statscmd.h"

/* make passes git describe's version, or the release's (see Makefile) */
#ifndef KVSTRIPE_VERSION
#define KVSTRIPE_VERSION	"unknown"
#endif

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_CONFIG,
	KEY_SETTING,	/* -o KEY=VALUE of a key in the table */
	KEY_FLAG,	/* KEY_FLAG + i: key i of the table set to yes */
};

/* What the command line takes besides the keys of the table. */
static const struct fuse_opt cli_fixed[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("config=", KEY_CONFIG),
	/* FUSE 2's, in old fstab lines: FUSE 3 mounts on non-empty points */
	FUSE_OPT_KEY("nonempty", FUSE_OPT_KEY_DISCARD),
};

#define CLI_NFIXED	(sizeof(cli_fixed) / sizeof(cli_fixed[0]))

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
"       kvstripe fsck SOURCES [--repair] [-j N] [-v] (see kvstripe fsck -h)\n"
"       kvstripe stats MOUNTPOINT [--json | --prometheus] [--watch N]\n"
"\n"
"Show several backing directories as one KV-cache directory.\n"
"SOURCES is a comma-separated list of directories, as LMCache's local_disk\n"
"takes it: /mnt/nvme0/kv,/mnt/nvme1/kv (file:// prefixes allowed).\n"
"\n"
"options:\n");
	kv_config_help_item(stdout, "-h, --help", "print this help and exit");
	kv_config_help_item(stdout, "-V, --version",
			    "print the version and exit");
	kv_config_help_item(stdout, "-o config=FILE",
			    "read settings from an INI file; options given here win over the file");
	kv_config_help(stdout);
	kv_config_help_item(stdout, "-o align.N=BYTES",
			    "force device N's O_DIRECT alignment");
	kv_config_help_item(stdout, "-o minfree.N=SIZE",
			    "device N's minfree, instead of the mount's");
	kv_config_help_item(stdout, "-o max_size.N=SIZE",
			    "the most device N's files may take: bytes or a "
			    "percentage of the device");
	kv_config_help_item(stdout, "-o OPT[,OPT...]",
			    "anything else goes to FUSE: ro, allow_root, ...");
	printf(
"\n"
"default_permissions is always on: the kernel checks access permissions.\n"
"See kvstripe(1) and docs/configuration.md.\n");
}

/* Free what cli_spec_new() made; its -o KEY= templates were allocated. */
static void cli_spec_free(struct fuse_opt *spec)
{
	struct fuse_opt *o;

	if (!spec)
		return;
	for (o = spec; o->templ; o++)
		if (o->value == KEY_SETTING)
			free((char *)o->templ);
	free(spec);
}

/*
 * The spec for fuse_opt_parse(): cli_fixed, then for each key of the table
 * its own option (-f), -o KEY alone (a boolean set to yes) and -o KEY=.
 * Returns 0 and a calloc'ed array ending in FUSE_OPT_END, or -ENOMEM.
 */
static int cli_spec_new(struct fuse_opt **out)
{
	struct fuse_opt *spec, *o;
	const struct kv_key *k;
	size_t i, n = 0;

	while (kv_config_key(n))
		n++;
	spec = calloc(CLI_NFIXED + 3 * n + 1, sizeof(*spec));
	if (!spec)
		return -ENOMEM;
	memcpy(spec, cli_fixed, sizeof(cli_fixed));
	o = spec + CLI_NFIXED;
	for (i = 0; (k = kv_config_key(i)); i++) {
		char *templ;

		if (k->opt)
			*o++ = (struct fuse_opt)FUSE_OPT_KEY(k->opt,
							     KEY_FLAG + i);
		if (k->flags & KV_CLI_BARE)
			*o++ = (struct fuse_opt)FUSE_OPT_KEY(k->name,
							     KEY_FLAG + i);
		if (!(k->flags & KV_CLI_VALUE))
			continue;
		if (asprintf(&templ, "%s=", k->name) < 0) {
			cli_spec_free(spec);
			return -ENOMEM;
		}
		*o++ = (struct fuse_opt)FUSE_OPT_KEY(templ, KEY_SETTING);
	}
	*out = spec;
	return 0;
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

/*
 * -f, -o debug and the like: a boolean of the table set to yes, or another
 * key given alone (-o require_mounts) set to its bare value.
 */
static int cli_flag(struct cli *cl, const struct kv_key *k)
{
	char msg[400];

	if (kv_config_set(&cl->c, k->name, k->bare ? k->bare : "yes", msg,
			  sizeof(msg)))
		return cli_fail(cl, "%s", msg);
	return 0;
}

/* -o align.N=BYTES, -o minfree.N=SIZE: per-device key @key */
static int cli_dev_key(struct cli *cl, const char *arg, const char *key,
		       const char *unit)
{
	const char *num = arg + strlen(key) + 1, *eq = strchr(arg, '=');
	unsigned long index;
	char msg[400], *end;

	if (!eq || eq == num || *num < '0' || *num > '9')
		return cli_fail(cl, "invalid option '%s' (expected %s.N=%s)",
				arg, key, unit);
	errno = 0;
	index = strtoul(num, &end, 10);
	if (errno || end != eq || index >= DEV_MAX)
		return cli_fail(cl, "invalid device number in '%s' (expected 0 to %d)",
				arg, DEV_MAX - 1);
	if (kv_config_set_dev(&cl->c, index, key, eq + 1, msg, sizeof(msg)))
		return cli_fail(cl, "%s", msg);
	return 0;
}

/* Whether @arg is one of our -o options that take a value, given none. */
static bool cli_needs_value(const char *arg)
{
	const struct kv_key *k = kv_config_find(arg);

	if (!strcmp(arg, "config"))
		return true;
	return k && (k->flags & KV_CLI_VALUE) && !(k->flags & KV_CLI_BARE);
}

/* An -o option that is not ours goes to FUSE, unless it is misspelt. */
static int cli_other(struct cli *cl, const char *arg)
{
	if (arg[0] == '-')
		return cli_fail(cl, "unknown option '%s' (see kvstripe --help)",
				arg);
	if (!strncmp(arg, "align.", 6))
		return cli_dev_key(cl, arg, "align", "BYTES");
	if (!strncmp(arg, "minfree.", 8))
		return cli_dev_key(cl, arg, "minfree", "SIZE");
	if (!strncmp(arg, "max_size.", 9))
		return cli_dev_key(cl, arg, "max_size", "SIZE");
	if (cli_needs_value(arg))
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
		if (key >= KEY_FLAG)
			return cli_flag(cl, kv_config_key(key - KEY_FLAG));
		return cli_other(cl, arg);
	}
}

/*
 * Whether SOURCES @arg stands for "the sources are in the config file":
 * the first field of an fstab line must hold something, and mount(8)
 * passes it on.
 */
static bool cli_placeholder(const char *arg)
{
	return !strcmp(arg, "none") || !strcmp(arg, "kvstripe");
}

/*
 * Give the positional arguments their meaning: SOURCES MOUNTPOINT, except
 * that a lone argument is the mount point when the file lists the sources,
 * and that with a file SOURCES "none" or "kvstripe" takes the file's.
 */
static int cli_positional(struct cli *cl, const struct kv_config *file)
{
	static const char *const keys[] = { "sources", "mountpoint" };
	unsigned i, first = 0, skip = 0;
	char msg[400];
	int rc;

	if (cl->npos == 2 && file && cli_placeholder(cl->pos[0])) {
		if (!(file->set & KV_SET_SOURCES)) {
			fprintf(stderr, "kvstripe: SOURCES '%s' means the sources are in the config file, but '%s' has none\n",
				cl->pos[0], cl->c.config);
			return -1;
		}
		skip = 1;
	}
	if (cl->npos == 1 && file && (file->set & KV_SET_SOURCES))
		first = 1;
	for (i = skip; i < cl->npos; i++) {
		rc = kv_config_set(&cl->c, keys[first + i], cl->pos[i], msg,
				   sizeof(msg));
		if (rc == -ENOMEM) {
			fprintf(stderr, "kvstripe: out of memory\n");
			return -1;
		}
		if (rc && !*cl->pos[i]) {
			fprintf(stderr, "kvstripe: empty %s argument\n",
				first + i ? "MOUNTPOINT" : "SOURCES");
			return -1;
		}
		if (rc) {	/* a control character */
			fprintf(stderr, "kvstripe: %s\n", msg);
			return -1;
		}
	}
	return 0;
}

/*
 * SOURCES on the command line and the config file's sources must be the
 * same list, once normalised: neither wins silently (an fstab line and
 * its config= file disagreeing is a mistake in one of them). A list that
 * does not parse is left to daemon_run() to report. Returns 0, or -1
 * after one line on stderr.
 */
static int cli_sources_agree(const struct kv_config *cli,
			     const struct kv_config *file)
{
	char **a, **b, err[256];
	unsigned na, nb, i;
	bool same;

	if (!(cli->set & KV_SET_SOURCES) || !(file->set & KV_SET_SOURCES))
		return 0;
	if (sources_parse(cli->sources, &a, &na, err, sizeof(err)))
		return 0;
	same = !sources_parse(file->sources, &b, &nb, err, sizeof(err)) &&
	       na == nb;
	for (i = 0; same && i < na; i++)
		same = !strcmp(a[i], b[i]);
	sources_free(a, na);
	sources_free(b, nb);	/* NULL if it did not parse */
	if (same)
		return 0;
	fprintf(stderr, "kvstripe: SOURCES '%s' differ from the sources in '%s' ('%s'); give them in one place ('none' or 'kvstripe' as SOURCES takes the file's)\n",
		cli->sources, cli->config, file->sources);
	return -1;
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
	struct fuse_opt *spec = NULL;
	struct kv_config file, cfg;
	struct cli cl;
	char err[1024];
	int rc, status = 1;

	if (argc > 1 && !strcmp(argv[1], "fsck"))
		return fsck_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "stats"))
		return stats_main(argc - 1, argv + 1);
	fuselog_init();
	memset(&cl, 0, sizeof(cl));
	kv_config_init(&cl.c);
	kv_config_init(&file);

	if (cli_spec_new(&spec)) {
		fprintf(stderr, "kvstripe: out of memory\n");
		goto out;
	}
	rc = fuse_opt_parse(&args, &cl, spec, cli_proc);
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
	if (cli_positional(&cl, cl.c.config ? &file : NULL) ||
	    (cl.c.config && cli_sources_agree(&cl.c, &file)))
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
	cli_spec_free(spec);
	fuse_opt_free_args(&args);
	return status;
}
