/*
 * daemon.c - the session lifecycle: check, open the devices, build the
 * filesystem, mount, daemonize, serve, then tear down in reverse order.
 *
 * Until fuse_daemonize() every failure is one line on stderr and status 1;
 * afterwards lines go to syslog (or stay on stderr in the foreground).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "beneath.h"
#include "daemon.h"
#include "dev.h"
#include "fuseargs.h"
#include "fuselog.h"
#include "kvfs.h"
#include "kvio.h"
#include "log.h"
#include "place.h"
#include "rootwait.h"
#include "signals.h"
#include "sources.h"
#include "statsfile.h"

#define KV_MAX_IO	(1u << 20)	/* FUSE's largest request on 3.14 */
#define KV_QUEUE_DEPTH	64

static void syslog_sink(enum log_level level, const char *line)
{
	static const int prio[] = {
		[LOG_LVL_ERR] = LOG_ERR,
		[LOG_LVL_WARN] = LOG_WARNING,
		[LOG_LVL_INFO] = LOG_INFO,
		[LOG_LVL_DEBUG] = LOG_DEBUG,
	};

	syslog(prio[level], "%s", line);
}

static void startup_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void startup_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kvstripe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The mount point, resolved; NULL after printing why not. */
static char *mountpoint_resolve(const char *path)
{
	struct statfs sf;
	struct stat st;
	char *real;

	/* statfs: a dead FUSE mount may still answer stat from its cache */
	if (stat(path, &st) || statfs(path, &sf)) {
		if (errno == ENOTCONN)	/* a FUSE daemon died under it */
			startup_error("mount point '%s' is a dead FUSE mount (unmount it first: fusermount3 -u %s)",
				      path, path);
		else
			startup_error("cannot access mount point '%s': %s",
				      path, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		startup_error("mount point '%s' is not a directory", path);
		return NULL;
	}
	real = realpath(path, NULL);
	if (!real)
		startup_error("cannot resolve mount point '%s': %s", path,
			      strerror(errno));
	return real;
}

/* Every backing directory's file counts against one process limit. */
static void nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_debug("cannot raise the open file limit: %s",
			  strerror(errno));
}

static void log_devices(const struct devset *devs)
{
	unsigned i;

	for (i = 0; i < devset_count(devs); i++) {
		const struct dev *d = devset_dev(devs, i);
		double gib = (double)d->capacity / (1u << 30);

		log_info("device %u: %s (align %u, mem %u, %.1f GiB%s)", i,
			 d->path, d->dio_align, d->mem_align, gib,
			 d->page_cache ? ", page cache: reads spliced" : "");
	}
}

/*
 * Build the I/O engine from the configuration; after daemonizing, since
 * the engine registers its buffers (core/kvio.h). Read-ahead pieces are
 * 1 MiB, the largest READ the kernel sends; the daemon keeps as much ahead
 * of a sequential reader as the kernel's own read-ahead window. Returns 0
 * or -1 (logged).
 */
static int io_new(const struct kv_config *c, const struct devset *devs,
		  struct kvio **io)
{
	struct kvio_params p = {
		.dio = {
			.queue_depth = KV_QUEUE_DEPTH,
			.max_io = KV_MAX_IO,
			.max_align = devset_max_align(devs),
		},
		.wb = {
			.buffers = c->write_buffers,
			.size = (size_t)c->write_buffer_kb << 10,
		},
		.ra = { .buffers = c->read_buffers, .size = KV_MAX_IO },
		.ra_depth = (size_t)c->read_ahead_kb << 10,
		.verify = c->verify,
	};
	int rc = kvio_new(&p, io);

	if (rc)
		log_err("cannot set up the I/O engine: %s", strerror(-rc));
	return rc ? -1 : 0;
}

/*
 * Set the kernel's read-ahead for the mount on @mnt, before INIT is
 * answered: the kernel then keeps the smaller of this and the INIT reply's
 * max_readahead. The bdi is named after the mount's device number, read
 * from mountinfo: a stat() of the mount point would wait for this very
 * daemon to answer.
 */
static void readahead_set(const char *mnt, unsigned kb)
{
	unsigned major = 0, minor = 0;
	char line[4096], path[96];
	bool found = false;
	FILE *mi, *ra;

	if (!kb)
		return;
	mi = fopen("/proc/self/mountinfo", "re");
	if (!mi)
		return;
	while (fgets(line, sizeof(line), mi)) {
		unsigned maj, min;
		char point[4096];

		/* id parent major:minor root point ...; the last match wins */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min,
			   point) == 3 && !strcmp(point, mnt)) {
			major = maj;
			minor = min;
			found = true;
		}
	}
	fclose(mi);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major, minor);
	ra = fopen(path, "we");
	if (ra) {
		fprintf(ra, "%u\n", kb);
		if (fclose(ra))
			ra = NULL;
	}
	if (!ra)
		log_warn("cannot set read-ahead in '%s': %s", path,
			 strerror(errno));
	else
		log_debug("read-ahead of the mount: %u KiB", kb);
}

/* One run: what daemon_run() builds, in the order it builds it. */
struct daemon {
	const struct kv_config *c;
	char *mnt;		/* the mount point, resolved */
	char **paths;		/* the backing directories, as parsed */
	unsigned npaths;
	struct devset *devs;
	struct kvfs *fs;
	struct place_rules *rules; /* [placement] rules, the kvfs borrows */
	unsigned max_read;	/* of READ requests, 0: the kernel's */
	struct fuse_args args;
	struct fuse_session *se;
	bool mounted;		/* once: the devices are no longer discarded */
	struct kvio *io;	/* the I/O engine, made after daemonizing */
	struct statsfile *stats;	/* -o stats_file's writer, or NULL */
};

/*
 * Check everything that can be checked before anything is created on disk:
 * the mount point, the source list, the per-device options against it,
 * and the options for libfuse. Returns 0 or -1 (reported on stderr).
 */
static int daemon_check(struct daemon *d)
{
	const struct kv_config *c = d->c;
	char err[1024];

	d->mnt = mountpoint_resolve(c->mountpoint);
	if (!d->mnt)
		return -1;
	if (sources_parse(c->sources, &d->paths, &d->npaths, err,
			  sizeof(err)) ||
	    kv_config_check_devices(c, d->npaths, err, sizeof(err)) ||
	    (c->stats_file &&
	     statsfile_check(c->stats_file, err, sizeof(err)))) {
		startup_error("%s", err);
		return -1;
	}
	/*
	 * A mount helper, a service or a boot script runs the daemon in a
	 * directory of its own choosing: a relative path would name some
	 * directory there ("kvstripe" of an fstab line, made by -o mkdir).
	 */
	for (unsigned i = 0; i < d->npaths; i++) {
		if (d->paths[i][0] != '/') {
			startup_error("backing directory '%s' (device %u) is a relative path; give it from / (an fstab line with the sources in its config= file starts with 'none' or 'kvstripe')",
				      d->paths[i], i);
			return -1;
		}
	}
	if (fuseargs_check(c, err, sizeof(err))) {
		startup_error("%s", err);
		return -1;
	}
	return 0;
}

/*
 * Wait for the backing directories to be mounted if asked to, then create
 * (if allowed), open and probe them. Returns 0 or -1.
 */
static int daemon_open_devices(struct daemon *d)
{
	struct dev_opts opts[DEV_MAX];
	char err[1024];
	unsigned i;

	if (d->c->require_mounts >= 0 &&
	    rootwait_wait(d->paths, d->npaths, d->c->require_mounts,
			  d->c->mkdir, err, sizeof(err))) {
		startup_error("%s", err);
		return -1;
	}

	for (i = 0; i < DEV_MAX; i++)
		opts[i] = d->c->dev[i];
	beneath_init();		/* openat2, or the walk: logged if so */
	if (devset_open(d->paths, d->npaths, opts,
			d->c->mkdir ? DEVSET_MKDIR : 0, d->mnt, &d->devs, err,
			sizeof(err))) {
		startup_error("%s", err);
		return -1;
	}
	nofile_raise();
	/* the kernel applied the caller's umask already */
	umask(0);
	return 0;
}

/*
 * The mount's max_size in bytes, 0 for none: a percentage is of all
 * devices' capacity, as df shows it without a limit (devset_statfs()).
 */
static uint64_t max_size_all(const struct kv_config *c,
			     const struct devset *devs)
{
	struct statvfs sv;
	unsigned bad;

	if (!c->max_size.set)
		return 0;
	if (!c->max_size.percent)
		return c->max_size.value;
	if (devset_statfs(devs, &sv, &bad))
		return 0;
	return space_bytes(&c->max_size, (uint64_t)sv.f_blocks * sv.f_frsize);
}

/* Build the filesystem. Returns 0 or -1. */
static int daemon_new_fs(struct daemon *d)
{
	const struct kv_config *c = d->c;
	uint64_t minfree[DEV_MAX], max_size[DEV_MAX];
	struct kvfs_params kp;
	char err[512];
	int rc;

	/* a device's own minfree, else the mount's, else the default */
	for (unsigned i = 0; i < devset_count(d->devs); i++) {
		uint64_t cap = devset_dev(d->devs, i)->capacity;

		minfree[i] = space_bytes(c->dev[i].minfree.set ?
					 &c->dev[i].minfree : &c->minfree,
					 cap);
		/* a max_size is a device's own; not set: none */
		max_size[i] = c->dev[i].max_size.set ?
			      space_bytes(&c->dev[i].max_size, cap) : 0;
	}
	kp.minfree = minfree;
	kp.max_size = max_size;
	kp.max_size_all = max_size_all(c, d->devs);
	kp.evict_high = c->evict_high;
	kp.evict_low = c->evict_low;
	kp.devs = d->devs;
	kp.gpus = c->gpus;
	/* the INI loader compiled each already: only memory can fail */
	rc = place_rules_new((const char *const *)c->rules, c->nrules,
			     &d->rules, err, sizeof(err));
	if (rc) {
		startup_error("cannot compile the placement rules: %s",
			      rc == -ENOMEM ? strerror(-rc) : err);
		return -1;
	}
	kp.rules = d->rules;
	kp.entry_timeout = c->entry_timeout;
	kp.attr_timeout = c->attr_timeout;
	kp.max_background = c->max_background;
	kp.max_write = KV_MAX_IO;
	kp.max_readahead = c->read_ahead_kb * 1024u;
	kp.read_cache = c->read_cache;
	kp.max_inodes = c->max_inodes;
	kp.listing_window = c->listing_window;
	kp.device_timeout_ms = (unsigned)(c->device_timeout * 1000);
	kp.threads = c->single_thread ? 1 : c->threads;
	kp.device_slots = c->device_slots;
	kp.max_read = d->max_read = fuseargs_max_read(c, d->devs);
	/* the ring's threads serve beside the loop's, as many of them */
	kp.ring_threads = c->io_uring && !c->single_thread ? c->threads : 0;
	rc = kvfs_new(&kp, &d->fs);
	if (rc) {
		startup_error("cannot start the filesystem: %s",
			      strerror(-rc));
		return -1;
	}
	return 0;
}

/* Undo daemon_mount(): unmount, and free the session. */
static void daemon_unmount(struct daemon *d)
{
	fuse_session_unmount(d->se);
	signals_remove();
	fuse_session_destroy(d->se);
	fuse_opt_free_args(&d->args);
}

/*
 * Create the FUSE session, mount it, and daemonize unless in the
 * foreground (log lines go to syslog from then on). Returns 0, or -1 with
 * whatever it made undone (reported on stderr).
 */
static int daemon_mount(struct daemon *d)
{
	const struct kv_config *c = d->c;
	int rc;

	if (fuseargs_build(c, c->debug, d->max_read, &d->args)) {
		startup_error("out of memory");
		return -1;
	}
	fuselog_capture_start();
	d->se = fuse_session_new(&d->args, kvfs_ops(),
				 sizeof(struct fuse_lowlevel_ops), d->fs);
	if (!d->se) {
		startup_error("libfuse refused the FUSE options%s",
			      fuselog_capture_stop());
		goto err_free_args;
	}
	fuselog_capture_stop();
	rc = signals_install(d->se);
	if (rc) {
		startup_error("cannot install signal handlers: %s",
			      strerror(-rc));
		goto err_destroy;
	}
	fuselog_capture_start();
	if (fuse_session_mount(d->se, d->mnt)) {
		startup_error("cannot mount on '%s'%s", d->mnt,
			      fuselog_capture_stop());
		goto err_signals;
	}
	fuselog_capture_stop();
	d->mounted = true;
	if (fuse_daemonize(c->foreground)) {
		startup_error("cannot run in the background");
		daemon_unmount(d);
		return -1;
	}
	if (!c->foreground) {
		openlog("kvstripe", LOG_PID, LOG_DAEMON);
		log_setup(syslog_sink, c->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	}
	return 0;

err_signals:
	signals_remove();
err_destroy:
	fuse_session_destroy(d->se);
err_free_args:
	fuse_opt_free_args(&d->args);
	return -1;
}

static void daemon_announce(const struct daemon *d)
{
	const struct kv_config *c = d->c;

	log_info("mounted %u device%s on %s (gpus %u, %s)", d->npaths,
		 d->npaths == 1 ? "" : "s", d->mnt, c->gpus,
		 c->single_thread ? "single thread" : "multi-threaded");
	log_devices(d->devs);
}

/* One line, once the loop ended, of what the mount did. */
static void log_tally(const struct daemon *d)
{
	struct kvfs_tally t;

	kvfs_tally(d->fs, &t);
	log_info("served %s: %" PRIu64 " file%s created, %" PRIu64
		 " bytes read, %" PRIu64 " bytes written, %" PRIu64
		 " read or write error%s", d->mnt, t.created,
		 t.created == 1 ? "" : "s", t.bytes_read, t.bytes_written,
		 t.errors, t.errors == 1 ? "" : "s");
}

/*
 * Start the I/O engine and the file system's own threads and hooks
 * (transport, evictor), and serve until unmounted or signalled. Returns
 * the exit status: 0 after an unmount or a signal, 1 after a failure
 * (logged).
 */
static int daemon_serve(struct daemon *d)
{
	sigset_t saved;
	int rc, sig;

	readahead_set(d->mnt, d->c->read_ahead_kb);
	/* their threads leave SIGINT, SIGTERM, SIGHUP to the loop's thread */
	signals_block(&saved);
	if (io_new(d->c, d->devs, &d->io)) {
		signals_unblock(&saved);
		return 1;
	}
	rc = kvfs_start(d->fs, d->se, d->io);
	if (!rc && d->c->stats_file &&
	    (rc = statsfile_start(d->fs, d->c->stats_file,
				  d->c->stats_interval, &d->stats)))
		kvfs_stop(d->fs);
	signals_unblock(&saved);
	if (rc) {
		log_err("cannot start serving: %s", strerror(-rc));
		return 1;
	}
	/* until unmounted or signalled */
	rc = kvfs_serve(d->fs, d->c->single_thread ? 1 : d->c->threads);
	statsfile_stop(d->stats);	/* the last numbers, then the thread */
	kvfs_stop(d->fs);
	log_tally(d);
	sig = signals_caught();
	if (rc < 0) {
		log_err("serving the mount failed: %s", strerror(-rc));
		return 1;
	}
	if (sig)
		log_info("stopping on signal %d", sig);
	return 0;
}

int daemon_run(const struct kv_config *c)
{
	struct daemon d = { .c = c };
	int status = 1;

	/*
	 * A fixed mmap threshold: glibc would otherwise raise it to the
	 * largest block freed so far, and the listing snapshot of the next
	 * huge directory (fs/dir.c) would stay in the heap once freed.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	log_setup(NULL, c->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);

	if (daemon_check(&d) || daemon_open_devices(&d))
		goto out;
	if (daemon_new_fs(&d))
		goto out_devs;
	if (!daemon_mount(&d)) {
		daemon_announce(&d);
		status = daemon_serve(&d);
		daemon_unmount(&d);
	}
	kvfs_free(d.fs);	/* closes open files: write-behind drains */
	kvio_free(d.io);
out_devs:
	place_rules_free(d.rules);
	if (d.mounted)
		devset_free(d.devs);
	else	/* leave no trace of a mount that never was */
		devset_discard(d.devs);
out:
	sources_free(d.paths, d.npaths);
	free(d.mnt);
	return status;
}
