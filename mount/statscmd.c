/*
 * statscmd.c - `kvstripe stats`: one getxattr of the mount root's
 * user.kvstripe.stats per look, rendered by statsfmt.c; with --watch, a
 * look every N seconds, and the table shows rates since the last one.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "statscmd.h"
#include "statsfmt.h"

#define STATS_XATTR	"user.kvstripe.stats"

enum format { F_TABLE, F_JSON, F_PROMETHEUS };

static void stats_usage(FILE *out)
{
	fputs("usage: kvstripe stats MOUNTPOINT [--json | --prometheus] "
	      "[--watch N]\n"
	      "\n"
	      "Print a kvstripe mount's statistics: per device its state, "
	      "reads and writes,\nerrors, requests in flight, latency over "
	      "the last minute and space.\n"
	      "\n"
	      "options:\n"
	      "    --json          one JSON object, for programs\n"
	      "    --prometheus    the Prometheus text exposition format\n"
	      "    -w, --watch N   print again every N seconds (the table "
	      "shows rates)\n"
	      "    -h, --help      print this help and exit\n", out);
}

/* The statistics of mount @mnt, parsed. Returns 0 or -1 (said why). */
static int stats_read(const char *mnt, struct statsfmt **out)
{
	char *buf = NULL;
	ssize_t n = 0;
	int rc;

	for (int tries = 0; tries < 8; tries++) {
		ssize_t want = getxattr(mnt, STATS_XATTR, NULL, 0);

		if (want < 0)
			break;
		free(buf);
		/* room for what a device may add meanwhile */
		buf = malloc((size_t)want + 4097);
		if (!buf) {
			fprintf(stderr, "kvstripe stats: out of memory\n");
			return -1;
		}
		n = getxattr(mnt, STATS_XATTR, buf, (size_t)want + 4096);
		if (n >= 0 || errno != ERANGE)
			break;
	}
	if (n < 0 || !buf) {
		int err = errno;

		free(buf);
		if (err == ENODATA || err == ENOTSUP)
			fprintf(stderr, "kvstripe stats: '%s' is not the root "
				"of a kvstripe mount\n", mnt);
		else if (err == E2BIG || err == ERANGE)
			fprintf(stderr, "kvstripe stats: the statistics of "
				"'%s' are larger than an attribute may be (use "
				"-o stats_file)\n", mnt);
		else
			fprintf(stderr, "kvstripe stats: cannot read '%s': "
				"%s\n", mnt, strerror(err));
		return -1;
	}
	buf[n] = '\0';
	rc = statsfmt_parse(buf, out);
	free(buf);
	if (rc) {
		fprintf(stderr, "kvstripe stats: %s\n", rc == -ENOMEM ?
			"out of memory" : "the statistics are not in a known "
			"format (a kvstripe of another version?)");
		return -1;
	}
	return 0;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int stats_print(const struct statsfmt *sf, const struct statsfmt *prev,
		       double secs, enum format f, const char *mnt)
{
	switch (f) {
	case F_JSON:
		return statsfmt_json(sf, stdout);
	case F_PROMETHEUS:
		return statsfmt_prometheus(sf, stdout);
	case F_TABLE:
		break;
	}
	return statsfmt_table(sf, prev, secs, mnt, stdout);
}

/* Print every @every seconds until interrupted or a read fails. */
static int stats_watch(const char *mnt, enum format f, unsigned every)
{
	struct statsfmt *prev = NULL, *sf;
	bool tty = isatty(STDOUT_FILENO);
	double then = 0, now;

	for (;;) {
		if (stats_read(mnt, &sf))
			break;
		now = mono_seconds();
		if (tty && f == F_TABLE)
			fputs("\033[H\033[2J", stdout);
		else if (prev && f == F_TABLE)
			fputc('\n', stdout);
		if (stats_print(sf, prev, now - then, f, mnt) ||
		    fflush(stdout)) {
			statsfmt_free(sf);
			break;
		}
		statsfmt_free(prev);
		prev = sf;
		then = now;
		sleep(every);
	}
	statsfmt_free(prev);
	return 1;
}

int stats_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum format f = F_TABLE;
	unsigned long every = 0;
	struct statsfmt *sf;
	char *end;
	int c, rc;

	while ((c = getopt_long(argc, argv, "w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			f = F_JSON;
			break;
		case 'p':
			f = F_PROMETHEUS;
			break;
		case 'w':
			errno = 0;
			every = strtoul(optarg, &end, 10);
			if (errno || *end || !every || every > 86400 ||
			    *optarg < '0' || *optarg > '9') {
				fprintf(stderr, "kvstripe stats: invalid value "
					"for --watch: '%s' (expected seconds, "
					"1 to 86400)\n", optarg);
				return 2;
			}
			break;
		case 'h':
			stats_usage(stdout);
			return 0;
		default:
			stats_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "kvstripe stats: %s (see kvstripe stats "
			"--help)\n", optind == argc ? "no mount point given" :
			"one mount point at a time");
		return 2;
	}
	if (every)
		return stats_watch(argv[optind], f, (unsigned)every);
	if (stats_read(argv[optind], &sf))
		return 1;
	rc = stats_print(sf, NULL, 0, f, argv[optind]);
	statsfmt_free(sf);
	if (rc || fflush(stdout)) {
		fprintf(stderr, "kvstripe stats: cannot write: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}
