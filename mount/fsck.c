/*
 * fsck.c - `kvstripe fsck`: parse its command line, open and lock every
 * backing directory (a mounted one is refused: its daemon holds the lock),
 * run the checker (core/check.h), list the problems and sum them up per
 * device, and exit with fsck(8)'s status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "check.h"
#include "config.h"
#include "fsck.h"
#include "log.h"
#include "place.h"
#include "sources.h"

struct fsck {
	struct kv_config cli, file;
	const char *sources;	/* the list in use: cli's or the file's */
	unsigned gpus;
	struct place_rules *rules; /* the config file's [placement] rules */
	unsigned threads;	/* 0: the device count, at least 2 */
	bool repair, verbose, help;
	char **paths;
	unsigned ndev;
	int roots[DEV_MAX];
	bool progress;		/* stderr is a terminal */
};

static void fsck_usage(void)
{
	printf(
"usage: kvstripe fsck SOURCES [--repair] [-j N] [-v] [-o OPT[,OPT...]]\n"
"       kvstripe fsck -o config=FILE [--repair] [-j N] [-v]\n"
"\n"
"Check the backing directories of an unmounted kvstripe: every file's\n"
"write mark and checksums, read from the devices, and which copy of a\n"
"name the mount would serve. SOURCES as the mount takes them.\n"
"\n"
"options:\n");
	kv_config_help_item(stdout, "--repair",
			    "remove torn and corrupt files and stale copies");
	kv_config_help_item(stdout, "-j, --jobs N",
			    "verify N files at a time (default: the device count, at least 2)");
	kv_config_help_item(stdout, "-v, --verbose",
			    "also list clean files and symlinks");
	kv_config_help_item(stdout, "-o config=FILE",
			    "take the sources, gpus and placement rules from the mount's INI file");
	kv_config_help_item(stdout, "-o gpus=N",
			    "the mount's gpus setting (placement); other mount options are ignored");
	kv_config_help_item(stdout, "-h, --help", "print this help and exit");
	printf(
"\n"
"Exit status (ORed): 0 clean, 1 errors found and all removed, 4 errors\n"
"left, 8 operational error. A mounted directory is refused. See kvstripe(1).\n");
}

static int fsck_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fsck_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("kvstripe fsck: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* One item of -o: config=FILE, gpus=N; other mount settings are ignored. */
static int fsck_opt(struct fsck *f, const char *item)
{
	const char *eq = strchr(item, '=');
	char key[64], msg[400];
	int rc;

	if (!eq || eq == item || (size_t)(eq - item) >= sizeof(key))
		return fsck_fail("option '%s' is not KEY=VALUE (see kvstripe fsck --help)",
				 item);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - item), item);
	if (!strcmp(key, "config")) {
		if (f->cli.config || !eq[1])
			return fsck_fail("option 'config' needs one file name");
		f->cli.config = strdup(eq + 1);
		return f->cli.config ? 0 : fsck_fail("out of memory");
	}
	if (!strncmp(key, "align.", 6) || !strncmp(key, "minfree.", 8) ||
	    !strncmp(key, "max_size.", 9))
		return 0;	/* a mount's: nothing to fsck */
	rc = kv_config_set(&f->cli, key, eq + 1, msg, sizeof(msg));
	if (rc == -ENOENT)
		return fsck_fail("unknown option '%s' (see kvstripe fsck --help)",
				 key);
	if (rc)
		return fsck_fail("%s", rc == -ENOMEM ? "out of memory" : msg);
	return 0;
}

static int fsck_opts(struct fsck *f, const char *list)
{
	char *copy = strdup(list), *save = NULL, *item;
	int rc = copy ? 0 : fsck_fail("out of memory");

	for (item = copy ? strtok_r(copy, ",", &save) : NULL; item && !rc;
	     item = strtok_r(NULL, ",", &save))
		rc = fsck_opt(f, item);
	free(copy);
	return rc;
}

static int fsck_jobs(struct fsck *f, const char *arg)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > KV_THREADS_MAX ||
	    arg[0] == '-')
		return fsck_fail("invalid value for -j: '%s' (expected 1 to %d)",
				 arg, KV_THREADS_MAX);
	f->threads = (unsigned)n;
	return 0;
}

static int fsck_args(struct fsck *f, int argc, char *argv[])
{
	static const struct option longs[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	opterr = 0;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, ":j:vho:", longs,
				       NULL)) != -1) {
		switch (c) {
		case 'r': f->repair = true; break;
		case 'v': f->verbose = true; break;
		case 'h': f->help = true; break;
		case 'j': rc = fsck_jobs(f, optarg); break;
		case 'o': rc = fsck_opts(f, optarg); break;
		case ':':
			rc = fsck_fail("option '%s' needs a value",
				       argv[optind - 1]);
			break;
		default:
			rc = fsck_fail("unknown option '%s' (see kvstripe fsck --help)",
				       argv[optind - 1]);
		}
	}
	if (rc || f->help)
		return rc;
	if (optind < argc)
		rc = kv_config_set(&f->cli, "sources", argv[optind++], NULL, 0);
	if (rc)
		return fsck_fail("invalid SOURCES argument (empty, or a control character)");
	if (optind < argc)
		return fsck_fail("unexpected argument '%s' (see kvstripe fsck --help)",
				 argv[optind]);
	return 0;
}

/* The settings: the command line's, else the config file's. */
static int fsck_settings(struct fsck *f)
{
	char err[1024];

	if (f->cli.config && kv_config_load(&f->file, f->cli.config, err,
					    sizeof(err)))
		return fsck_fail("%s", err);
	f->sources = f->cli.set & KV_SET_SOURCES ? f->cli.sources :
		     f->file.set & KV_SET_SOURCES ? f->file.sources : NULL;
	f->gpus = f->cli.set & KV_SET_GPUS ? f->cli.gpus :
		  f->file.set & KV_SET_GPUS ? f->file.gpus : 0;
	if (!f->sources)
		return fsck_fail("no backing directories given (see kvstripe fsck --help)");
	if (place_rules_new((const char *const *)f->file.rules,
			    f->file.nrules, &f->rules, err, sizeof(err)))
		return fsck_fail("cannot compile the placement rules: %s", err);
	if (sources_parse(f->sources, &f->paths, &f->ndev, err, sizeof(err)))
		return fsck_fail("%s", err);
	return 0;
}

/* Open and lock every device; a mounted one is refused. */
static int fsck_open(struct fsck *f)
{
	struct stat st[DEV_MAX];

	for (unsigned d = 0; d < f->ndev; d++) {
		const char *p = f->paths[d];
		int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		f->roots[d] = fd;
		if (fd < 0)
			return fsck_fail("cannot open device %u ('%s'): %s", d,
					 p, strerror(errno));
		if (fstat(fd, &st[d]))
			return fsck_fail("cannot stat device %u ('%s'): %s", d,
					 p, strerror(errno));
		for (unsigned e = 0; e < d; e++)
			if (st[e].st_dev == st[d].st_dev &&
			    st[e].st_ino == st[d].st_ino)
				return fsck_fail("device %u ('%s') is device %u ('%s') again",
						 d, p, e, f->paths[e]);
		if (dev_lock_root(fd))
			return fsck_fail("device %u (%s) is in use by a mounted kvstripe",
					 d, p);
	}
	return 0;
}

static void fsck_progress(void *ctx, const struct check_progress *p)
{
	(void)ctx;
	fprintf(stderr, "\rkvstripe fsck: %llu/%llu files, %llu/%llu MiB\033[K",
		(unsigned long long)p->files_done,
		(unsigned long long)p->files,
		(unsigned long long)(p->bytes_done >> 20),
		(unsigned long long)(p->bytes >> 20));
}

static const struct {
	unsigned flag;
	const char *name;
} fsck_classes[] = {
	{ CHECK_TORN, "torn" },
	{ CHECK_CORRUPT, "corrupt" },
	{ CHECK_STALE, "stale" },
	{ CHECK_UNVERIFIED, "unverified" },
	{ CHECK_MISPLACED, "misplaced" },
	{ CHECK_MOUNT, "mount point (not entered)" },
	{ CHECK_SYMLINK, "symlink (not followed)" },
	{ CHECK_FAILED, "unreadable" },
};

/* "device N: CLASS[, CLASS] [(WHY)][, removed]: PATH" */
static void fsck_line(const struct fsck *f, const struct check_entry *e)
{
	unsigned shown = e->flags;
	char why[256];
	bool first = true;

	if (!f->verbose)
		shown &= ~(unsigned)CHECK_SYMLINK;
	if (!shown && !(f->verbose && e->type == S_IFREG))
		return;
	printf("device %u: ", e->dev);
	for (size_t i = 0; i < sizeof(fsck_classes) / sizeof(*fsck_classes);
	     i++) {
		if (!(shown & fsck_classes[i].flag))
			continue;
		printf("%s%s", first ? "" : ", ", fsck_classes[i].name);
		first = false;
	}
	if (first)
		printf("ok");
	check_why_text(e, why, sizeof(why));
	if (why[0] && (shown & (CHECK_CORRUPT | CHECK_UNVERIFIED |
				CHECK_FAILED)))
		printf(" (%s)", why);
	if (e->repair > 0)
		printf(", removed");
	else if (e->repair < 0)
		printf(", not removed (%s)", e->repair == -ESTALE ?
		       "changed since checked" : strerror(-e->repair));
	printf(": %s\n", e->path);
}

static void fsck_sum(const char *what, const struct check_stats *s,
		     bool repair)
{
	printf("%s: %llu files, %llu bytes checked, %llu torn, %llu corrupt, "
	       "%llu stale, %llu unverified, %llu misplaced",
	       what, (unsigned long long)s->files,
	       (unsigned long long)s->bytes, (unsigned long long)s->torn,
	       (unsigned long long)s->corrupt, (unsigned long long)s->stale,
	       (unsigned long long)s->unverified,
	       (unsigned long long)s->misplaced);
	if (s->symlinks)
		printf(", %llu symlinks", (unsigned long long)s->symlinks);
	if (s->mounts)
		printf(", %llu mount points", (unsigned long long)s->mounts);
	if (s->failed)
		printf(", %llu unreadable", (unsigned long long)s->failed);
	if (repair)
		printf(", %llu removed", (unsigned long long)s->repaired);
	printf("\n");
}

/* Print @r; returns the exit status it calls for. */
static int fsck_report(const struct fsck *f, const struct check_result *r)
{
	struct check_stats t = { 0 };
	char what[64];
	int status = FSCK_CLEAN;

	for (size_t i = 0; i < r->n; i++)
		fsck_line(f, &r->e[i]);
	for (unsigned d = 0; d < f->ndev; d++) {
		const struct check_stats *s = &r->dev[d];

		snprintf(what, sizeof(what), "device %u", d);
		printf("%s (%s)", what, f->paths[d]);
		fsck_sum("", s, f->repair);
		t.files += s->files;
		t.bytes += s->bytes;
		t.torn += s->torn;
		t.corrupt += s->corrupt;
		t.stale += s->stale;
		t.unverified += s->unverified;
		t.misplaced += s->misplaced;
		t.symlinks += s->symlinks;
		t.mounts += s->mounts;
		t.failed += s->failed;
		t.repaired += s->repaired;
		t.unrepaired += s->unrepaired;
	}
	fsck_sum("total", &t, f->repair);
	if (t.unrepaired)
		status = FSCK_LEFT;
	else if (t.repaired)
		status = FSCK_CORRECTED;
	if (t.failed || r->walk_err)
		status |= FSCK_OPERROR;
	return status;
}

/* Check the opened devices; returns the exit status. */
static int fsck_run(struct fsck *f)
{
	struct check_opts o = {
		.policy = { .ndev = f->ndev, .gpus = f->gpus,
			    .rules = f->rules },
		.threads = f->threads ? f->threads :
			   f->ndev > 2 ? f->ndev : 2,
		.repair = f->repair,
		.progress = f->progress ? fsck_progress : NULL,
	};
	struct check_result *r = NULL;
	int rc, status;

	rc = check_run(f->roots, &o, f->verbose, &r);
	if (f->progress)
		fputs("\r\033[K", stderr);
	if (!r) {
		fsck_fail("cannot check: %s", strerror(-rc));
		return FSCK_OPERROR;
	}
	status = fsck_report(f, r);
	fflush(stdout);
	if (r->walk_err)
		fsck_fail("cannot list device %u ('%s%s%s'): %s", r->walk_dev,
			  f->paths[r->walk_dev], *r->walk_path ? "/" : "",
			  r->walk_path, strerror(-r->walk_err));
	check_result_free(r);
	return status;
}

int fsck_main(int argc, char *argv[])
{
	struct fsck f = { .progress = isatty(STDERR_FILENO) };
	int status = FSCK_OPERROR;

	for (unsigned d = 0; d < DEV_MAX; d++)
		f.roots[d] = -1;
	kv_config_init(&f.cli);
	kv_config_init(&f.file);
	log_setup(NULL, LOG_LVL_ERR);	/* refusals are listed, not logged */
	beneath_init();
	if (fsck_args(&f, argc, argv))
		goto out;
	if (f.help) {
		fsck_usage();
		status = FSCK_CLEAN;
		goto out;
	}
	if (!fsck_settings(&f) && !fsck_open(&f))
		status = fsck_run(&f);
out:
	for (unsigned d = 0; d < DEV_MAX; d++)
		if (f.roots[d] >= 0)
			close(f.roots[d]);
	sources_free(f.paths, f.ndev);
	place_rules_free(f.rules);
	kv_config_release(&f.cli);
	kv_config_release(&f.file);
	return status;
}
