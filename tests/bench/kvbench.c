/*
 * kvbench.c - the benchmark driver for tests/bench/run.sh: KV-cache shaped
 * I/O (open + one write(len) or read(len) of a whole file + close) over N
 * threads, a 16-thread KV mix, and create+unlink of empty files. The same
 * binary runs against the backing directories and against the mount, so
 * the only difference between the two numbers is the filesystem.
 *
 * Every 4 KiB block written carries a stamp (file tag, block index) that
 * the read phase checks, so a fast but wrong answer fails the run. Each
 * timed phase prints one line "phase=NAME rate=R unit=U secs=S amount=A
 * ops=N short=K ticks=T" on stdout (T: CPU ticks the process given with -P
 * used during the phase); errors go to stderr with exit status 1.
 *
 * With -T SECS a write or read command is timed from the lookups (or
 * mkdir) of the threads' directories on, not from the phase's start (on
 * a mount with a device in trouble a client may wait there), and ends by
 * itself SECS after it started even if some of its threads are stuck (a
 * request on a hung device): a watchdog thread then prints the phase line
 * with what the threads completed so far (rate = bytes of whole files
 * done / seconds since the lookups began, 0 if no file was done) and
 * "stalled=K", K threads not done, and the process exits with status 3.
 * A thread in an uninterruptible wait keeps the process until that wait
 * ends; the line is written before, so the caller can read it and go on.
 *
 * Built by run.sh with: cc -O2 -pthread -o build/bench/kvbench kvbench.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096		/* stamp granularity and O_DIRECT alignment */
#define HUGE (2u << 20)	/* a transparent huge page (-H) */
#define MAX_DIRS 64

enum mode_flags {
	M_DIRECT = 1 << 0,	/* open with O_DIRECT */
	M_VERIFY = 1 << 1,	/* check the stamps on read */
	M_DROP = 1 << 2,	/* drop the page cache before a read phase */
	M_HUGE = 1 << 3,	/* buffers in transparent huge pages */
};

/* What one thread does in a phase. */
enum phase {
	PH_WRITE,		/* put every file */
	PH_READ,		/* get every file */
	PH_RM,			/* unlink every file, then the thread's directory */
	PH_MIX,			/* put all, get all twice, unlink every other */
	PH_MIX_RM,		/* unlink the survivors of PH_MIX, the directory */
	PH_CREATE,		/* create every file empty */
};

/* What the command was asked to do; read-only while threads run. */
struct opts {
	const char *cmd;
	size_t size;		/* bytes per file */
	int files;		/* files per thread */
	int streams;		/* threads, or threads per worker for mix */
	int flags;		/* enum mode_flags */
	pid_t pid;		/* whose CPU time to report (0: none) */
	int limit;		/* -T: seconds until the watchdog ends it (0: none) */
	int ndirs;
	char *dirs[MAX_DIRS];
};

/* One thread's share of the work and what it measured in this phase. */
struct job {
	const struct opts *o;
	enum phase phase;
	pthread_t tid;
	int id;			/* global thread index */
	int dir;		/* index into o->dirs */
	char base[PATH_MAX / 2];	/* the thread's own directory */
	void *buf;		/* aligned, o->size rounded up to BLOCK */
	size_t bufsize;
	uint64_t bytes;		/* data moved (read by the watchdog: atomic) */
	uint64_t ops;		/* files written, read, created or unlinked */
	int done;		/* the phase's work ended (atomic, for the watchdog) */
	uint64_t shorts;	/* read() calls that returned less than asked */
	int err;		/* 0, or 1 after a reported failure */
};

static pthread_barrier_t start_line;
static double clock_from;	/* -T: phases are timed from here, not their start */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kvbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Report a failure of one thread; the command exits 1 after the phase. */
static int fail(struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kvbench: thread %d: ", j->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	j->err = 1;
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime + stime of PID in clock ticks, from /proc/PID/stat; 0 if none. */
static unsigned long long proc_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the command name may hold spaces and ')': skip to the last ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd < 0 || write(fd, "3\n", 2) != 2)
		die("cannot drop caches: %s (root needed)", strerror(errno));
	close(fd);
}

/* "8M", "32m", "4096", "1G" -> bytes; dies on nonsense. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (end == s || *end || v == 0)
		die("bad size '%s'", s);
	return v;
}

static int parse_int(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v <= 0 || v > 10000000)
		die("bad number '%s'", s);
	return (int)v;
}

/* mkdir that accepts an existing directory; 0 or -errno. */
static int mkdir_ok(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

/*
 * The name of file NR of thread J: shaped like an LMCache key
 * (model@world_size@worker_id@hash@dtype.pt), so the mount sees the names
 * it is built for. The hash field keeps names of different threads apart.
 */
static void file_path(const struct job *j, int nr, char *out, size_t len)
{
	uint64_t h = ((uint64_t)j->id << 32 | (uint32_t)nr) *
		0x9e3779b97f4a7c15ull;

	snprintf(out, len, "%s/llama@1@%d@%016" PRIx64 "@bfloat16.pt",
		 j->base, j->dir, h);
}

static uint64_t file_tag(const struct job *j, int nr)
{
	return (uint64_t)(j->id + 1) << 32 | (uint32_t)nr;
}

/* Put the stamp of file TAG into every block of the buffer. */
static void stamp(struct job *j, uint64_t tag, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += BLOCK) {
		uint64_t st[2] = { tag, off / BLOCK };

		memcpy((char *)j->buf + off, st, sizeof(st));
	}
}

static int check_stamp(struct job *j, const char *path, uint64_t tag,
		       size_t len)
{
	size_t off;

	for (off = 0; off < len; off += BLOCK) {
		uint64_t st[2];

		memcpy(st, (char *)j->buf + off, sizeof(st));
		if (st[0] != tag || st[1] != off / BLOCK)
			return fail(j, "'%s': wrong data at offset %zu", path,
				    off);
	}
	return 0;
}

/*
 * Write one whole file the way LMCache puts a chunk: buffered is
 * open(O_WRONLY|O_CREAT|O_TRUNC) + write(len); O_DIRECT is
 * open(O_WRONLY|O_CREAT|O_DIRECT), no O_TRUNC. A short write is
 * continued, as any writer would.
 */
static int put_file(struct job *j, int nr)
{
	const struct opts *o = j->o;
	char path[PATH_MAX];
	size_t done = 0;
	int fd, flags = O_WRONLY | O_CREAT;

	file_path(j, nr, path, sizeof(path));
	flags |= (o->flags & M_DIRECT) ? O_DIRECT : O_TRUNC;
	stamp(j, file_tag(j, nr), o->size);
	fd = open(path, flags, 0644);
	if (fd < 0)
		return fail(j, "cannot create '%s': %s", path, strerror(errno));
	while (done < o->size) {
		ssize_t n = write(fd, (char *)j->buf + done, o->size - done);

		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			return fail(j, "cannot write '%s': %s", path,
				    strerror(e));
		}
		done += n;
	}
	if (close(fd) < 0)
		return fail(j, "cannot close '%s': %s", path, strerror(errno));
	__atomic_add_fetch(&j->bytes, done, __ATOMIC_RELAXED);
	j->ops++;
	return 0;
}

/*
 * Read one whole file the way LMCache gets a chunk: open + fstat + one
 * read(len). LMCache does not retry a short read, so one is counted (and
 * continued, to keep the stamps checkable).
 */
static int get_file(struct job *j, int nr)
{
	const struct opts *o = j->o;
	char path[PATH_MAX];
	struct stat st;
	size_t done = 0, want;
	int fd, flags = O_RDONLY;

	file_path(j, nr, path, sizeof(path));
	if (o->flags & M_DIRECT)
		flags |= O_DIRECT;
	fd = open(path, flags);
	if (fd < 0)
		return fail(j, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != o->size) {
		close(fd);
		return fail(j, "'%s': size %lld, expected %zu", path,
			    (long long)st.st_size, o->size);
	}
	want = st.st_size;
	while (done < want) {
		ssize_t n = read(fd, (char *)j->buf + done,
				 j->bufsize - done);

		if (n < 0) {
			int e = errno;

			close(fd);
			return fail(j, "cannot read '%s': %s", path,
				    strerror(e));
		}
		if (n == 0)
			break;
		done += n;
		if (done < want)
			j->shorts++;
	}
	close(fd);
	if (done != want)
		return fail(j, "'%s': read %zu of %zu bytes", path, done, want);
	if ((o->flags & M_VERIFY) &&
	    check_stamp(j, path, file_tag(j, nr), want))
		return -1;
	__atomic_add_fetch(&j->bytes, done, __ATOMIC_RELAXED);
	j->ops++;
	return 0;
}

/* Create one empty file (what an evicted-then-refilled slot costs). */
static int create_file(struct job *j, int nr)
{
	char path[PATH_MAX];
	int fd;

	file_path(j, nr, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return fail(j, "cannot create '%s': %s", path, strerror(errno));
	close(fd);
	j->ops++;
	return 0;
}

static int drop_file(struct job *j, int nr)
{
	char path[PATH_MAX];

	file_path(j, nr, path, sizeof(path));
	if (unlink(path) < 0)
		return fail(j, "cannot unlink '%s': %s", path, strerror(errno));
	j->ops++;
	return 0;
}

static void drop_dir(struct job *j)
{
	if (!j->err && rmdir(j->base) < 0)
		fail(j, "cannot remove '%s': %s", j->base, strerror(errno));
}

/* One thread: its files, one after the other, as its phase says. */
static void *worker(void *arg)
{
	struct job *j = arg;
	int n = j->o->files, nr, pass;

	pthread_barrier_wait(&start_line);
	switch (j->phase) {
	case PH_WRITE:
		for (nr = 0; nr < n && !j->err; nr++)
			put_file(j, nr);
		break;
	case PH_READ:
		for (nr = 0; nr < n && !j->err; nr++)
			get_file(j, nr);
		break;
	case PH_CREATE:
		for (nr = 0; nr < n && !j->err; nr++)
			create_file(j, nr);
		break;
	case PH_RM:
		for (nr = 0; nr < n && !j->err; nr++)
			drop_file(j, nr);
		drop_dir(j);
		break;
	case PH_MIX:
		/* a KV-cache I/O thread: put its chunks, get each twice,
		 * evict every other one */
		for (nr = 0; nr < n && !j->err; nr++)
			put_file(j, nr);
		for (pass = 0; pass < 2; pass++)
			for (nr = 0; nr < n && !j->err; nr++)
				get_file(j, nr);
		for (nr = 0; nr < n && !j->err; nr += 2)
			drop_file(j, nr);
		break;
	case PH_MIX_RM:
		for (nr = 1; nr < n && !j->err; nr += 2)
			drop_file(j, nr);
		drop_dir(j);
		break;
	}
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Lay out the threads: for seq and meta, thread i works in dirs[i % ndirs]
 * (so with gpu0/ and gpu1/ both devices get streams); for mix, worker w
 * owns dirs[w] and runs o->streams threads there. Directories are made
 * here, buffers allocated and faulted in, all outside the timing.
 */
static struct job *make_jobs(const struct opts *o, int mix, int data,
			     int *njobs)
{
	int n = mix ? o->ndirs * o->streams : o->streams;
	struct job *jobs = calloc(n, sizeof(*jobs));
	int i, rc;

	if (!jobs)
		die("out of memory");
	for (i = 0; i < n; i++) {
		struct job *j = &jobs[i];

		j->o = o;
		j->id = i;
		j->dir = mix ? i / o->streams : i % o->ndirs;
		if ((size_t)snprintf(j->base, sizeof(j->base), "%s/%s%d",
				     o->dirs[j->dir], mix ? "t" : "s", i) >=
		    sizeof(j->base))
			die("directory name too long: '%s'", o->dirs[j->dir]);
		if (data) {
			size_t al = (o->flags & M_HUGE) ? HUGE : BLOCK;

			j->bufsize = (o->size + al - 1) / al * al;
			if (posix_memalign(&j->buf, al, j->bufsize))
				die("out of memory for %zu bytes", j->bufsize);
			if ((o->flags & M_HUGE) &&
			    madvise(j->buf, j->bufsize, MADV_HUGEPAGE))
				die("madvise(MADV_HUGEPAGE): %s", strerror(errno));
			memset(j->buf, 0xa5, j->bufsize);
		}
	}
	if (o->limit)		/* -T: the directories' lookups are timed */
		clock_from = now();
	for (i = 0; i < n; i++) {
		rc = mkdir_ok(jobs[i].base);
		if (rc)
			die("cannot create '%s': %s", jobs[i].base,
			    strerror(-rc));
	}
	*njobs = n;
	return jobs;
}

static void free_jobs(struct job *jobs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(jobs[i].buf);
	free(jobs);
}

/*
 * The watchdog of -T: what it reports if the deadline passes. Set by
 * watch_phase when a phase starts, under watch.mu.
 */
static struct {
	pthread_mutex_t mu;
	const struct opts *o;
	struct job *jobs;	/* of the running phase, or NULL */
	int n;
	double t0;		/* when the phase began */
	unsigned long long k0;	/* the -P process's ticks then */
	int over;		/* the phase ended and reports itself */
} watch = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void watch_phase(struct job *jobs, int n, double t0,
			unsigned long long k0)
{
	pthread_mutex_lock(&watch.mu);
	watch.jobs = jobs;
	watch.n = n;
	watch.t0 = t0;
	watch.k0 = k0;
	pthread_mutex_unlock(&watch.mu);
}

/* Sleep until the deadline; report what was done and end the process. */
static void *watchdog(void *arg)
{
	const struct opts *o = arg;
	unsigned long long ticks = 0;
	uint64_t bytes = 0;
	double secs = o->limit;
	int i, stalled = o->streams;

	sleep((unsigned)o->limit);
	pthread_mutex_lock(&watch.mu);
	if (watch.over) {
		pthread_mutex_unlock(&watch.mu);
		return NULL;
	}
	if (watch.jobs) {
		stalled = 0;
		for (i = 0; i < watch.n; i++) {
			bytes += __atomic_load_n(&watch.jobs[i].bytes,
						 __ATOMIC_RELAXED);
			stalled += !__atomic_load_n(&watch.jobs[i].done,
						    __ATOMIC_ACQUIRE);
		}
		secs = now() - watch.t0;
		ticks = proc_ticks(o->pid) - watch.k0;
	}
	printf("phase=%s rate=%.1f unit=MiB/s secs=%.4f amount=%" PRIu64
	       " ops=0 short=0 ticks=%llu stalled=%d\n", o->cmd,
	       bytes / 1048576.0 / secs, secs, bytes, ticks,
	       stalled ? stalled : 1);
	fflush(stdout);
	_exit(3);
}

/* What one phase did, summed over its threads. */
struct tally {
	uint64_t bytes, ops, shorts;
	unsigned long long ticks;
	double secs;
};

/*
 * Run PHASE on every job from one start line (threads are made before the
 * clock starts); add what it did to *T. Returns 0, or 1 if any thread
 * failed.
 */
static int run_phase(const struct opts *o, struct job *jobs, int n,
		     enum phase phase, struct tally *t)
{
	unsigned long long k0;
	double t0;
	int i, err = 0;

	pthread_barrier_init(&start_line, NULL, n + 1);
	for (i = 0; i < n; i++) {
		jobs[i].phase = phase;
		jobs[i].bytes = jobs[i].ops = jobs[i].shorts = 0;
		jobs[i].done = 0;
		if (pthread_create(&jobs[i].tid, NULL, worker, &jobs[i]))
			die("cannot start thread %d", i);
	}
	k0 = proc_ticks(o->pid);
	pthread_barrier_wait(&start_line);
	t0 = clock_from ? clock_from : now();
	watch_phase(jobs, n, t0, k0);
	for (i = 0; i < n; i++) {
		pthread_join(jobs[i].tid, NULL);
		t->bytes += jobs[i].bytes;
		t->ops += jobs[i].ops;
		t->shorts += jobs[i].shorts;
		err |= jobs[i].err;
	}
	t->secs += now() - t0;
	t->ticks += proc_ticks(o->pid) - k0;
	pthread_barrier_destroy(&start_line);
	return err;
}

static void report(const char *name, const struct tally *t)
{
	double secs = t->secs > 0 ? t->secs : 1e-9;

	if (t->bytes)
		printf("phase=%s rate=%.1f unit=MiB/s", name,
		       t->bytes / 1048576.0 / secs);
	else
		printf("phase=%s rate=%.1f unit=ops/s", name, t->ops / secs);
	printf(" secs=%.4f amount=%" PRIu64 " ops=%" PRIu64 " short=%" PRIu64
	       " ticks=%llu\n", t->secs, t->bytes ? t->bytes : t->ops, t->ops,
	       t->shorts, t->ticks);
	fflush(stdout);
}

/* One timed phase that is reported under NAME; 0 or 1 (failed). */
static int phase(const struct opts *o, struct job *jobs, int n,
		 enum phase ph, const char *name)
{
	struct tally t = { 0 };
	int err = run_phase(o, jobs, n, ph, &t);

	pthread_mutex_lock(&watch.mu);	/* the watchdog stays quiet now */
	watch.over = 1;
	pthread_mutex_unlock(&watch.mu);
	if (!err)
		report(name, &t);
	return err;
}

/* seq: write, drop caches (with -C), read (checked with -V), remove. */
static int cmd_seq(const struct opts *o)
{
	int n, err;
	struct job *jobs = make_jobs(o, 0, 1, &n);

	err = phase(o, jobs, n, PH_WRITE, "write");
	if (!err) {
		if (o->flags & M_DROP)
			drop_caches();
		err = phase(o, jobs, n, PH_READ, "read");
	}
	err |= phase(o, jobs, n, PH_RM, "rm");
	free_jobs(jobs, n);
	return err;
}

/* One phase on its own: write, read or rm; with -T, a watchdog on it. */
static int cmd_one(const struct opts *o, enum phase ph)
{
	pthread_t wd;
	int n, err;
	struct job *jobs;

	if (o->limit && pthread_create(&wd, NULL, watchdog, (void *)o))
		die("cannot start the watchdog");
	jobs = make_jobs(o, 0, ph != PH_RM, &n);

	if (ph == PH_READ && (o->flags & M_DROP))
		drop_caches();
	err = phase(o, jobs, n, ph, o->cmd);
	free_jobs(jobs, n);
	return err;
}

/* mix: the timed KV phase, then the survivors are removed (reported). */
static int cmd_mix(const struct opts *o)
{
	int n, err;
	struct job *jobs = make_jobs(o, 1, 1, &n);

	if (o->flags & M_DROP)
		drop_caches();
	err = phase(o, jobs, n, PH_MIX, "mix");
	err |= phase(o, jobs, n, PH_MIX_RM, "rm");
	free_jobs(jobs, n);
	return err;
}

/*
 * meta: every thread creates its files, then (after all have) unlinks
 * them. Reported per phase and as "meta": both, one op per create and one
 * per unlink.
 */
static int cmd_meta(const struct opts *o)
{
	struct tally c = { 0 }, u = { 0 }, both;
	int n, err;
	struct job *jobs = make_jobs(o, 0, 0, &n);

	err = run_phase(o, jobs, n, PH_CREATE, &c);
	if (!err)
		err = run_phase(o, jobs, n, PH_RM, &u);
	free_jobs(jobs, n);
	if (err)
		return err;
	report("create", &c);
	report("unlink", &u);
	both = c;
	both.ops += u.ops;
	both.secs += u.secs;
	both.ticks += u.ticks;
	report("meta", &both);
	return 0;
}

/* mkfiles: N empty files in DIR, untimed (fixtures for the RSS check). */
static int cmd_mkfiles(const struct opts *o)
{
	char path[PATH_MAX];
	int i, fd, rc;

	if (strlen(o->dirs[0]) > PATH_MAX / 2)
		die("directory name too long: '%s'", o->dirs[0]);
	rc = mkdir_ok(o->dirs[0]);
	if (rc)
		die("cannot create '%s': %s", o->dirs[0], strerror(-rc));
	for (i = 0; i < o->files; i++) {
		snprintf(path, sizeof(path), "%s/llama@1@0@%016x@bfloat16.pt",
			 o->dirs[0], i);
		fd = open(path, O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			die("cannot create '%s': %s", path, strerror(errno));
		close(fd);
	}
	return 0;
}

static void usage(void)
{
	fputs("usage: kvbench seq|write|read|rm -s SIZE -n FILES -j STREAMS [FLAGS] DIR...\n"
	      "       kvbench mix -s SIZE -n FILES -j THREADS [FLAGS] WDIR...\n"
	      "       kvbench meta -n FILES -j THREADS [-P PID] DIR...\n"
	      "       kvbench mkfiles -n FILES DIR\n"
	      "flags: -D O_DIRECT   -V check the data read   -C drop caches\n"
	      "       before reading   -H buffers in huge pages\n"
	      "       -P PID report PID's CPU ticks per phase\n"
	      "       -T SECS (write, read) time from the directories' lookups;\n"
	      "       end after SECS even if stuck: report what was done\n"
	      "       with stalled=K, exit status 3\n"
	      "seq:   write, read, rm; thread i works in DIR[i %% #DIR]/s<i>/\n"
	      "mix:   one worker per WDIR with -j threads each, in WDIR/t<i>/:\n"
	      "       write, read twice, unlink every other file; then rm\n"
	      "meta:  create FILES empty files per thread, then unlink them\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .files = 1, .streams = 1 };
	int c;

	if (argc < 2)
		usage();
	o.cmd = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "s:n:j:DVCHP:T:")) != -1) {
		switch (c) {
		case 's': o.size = parse_size(optarg); break;
		case 'n': o.files = parse_int(optarg); break;
		case 'j': o.streams = parse_int(optarg); break;
		case 'D': o.flags |= M_DIRECT; break;
		case 'V': o.flags |= M_VERIFY; break;
		case 'C': o.flags |= M_DROP; break;
		case 'H': o.flags |= M_HUGE; break;
		case 'P': o.pid = parse_int(optarg); break;
		case 'T': o.limit = parse_int(optarg); break;
		default: usage();
		}
	}
	for (; optind < argc && o.ndirs < MAX_DIRS; optind++)
		o.dirs[o.ndirs++] = argv[optind];
	if (!o.ndirs || optind < argc)
		usage();
	if (!strcmp(o.cmd, "mkfiles"))
		return cmd_mkfiles(&o);
	if (!strcmp(o.cmd, "meta"))
		return cmd_meta(&o);
	if (!strcmp(o.cmd, "rm"))
		return cmd_one(&o, PH_RM);
	if (!o.size)
		die("'%s' needs -s SIZE", o.cmd);
	if (!strcmp(o.cmd, "seq"))
		return cmd_seq(&o);
	if (!strcmp(o.cmd, "write"))
		return cmd_one(&o, PH_WRITE);
	if (!strcmp(o.cmd, "read"))
		return cmd_one(&o, PH_READ);
	if (!strcmp(o.cmd, "mix"))
		return cmd_mix(&o);
	usage();
	return 2;
}
