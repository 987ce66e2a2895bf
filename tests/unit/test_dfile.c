/*
 * test_dfile.c - unit tests for O_DIRECT backing files (core/dfile.c).
 *
 * Files live in a fresh directory under /var/tmp. The main test replays a
 * long random mix of writes, reads, truncates and settles against an
 * in-memory model; the others pin down padding, holes, errors and threads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "align.h"
#include "deverr.h"
#include "dfile.h"
#include "kvio.h"
#include "log.h"
#include "t_rand.h"
#include "t_tmpdir.h"

/* The engine every file of a test is opened with. */
static struct kvio *t_io;

static void t_setup(void)
{
	struct kvio_params p = { .dio = T_DIO_PARAMS };

	t_tmpdir_setup("dfile");
	cr_assert_eq(kvio_new(&p, &t_io), 0);
	cr_assert_not(kvio_writes_behind(t_io));
}

static void t_teardown(void)
{
	kvio_free(t_io);
	t_tmpdir_teardown();
}

TestSuite(dfile, .init = t_setup, .fini = t_teardown);

/*
 * The same checks with write-behind on: a small pool of small buffers, so
 * streams cross buffer boundaries and the pool runs dry.
 */
static void t_setup_wb(void)
{
	struct kvio_params p = {
		.dio = T_DIO_PARAMS,
		.wb = { .buffers = 6, .size = 64 * T_KIB, .slots = 16 },
	};

	t_tmpdir_setup("dfile");
	cr_assert_eq(kvio_new(&p, &t_io), 0);
	cr_assert(kvio_writes_behind(t_io));
}

static void t_teardown_wb(void)
{
	t_teardown();
}

TestSuite(dfile_wb, .init = t_setup_wb, .fini = t_teardown_wb);


static struct dfile *t_open(const char *name, int flags, unsigned align)
{
	struct dfile *f = NULL;
	int rc;

	rc = dfile_open(t_io, t_dirfd, name, flags, 0644, align, &f);
	cr_assert_eq(rc, 0, "dfile_open %s: %s", name, strerror(-rc));
	return f;
}

static uint64_t t_disk_size(struct dfile *f)
{
	struct stat st;

	cr_assert_eq(fstat(dfile_fd(f), &st), 0);
	return (uint64_t)st.st_size;
}


/* Read [@off, @off + @len) through @f and compare with @want. */
static void t_expect(struct dfile *f, const unsigned char *want, size_t len,
		     uint64_t off)
{
	const void *data = NULL;
	ssize_t n;

	n = dfile_read(f, len, off, &data);
	cr_assert_eq(n, (ssize_t)len, "read %zu at %llu: %zd", len,
		     (unsigned long long)off, n);
	cr_assert_eq(memcmp(data, want, len), 0, "data differs at %llu+%zu",
		     (unsigned long long)off, len);
}

/* The backing file, read without O_DIRECT, holds exactly @want. */
static void t_expect_on_disk(const char *name, const unsigned char *want,
			     size_t len)
{
	unsigned char *got = malloc(len + 1);
	struct stat st;
	int fd;

	cr_assert_not_null(got);
	fd = openat(t_dirfd, name, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, len);
	cr_assert_eq(pread(fd, got, len + 1, 0), (ssize_t)len);
	cr_assert_eq(memcmp(got, want, len), 0);
	close(fd);
	free(got);
}

/*
 * The model: model[0, size) is the file, everything past it is zero,
 * so a grow needs no extra work.
 */
#define M_MAX		(6 * T_MIB)
#define M_WRITE_MAX	(300 * T_KIB)
#define M_OFF_MAX	(4 * T_MIB)

/*
 * With write-behind (@wb) the backing file catches up only at settle,
 * fsync and truncate, so only then is its size checked.
 */
static void t_model_ops(unsigned align, unsigned nops, bool wb)
{
	uint64_t last_end = 0;
	unsigned char *model = calloc(1, M_MAX);
	unsigned char *pay_base = NULL;
	uint64_t msize = 0;
	struct dfile *f;
	unsigned i;

	cr_assert_not_null(model);
	cr_assert_eq(posix_memalign((void **)&pay_base, 4096,
				    M_WRITE_MAX + 4096), 0);
	f = t_open("model", O_RDWR | O_CREAT | O_TRUNC, align);

	for (i = 0; i < nops; i++) {
		unsigned r = (unsigned)(t_rand() % 100);
		uint64_t off, disk;
		size_t len;

		if (r < 45) {
			/* Write: a quarter of them fully aligned. */
			unsigned char *pay = pay_base;
			ssize_t n;

			off = t_rand() % M_OFF_MAX;
			len = 1 + t_rand() % M_WRITE_MAX;
			/* streams: continue where the last write ended */
			if (t_rand() % 3 == 0 && last_end + len <= M_MAX)
				off = last_end;
			if (t_rand() % 4 == 0) {
				off = align_down(off, align);
				len = align_up(len, align);
			} else if (t_rand() % 2) {
				pay += 1 + t_rand() % 100;
			}
			t_rand_fill(pay, len);
			n = dfile_write(f, pay, len, off);
			cr_assert_eq(n, (ssize_t)len, "op %u: write %zu at %llu: %zd",
				     i, len, (unsigned long long)off, n);
			memcpy(model + off, pay, len);
			last_end = off + len;
			if (off + len > msize)
				msize = off + len;
		} else if (r < 80) {
			/* Read, also across and past the end. */
			const void *data = NULL;
			size_t want;
			ssize_t n;

			off = t_rand() % (msize + 64 * T_KIB + 1);
			len = 1 + t_rand() % M_WRITE_MAX;
			want = off >= msize ? 0 :
			       (len < msize - off ? len : msize - off);
			n = dfile_read(f, len, off, &data);
			cr_assert_eq(n, (ssize_t)want, "op %u: read %zu at %llu: %zd",
				     i, len, (unsigned long long)off, n);
			cr_assert_eq(memcmp(data, model + off, want), 0,
				     "op %u: read %zu at %llu differs", i, len,
				     (unsigned long long)off);
		} else if (r < 90) {
			/* Truncate up or down, sometimes to a block edge. */
			uint64_t size = t_rand() % (5 * T_MIB);

			if (t_rand() % 3 == 0)
				size = align_down(size, align);
			if (t_rand() % 10 == 0)
				size = 0;
			cr_assert_eq(dfile_truncate(f, size), 0);
			if (size < msize)
				memset(model + size, 0, msize - size);
			msize = size;
			cr_assert_eq(t_disk_size(f), msize);
		} else if (r < 97) {
			cr_assert_eq(dfile_settle(f), 0);
			cr_assert_eq(t_disk_size(f), msize, "op %u", i);
		} else {
			int frc = dfile_fsync(f, t_rand() % 2);
			cr_assert_eq(frc, 0, "op %u: fsync %d", i, frc);
			cr_assert_eq(t_disk_size(f), msize);
		}

		cr_assert_eq(dfile_size(f), msize, "op %u", i);
		if (wb && r < 80)
			continue;
		disk = t_disk_size(f);
		cr_assert_eq(disk, msize, "op %u: backing %llu for size %llu",
			     i, (unsigned long long)disk,
			     (unsigned long long)msize);
	}

	/* The whole file in one read (grows the bounce buffer past 1 MiB). */
	if (msize)
		t_expect(f, model, msize, 0);
	cr_assert_eq(dfile_settle(f), 0);
	cr_assert_eq(t_disk_size(f), msize);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_on_disk("model", model, msize);
	free(pay_base);
	free(model);
}

Test(dfile, random_ops_match_memory_model_512, .timeout = 300)
{
	t_require_direct();
	t_rng = 0x5eed0512;
	t_model_ops(512, 2000, false);
}

Test(dfile, random_ops_match_memory_model_4096, .timeout = 300)
{
	t_require_direct();
	t_rng = 0x5eed4096;
	t_model_ops(4096, 2000, false);
}

Test(dfile_wb, random_ops_match_memory_model_512, .timeout = 300)
{
	t_require_direct();
	t_rng = 0x5eedb512;
	t_model_ops(512, 3000, true);
}

Test(dfile_wb, random_ops_match_memory_model_4096, .timeout = 300)
{
	t_require_direct();
	t_rng = 0x5eedb496;
	t_model_ops(4096, 3000, true);
}

/* A stream of odd-sized writes lands whole, its tail through the cache. */
Test(dfile_wb, sequential_stream_lands_at_close)
{
	size_t total = 0, n;
	unsigned char *src = malloc(3 * T_MIB);
	struct dfile *f;
	struct stat st;

	t_require_direct();
	cr_assert_not_null(src);
	t_rand_fill(src, 3 * T_MIB);
	f = t_open("stream", O_WRONLY | O_CREAT | O_TRUNC, 4096);
	for (n = 1000; total + n <= 3 * T_MIB - 5; n = 1000 + total % 70000) {
		cr_assert_eq(dfile_write(f, src + total, n, total), (ssize_t)n);
		total += n;
	}
	cr_assert_eq(dfile_size(f), total);
	cr_assert_eq(dfile_close(f), 0);
	cr_assert_eq(fstatat(t_dirfd, "stream", &st, 0), 0);
	cr_assert_eq((size_t)st.st_size, total);
	t_expect_on_disk("stream", src, total);
	free(src);
}

/*
 * What core logs during a test that expects errors: kept, not printed, so
 * a green run shows no error line; the test asserts on it instead.
 */
static pthread_mutex_t t_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char t_log[4096];

static void t_log_sink(enum log_level level, const char *line)
{
	size_t used;

	(void)level;
	pthread_mutex_lock(&t_log_mu);
	used = strlen(t_log);
	snprintf(t_log + used, sizeof(t_log) - used, "%s\n", line);
	pthread_mutex_unlock(&t_log_mu);
}

/* Whether a line logged since t_log_capture() holds @what. */
static bool t_logged(const char *what)
{
	bool found;

	pthread_mutex_lock(&t_log_mu);
	found = strstr(t_log, what) != NULL;
	pthread_mutex_unlock(&t_log_mu);
	return found;
}

static void t_log_capture(void)
{
	t_log[0] = '\0';
	log_setup(t_log_sink, LOG_LVL_INFO);
}

/*
 * A device failure is kept and reported by the next write or the close.
 * The writes are a whole piece (a quarter of a 64 KiB pool buffer), which
 * goes to the device as soon as it is staged. The first failure is
 * logged through the device's error log (deverr.h), the repeat summed;
 * the test expects those lines (captured, not printed).
 */
Test(dfile_wb, failure_is_reported_later)
{
	unsigned char pay[16384] = { 1 };
	struct deverr *errs;
	struct dfile *f;
	int devnull_fd;

	t_require_direct();
	t_log_capture();
	cr_assert_eq(deverr_new(&(struct deverr_params){ .count = 1 }, &errs),
		     0);
	f = t_open("err", O_RDWR | O_CREAT | O_TRUNC, 4096);
	dfile_set_errors(f, errs, 0);
	/* swap the descriptor for a read-only one: the device write fails */
	devnull_fd = open("/dev/zero", O_RDONLY);
	cr_assert_geq(devnull_fd, 0);
	cr_assert_geq(dup2(devnull_fd, dfile_fd(f)), 0);
	close(devnull_fd);
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), 0), sizeof(pay),
		     "answered before the device saw it");
	cr_assert_eq(dfile_settle(f), -EBADF, "flush reports the failure");
	cr_assert(t_logged("device 0: write-behind of '/dev/zero' failed: "
			   "Bad file descriptor"), "logged: %s", t_log);
	cr_assert_eq(dfile_settle(f), 0, "reported once");
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), sizeof(pay)),
		     sizeof(pay));
	cr_assert_eq(dfile_close(f), -EBADF, "close reports it too");
	/* the repeat is summed, not logged on its own */
	cr_assert_not(t_logged("more error"), "logged: %s", t_log);
	deverr_free(errs);
	cr_assert(t_logged("device 0: 1 more error in the last 1 s: "
			   "1 write-behind (EBADF)"), "logged: %s", t_log);
	log_setup(NULL, LOG_LVL_INFO);
}

Test(dfile, appends_of_odd_sizes)
{
	static const size_t sizes[] = {
		1, 3, 511, 513, 4095, 4097, 1, 8192, 100000, 7, 4096, 65537,
		2 * T_MIB + 3, 2, 12288,	/* > max_io: the buffer grows */
	};
	unsigned char *model = calloc(1, 4 * T_MIB);
	unsigned char *pay = malloc(3 * T_MIB);
	uint64_t end = 0;
	struct dfile *f;
	size_t i;

	t_require_direct();
	cr_assert_not_null(model);
	cr_assert_not_null(pay);
	/* O_APPEND is dropped: the offsets passed are what counts. */
	f = t_open("append", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 4096);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		t_rand_fill(pay, sizes[i]);
		cr_assert_eq(dfile_write(f, pay, sizes[i], end),
			     (ssize_t)sizes[i]);
		memcpy(model + end, pay, sizes[i]);
		end += sizes[i];
		cr_assert_eq(dfile_size(f), end);
		cr_assert_eq(t_disk_size(f), end, "no padding");
		t_expect(f, model, end, 0);
	}
	cr_assert_eq(dfile_close(f), 0);
	t_expect_on_disk("append", model, end);
	free(pay);
	free(model);
}

Test(dfile, sparse_holes_read_as_zeros)
{
	unsigned char *zero = calloc(1, 8 * T_MIB);
	unsigned char pay[100];
	uint64_t at = 3 * T_MIB + 17;
	const void *data;
	struct dfile *f;

	t_require_direct();
	cr_assert_not_null(zero);
	memset(pay, 0x5a, sizeof(pay));
	f = t_open("sparse", O_RDWR | O_CREAT | O_TRUNC, 512);
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), at), sizeof(pay));
	cr_assert_eq(dfile_size(f), at + sizeof(pay));
	t_expect(f, zero, at, 0);
	t_expect(f, pay, sizeof(pay), at);
	t_expect(f, zero, 1000, 2 * T_MIB + 1);

	/* Grow: the new tail is a hole too. */
	cr_assert_eq(dfile_truncate(f, 8 * T_MIB), 0);
	t_expect(f, zero, 8 * T_MIB - at - sizeof(pay), at + sizeof(pay));
	/* A write at the far end leaves the middle alone. */
	cr_assert_eq(dfile_write(f, pay, 1, 8 * T_MIB - 1), 1);
	t_expect(f, zero, 4096, 8 * T_MIB - 4097);
	t_expect(f, pay, sizeof(pay), at);
	cr_assert_eq(dfile_read(f, 10, 8 * T_MIB, &data), 0);
	cr_assert_eq(dfile_close(f), 0);
	free(zero);
}

/*
 * An unaligned write goes through the page cache: the backing file has
 * the true size at once, and the bytes read back through O_DIRECT (the
 * kernel writes its dirty pages first) and from the cache alike.
 */
Test(dfile, unaligned_writes_never_pad)
{
	unsigned char pay[5000], want[12288];
	struct dfile *f;
	struct stat st;

	t_require_direct();
	t_rand_fill(pay, sizeof(pay));
	f = t_open("pad", O_RDWR | O_CREAT | O_EXCL, 4096);
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), 0), sizeof(pay));
	cr_assert_eq(t_disk_size(f), 5000);
	cr_assert_eq(dfile_size(f), 5000);
	t_expect(f, pay, sizeof(pay), 0);	/* from the cache */
	t_expect(f, pay, 4096, 0);		/* aligned, O_DIRECT */
	cr_assert_eq(dfile_settle(f), 0);
	cr_assert_eq(t_disk_size(f), 5000);

	/* inside the last block, then an aligned block over cached bytes */
	cr_assert_eq(dfile_write(f, pay, 10, 4990), 10);
	cr_assert_eq(t_disk_size(f), 5000);
	memcpy(want, pay, sizeof(pay));
	memcpy(want + 4990, pay, 10);
	t_expect(f, want, 5000, 0);
	t_rand_fill(want + 4096, 8192);
	cr_assert_eq(dfile_write(f, want + 4096, 8192, 4096), 8192);
	cr_assert_eq(t_disk_size(f), 12288);
	t_expect(f, want, 12288, 0);
	t_expect(f, want + 4990, 100, 4990);
	cr_assert_eq(dfile_close(f), 0);
	cr_assert_eq(fstatat(t_dirfd, "pad", &st, 0), 0);
	cr_assert_eq(st.st_size, 12288);
	t_expect_on_disk("pad", want, 12288);
}

/* cp -a sets the times before close; closing must keep them. */
Test(dfile, settle_keeps_mtime)
{
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT },
				     { .tv_sec = 1000000000, .tv_nsec = 5 } };
	unsigned char pay[5000];
	struct dfile *f;
	struct stat st;

	t_require_direct();
	t_rand_fill(pay, sizeof(pay));
	f = t_open("mtime", O_RDWR | O_CREAT | O_EXCL, 4096);
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), 0), sizeof(pay));
	cr_assert_eq(futimens(dfile_fd(f), times), 0);
	cr_assert_eq(dfile_close(f), 0);
	cr_assert_eq(fstatat(t_dirfd, "mtime", &st, 0), 0);
	cr_assert_eq(st.st_size, 5000);
	cr_assert_eq(st.st_mtim.tv_sec, 1000000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 5);
}

Test(dfile, truncate_never_exposes_old_bytes)
{
	unsigned char aa[5000], want[12000];
	struct dfile *f;

	t_require_direct();
	memset(aa, 0xaa, sizeof(aa));
	f = t_open("trunc", O_RDWR | O_CREAT | O_TRUNC, 4096);

	/* Down from an unaligned size, then up: [3000, 12000) is zero. */
	cr_assert_eq(dfile_write(f, aa, sizeof(aa), 0), sizeof(aa));
	cr_assert_eq(dfile_truncate(f, 3000), 0);
	cr_assert_eq(dfile_truncate(f, 12000), 0);
	memset(want, 0, sizeof(want));
	memset(want, 0xaa, 3000);
	t_expect(f, want, 12000, 0);

	/* Up straight from an unaligned size. */
	cr_assert_eq(dfile_truncate(f, 0), 0);
	cr_assert_eq(dfile_write(f, aa, sizeof(aa), 0), sizeof(aa));
	cr_assert_eq(t_disk_size(f), 5000);
	cr_assert_eq(dfile_truncate(f, 6000), 0);
	cr_assert_eq(t_disk_size(f), 6000);
	memset(want, 0, sizeof(want));
	memset(want, 0xaa, 5000);
	t_expect(f, want, 6000, 0);

	/* Up from a settled, unaligned size. */
	cr_assert_eq(dfile_truncate(f, 0), 0);
	cr_assert_eq(dfile_write(f, aa, sizeof(aa), 0), sizeof(aa));
	cr_assert_eq(dfile_settle(f), 0);
	cr_assert_eq(dfile_truncate(f, 9000), 0);
	t_expect(f, want, 9000, 0);

	/* Down into the middle of a block, then an unaligned write past it. */
	cr_assert_eq(dfile_truncate(f, 4500), 0);
	cr_assert_eq(dfile_write(f, aa, 10, 4600), 10);
	memset(want + 4500, 0, 100);
	t_expect(f, want, 4610, 0);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_on_disk("trunc", want, 4610);
}

Test(dfile, backing_file_shorter_than_size_reads_zeros)
{
	unsigned char aa[8192], want[8192];
	const void *data;
	struct dfile *f;

	t_require_direct();
	memset(aa, 0xaa, sizeof(aa));
	f = t_open("shrunk", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, aa, sizeof(aa), 0), sizeof(aa));
	/* Leave non-zero bytes in the bounce buffer. */
	cr_assert_eq(dfile_read(f, sizeof(aa), 0, &data), sizeof(aa));
	/*
	 * Someone trims the backing file behind the dfile's back. (ext4 on
	 * 6.18 zeroes a DIO read's buffer past EOF itself; dfile_read does
	 * not rely on that.)
	 */
	cr_assert_eq(ftruncate(dfile_fd(f), 100), 0);
	memset(want, 0, sizeof(want));
	memset(want, 0xaa, 100);
	t_expect(f, want, sizeof(want), 0);
	cr_assert_eq(dfile_close(f), 0);
}

Test(dfile, write_to_read_only_file_is_ebadf)
{
	unsigned char pay[4096];
	struct dfile *f;

	t_require_direct();
	memset(pay, 1, sizeof(pay));
	f = t_open("ro", O_RDWR | O_CREAT, 4096);
	cr_assert(dfile_writable(f));
	cr_assert_eq(dfile_write(f, pay, 100, 0), 100);
	cr_assert_eq(dfile_close(f), 0);

	f = t_open("ro", O_RDONLY, 4096);
	cr_assert_not(dfile_writable(f));
	cr_assert_eq(dfile_write(f, pay, 100, 0), -EBADF);
	cr_assert_eq(dfile_write(f, pay, 4096, 4096), -EBADF);
	t_expect(f, pay, 100, 0);
	cr_assert_eq(dfile_close(f), 0);
}

Test(dfile, open_flags_and_errors)
{
	unsigned char a[8192], b[10];
	struct dfile *f = NULL;

	t_require_direct();
	cr_assert_eq(dfile_open(t_io, t_dirfd, "x", O_RDWR | O_CREAT, 0600,
				3000, &f), -EINVAL);
	cr_assert_eq(dfile_open(t_io, t_dirfd, "x", O_RDWR | O_CREAT, 0600,
				0, &f), -EINVAL);
	cr_assert_eq(dfile_open(t_io, t_dirfd, "missing", O_RDONLY, 0, 4096,
				&f), -ENOENT);
	cr_assert_eq(dfile_close(NULL), 0);

	/* Write-only still does read-modify-write of edge blocks. */
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	f = t_open("wronly", O_WRONLY | O_CREAT | O_EXCL, 4096);
	cr_assert_eq(dfile_write(f, a, sizeof(a), 0), sizeof(a));
	cr_assert_eq(dfile_write(f, b, sizeof(b), 4090), sizeof(b));
	cr_assert_eq(dfile_close(f), 0);
	memcpy(a + 4090, b, sizeof(b));
	t_expect_on_disk("wronly", a, sizeof(a));
	cr_assert_eq(dfile_open(t_io, t_dirfd, "wronly",
				O_RDWR | O_CREAT | O_EXCL, 0600, 4096, &f),
		     -EEXIST);
}

/*
 * RLIMIT_FSIZE makes the kernel fail writes past the limit with EFBIG. In
 * a child, so the limit and the ignored SIGXFSZ stay there. Exit codes
 * name the failed step.
 */
static int t_efbig_child(void)
{
	unsigned char *pay = malloc(256 * T_KIB);
	struct rlimit rl = { 256 * T_KIB, 256 * T_KIB };
	struct dfile *f;
	ssize_t n;

	if (!pay || dfile_open(t_io, t_dirfd, "fsize", O_RDWR, 0, 4096, &f))
		return 10;
	memset(pay, 0x11, 256 * T_KIB);
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		return 11;

	/* Entirely past the limit. */
	n = dfile_write(f, pay, 4096, T_MIB);
	if (n != -EFBIG)
		return 12;
	/* Straddling it: the kernel writes part, then refuses the rest. */
	n = dfile_write(f, pay, 200 * T_KIB + 5, 100 * T_KIB);
	if (n != -EFBIG)
		return 13;
	/* The failed writes left size and backing file as they were. */
	if (dfile_size(f) != 1000 || t_disk_size(f) > 4096)
		return 14;
	/* Under the limit all is well. */
	if (dfile_write(f, pay, 5000, 1000) != 5000)
		return 15;
	if (dfile_size(f) != 6000 || dfile_close(f))
		return 16;
	return 0;
}

Test(dfile, efbig_surfaces_as_negative_return)
{
	unsigned char pay[1000], want[6000];
	struct dfile *f;
	int status;
	pid_t pid;

	t_require_direct();
	memset(pay, 0x22, sizeof(pay));
	f = t_open("fsize", O_RDWR | O_CREAT | O_TRUNC, 4096);
	/* This thread's dio context exists before fork: the child drops it. */
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), 0), sizeof(pay));
	cr_assert_eq(dfile_close(f), 0);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(t_efbig_child());
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died (signal %d)",
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d",
		     WEXITSTATUS(status));

	memset(want, 0x22, 1000);
	memset(want + 1000, 0x11, 5000);
	t_expect_on_disk("fsize", want, sizeof(want));
}

enum { T_THREADS = 4, T_ROUNDS = 48, T_CHUNK = 64 * 1024, T_REGION = 10007 };

struct t_writer {
	struct dfile *f;
	unsigned id;
	bool aligned;
	ssize_t bad;		/* first unexpected return, or 0 */
};

static unsigned char t_pattern(uint64_t off)
{
	return (unsigned char)(off * 13 + off / 4099 + 1);
}

/*
 * Writer @id owns region r * T_THREADS + id of every round r. Aligned
 * regions are whole 64 KiB chunks written at once; unaligned ones are odd
 * sized, written in odd pieces, so neighbours share edge blocks.
 */
static void *t_writer_main(void *arg)
{
	struct t_writer *w = arg;
	size_t region = w->aligned ? T_CHUNK : T_REGION;
	unsigned char *buf = NULL;
	size_t len, i, done;
	uint64_t off;
	unsigned r;
	ssize_t n;

	if (posix_memalign((void **)&buf, 4096, T_CHUNK)) {
		w->bad = -ENOMEM;
		return NULL;
	}
	for (r = 0; r < T_ROUNDS && !w->bad; r++) {
		off = ((uint64_t)r * T_THREADS + w->id) * region;
		for (done = 0; done < region && !w->bad; done += len) {
			len = w->aligned ? region :
			      1 + (size_t)((off + done) * 2654435761u % 3000);
			if (len > region - done)
				len = region - done;
			for (i = 0; i < len; i++)
				buf[i] = t_pattern(off + done + i);
			n = dfile_write(w->f, buf, len, off + done);
			if (n != (ssize_t)len)
				w->bad = n < 0 ? n : -EIO;
		}
	}
	free(buf);
	return NULL;
}

static void t_concurrent_writers(bool aligned)
{
	uint64_t total = (uint64_t)T_ROUNDS * T_THREADS *
			 (aligned ? T_CHUNK : T_REGION);
	struct t_writer w[T_THREADS];
	pthread_t tid[T_THREADS];
	unsigned char *want;
	struct dfile *f;
	uint64_t i;

	f = t_open("threads", O_RDWR | O_CREAT | O_TRUNC, 4096);
	for (i = 0; i < T_THREADS; i++) {
		w[i] = (struct t_writer){ .f = f, .id = (unsigned)i,
					  .aligned = aligned };
		cr_assert_eq(pthread_create(&tid[i], NULL, t_writer_main,
					    &w[i]), 0);
	}
	for (i = 0; i < T_THREADS; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < T_THREADS; i++)
		cr_assert_eq(w[i].bad, 0, "writer %u: %zd", (unsigned)i,
			     w[i].bad);

	want = malloc(total);
	cr_assert_not_null(want);
	for (i = 0; i < total; i++)
		want[i] = t_pattern(i);
	cr_assert_eq(dfile_size(f), total);
	t_expect(f, want, total, 0);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_on_disk("threads", want, total);
	free(want);
}

Test(dfile, concurrent_aligned_writers)
{
	t_require_direct();
	t_concurrent_writers(true);
}

Test(dfile, concurrent_unaligned_writers_share_edge_blocks)
{
	t_require_direct();
	t_concurrent_writers(false);
}

Test(dfile, fallocate_keeps_logical_size)
{
	unsigned char pay[5000], got[12000];
	const void *data;
	struct dfile *f;

	t_require_direct();
	t_rand_fill(pay, sizeof(pay));
	f = t_open("falloc", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), 0), sizeof(pay));
	cr_assert_eq(t_disk_size(f), 5000);
	/* KEEP_SIZE: allocation past the end changes no size */
	cr_assert_eq(dfile_fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
	cr_assert_eq(dfile_size(f), 5000);
	/* mode 0 extends; the new bytes read as zeros */
	cr_assert_eq(dfile_fallocate(f, 0, 4000, 8000), 0);
	cr_assert_eq(dfile_size(f), 12000);
	cr_assert_eq(t_disk_size(f), 12000);
	cr_assert_eq(dfile_read(f, sizeof(got), 0, &data), 12000);
	memcpy(got, data, sizeof(got));
	cr_assert_arr_eq(got, pay, sizeof(pay));
	for (size_t i = sizeof(pay); i < sizeof(got); i++)
		cr_assert_eq(got[i], 0, "byte %zu", i);
	dfile_close(f);
}

Test(dfile, seek_data_and_hole_stop_at_logical_size)
{
	unsigned char pay[5000];
	struct dfile *f;

	t_require_direct();
	t_rand_fill(pay, sizeof(pay));
	f = t_open("seek", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, pay, sizeof(pay), 1 << 20), sizeof(pay));
	cr_assert_eq(dfile_seek(f, 0, SEEK_HOLE), 0);
	cr_assert_eq(dfile_seek(f, 0, SEEK_DATA), 1 << 20);
	cr_assert_eq(dfile_seek(f, 1 << 20, SEEK_HOLE), (1 << 20) + 5000);
	cr_assert_eq(dfile_seek(f, (1 << 20) + 5000, SEEK_DATA), -ENXIO);
	cr_assert_eq(dfile_seek(f, (1 << 20) + 5000, SEEK_HOLE), -ENXIO);
	cr_assert_eq(dfile_seek(f, 0, SEEK_SET), -EINVAL);
	dfile_close(f);
}

/*
 * A span for splicing: staged writes have landed, the count stops at the
 * logical size, and the descriptor reads
 * the file's bytes without O_DIRECT, also once the file is unlinked.
 */
Test(dfile_wb, span_sees_staged_writes_up_to_the_logical_size)
{
	unsigned char src[10000], got[10000];
	struct dfile *f;
	ssize_t n;
	int fd, fd2;

	t_require_direct();
	t_rand_fill(src, sizeof(src));
	f = t_open("span", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, src, 6000, 0), 6000);
	cr_assert_eq(dfile_write(f, src + 6000, 1001, 6000), 1001);
	n = dfile_span_begin(f, sizeof(got), 0, &fd);
	cr_assert_eq(n, 7001);
	cr_expect_eq(t_disk_size(f), 7001, "landed");
	cr_assert_eq(pread(fd, got, (size_t)n, 0), n);
	cr_expect_eq(memcmp(got, src, (size_t)n), 0);
	cr_expect_eq(fcntl(fd, F_GETFL) & O_DIRECT, 0);
	dfile_span_end(f);

	cr_assert_eq(unlinkat(t_dirfd, "span", 0), 0);
	cr_assert_eq(dfile_span_begin(f, 100, 7000, &fd2), 1);
	cr_expect_eq(fd2, fd, "the descriptor is opened once");
	dfile_span_end(f);
	cr_assert_eq(dfile_span_begin(f, 100, 7001, &fd2), 0);
	dfile_span_end(f);
	cr_assert_eq(dfile_span_begin(f, 100, 1u << 20, &fd2), 0);
	dfile_span_end(f);
	cr_assert_eq(dfile_close(f), 0);
}

static uint64_t t_disk_bytes(const char *name)
{
	struct stat st;

	cr_assert_eq(fstatat(t_dirfd, name, &st, 0), 0);
	return (uint64_t)st.st_blocks * 512;
}

/*
 * @name takes @want bytes of blocks, give or take the extent-tree blocks
 * of a file allocated in steps (a few KiB; what a claim leaves is far more).
 */
#define t_expect_blocks(name, want, what)                                      \
	do {                                                                   \
		uint64_t got_ = t_disk_bytes(name);                            \
		cr_expect(got_ >= (uint64_t)(want) &&                          \
			  got_ <= (uint64_t)(want) + 32 * T_KIB,               \
			  "%s: %llu bytes of blocks, want %llu", what,          \
			  (unsigned long long)got_,                            \
			  (unsigned long long)(want));                         \
	} while (0)

/*
 * A long stream claims its blocks ahead of itself, keeping the backing
 * file's size: the size never runs ahead of the writes, so a crash leaves
 * no zeros claimed ahead as size. Settling gives back every claimed block
 * nothing was written to: past the end, and in a hole the claim covered.
 * Pieces are 16 KiB here.
 */
Test(dfile_wb, claims_ahead_are_given_back)
{
	size_t total = 16 * 64 * T_KIB, piece = 64 * T_KIB, i;
	unsigned char *src = malloc(total), *zeros = calloc(1, total);
	struct dfile *f;

	t_require_direct();
	cr_assert(src && zeros);
	t_rand_fill(src, total);

	/* in order: ahead while it runs, exact once settled */
	f = t_open("seq", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, src, piece, 0), (ssize_t)piece);
	cr_expect_gt(t_disk_bytes("seq"), piece, "the claim runs ahead");
	cr_expect_leq(t_disk_size(f), piece, "the size does not");
	for (i = piece; i < total; i += piece)
		cr_assert_eq(dfile_write(f, src + i, piece, i), (ssize_t)piece);
	cr_assert_eq(dfile_settle(f), 0);
	cr_expect_eq(t_disk_size(f), total);
	t_expect_blocks("seq", total, "nothing left claimed");
	cr_assert_eq(dfile_close(f), 0);
	t_expect_on_disk("seq", src, total);

	/* backwards, as a client's parallel O_DIRECT pieces may come */
	f = t_open("back", O_RDWR | O_CREAT | O_TRUNC, 4096);
	for (i = total; i; i -= piece)
		cr_assert_eq(dfile_write(f, src + i - piece, piece, i - piece),
			     (ssize_t)piece);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_blocks("back", total, "backwards");
	t_expect_on_disk("back", src, total);

	/* a stream starting past the end: the hole stays a hole */
	f = t_open("sparse", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, src, 4 * piece, total / 2),
		     (ssize_t)(4 * piece));
	cr_assert_eq(dfile_close(f), 0);
	t_expect_blocks("sparse", 4 * piece, "the hole stays a hole");
	memcpy(zeros + total / 2, src, 4 * piece);
	t_expect_on_disk("sparse", zeros, total / 2 + 4 * piece);
	free(src);
	free(zeros);
}

/* Blocks its owner allocated past the end are kept, as ext4 keeps them. */
Test(dfile_wb, a_preallocated_tail_is_kept)
{
	size_t piece = 64 * T_KIB;
	unsigned char *src = malloc(4 * piece);
	struct dfile *f;

	t_require_direct();
	cr_assert_not_null(src);
	t_rand_fill(src, 4 * piece);
	f = t_open("prealloc", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 2 * T_MIB), 0);
	cr_assert_eq(dfile_write(f, src, 4 * piece, 0), (ssize_t)(4 * piece));
	cr_assert_eq(dfile_close(f), 0);
	t_expect_blocks("prealloc", 2 * T_MIB, "the owner's tail");
	t_expect_on_disk("prealloc", src, 4 * piece);
	free(src);
}

/*
 * On a page-cache device (tmpfs) a write is stored when answered: never
 * staged, so another descriptor sees it at once, whatever its size.
 */
Test(dfile_wb, page_cache_writes_are_stored_at_once)
{
	unsigned char src[20000], got[20001];
	struct dfile *f;
	int fd;

	t_rand_fill(src, sizeof(src));
	f = t_open("paged", O_RDWR | O_CREAT | O_TRUNC, 4096);
	dfile_set_page_cache(f);
	cr_assert_eq(dfile_write(f, src, 1000, 0), 1000);
	cr_assert_eq(dfile_write(f, src + 1000, 16384, 1000), 16384);
	cr_assert_eq(dfile_write(f, src + 17384, 2616, 17384), 2616);
	cr_expect_eq(dfile_size(f), sizeof(src));
	fd = openat(t_dirfd, "paged", O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(src),
		     "the backing file has every byte before any settle");
	cr_expect_eq(memcmp(got, src, sizeof(src)), 0);
	close(fd);
	t_expect(f, src, sizeof(src), 0);
	cr_assert_eq(dfile_close(f), 0);
}

/* A sparse file's preallocated tail survives a stream written into it. */
Test(dfile_wb, a_sparse_file_keeps_its_preallocated_tail)
{
	size_t piece = 64 * T_KIB;
	unsigned char *src = malloc(piece);
	struct dfile *f;

	t_require_direct();
	cr_assert_not_null(src);
	t_rand_fill(src, piece);
	f = t_open("sparse-tail", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, src, 4096, 0), 4096);
	cr_assert_eq(dfile_truncate(f, 8 * T_MIB), 0);
	cr_assert_eq(dfile_fallocate(f, FALLOC_FL_KEEP_SIZE, 8 * T_MIB, T_MIB),
		     0);
	cr_assert_eq(dfile_write(f, src, piece, 8 * T_MIB), (ssize_t)piece);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_blocks("sparse-tail", 4096 + T_MIB, "the owner's tail");
	free(src);
}

/* Giving back a claim leaves the file the time of its last write. */
Test(dfile_wb, giving_back_a_claim_keeps_the_mtime)
{
	size_t total = 4 * 64 * T_KIB;
	unsigned char *src = malloc(total);
	struct timespec before;
	struct dfile *f;
	struct stat st;

	t_require_direct();
	cr_assert_not_null(src);
	t_rand_fill(src, total);
	f = t_open("mtime", O_RDWR | O_CREAT | O_TRUNC, 4096);
	cr_assert_eq(dfile_write(f, src, total, 0), (ssize_t)total);
	cr_expect_gt(t_disk_bytes("mtime"), total, "the claim runs ahead");
	usleep(300 * 1000);	/* the pieces land */
	cr_assert_eq(fstat(dfile_fd(f), &st), 0);
	before = st.st_mtim;
	usleep(1100 * 1000);
	cr_assert_eq(dfile_settle(f), 0);
	cr_assert_eq(fstat(dfile_fd(f), &st), 0);
	cr_expect_eq((uint64_t)st.st_size, total);
	cr_expect(st.st_mtim.tv_sec == before.tv_sec &&
		  st.st_mtim.tv_nsec == before.tv_nsec,
		  "mtime moved by %ld s", (long)(st.st_mtim.tv_sec - before.tv_sec));
	cr_assert_eq(dfile_close(f), 0);
	free(src);
}

/*
 * While a stream claims ahead, the backing file's size never passes the
 * end of the pieces handed to the device: not into the claim, not over
 * bytes still staged, so a crash shows no claimed space as size. On ext4
 * it reaches that end before the write returns (raised ahead of the
 * pieces, so that they do not extend the file and start at once). After
 * close it is exact, with the mtime of the last write. Buffers are 64 KiB
 * here, pieces 16 KiB; the writes are 40 KiB, the last one short.
 */
Test(dfile_wb, the_size_never_passes_the_pieces_sent)
{
	size_t buf = 64 * T_KIB, piece = buf / 4, chunk = 40 * T_KIB;
	size_t total = 12 * buf + 5000, off, n, sent;
	unsigned char *src = malloc(total);
	struct timespec last;
	struct statfs sfs;
	struct dfile *f;
	struct stat st;
	bool ext4;

	t_require_direct();
	cr_assert_not_null(src);
	t_rand_fill(src, total);
	cr_assert_eq(fstatfs(t_dirfd, &sfs), 0);
	ext4 = sfs.f_type == EXT4_SUPER_MAGIC;
	f = t_open("grow", O_RDWR | O_CREAT | O_TRUNC, 4096);
	for (off = 0; off < total; off += n) {
		n = total - off < chunk ? total - off : chunk;
		cr_assert_eq(dfile_write(f, src + off, n, off), (ssize_t)n);
		sent = align_down(off + n, piece);
		cr_assert_leq(t_disk_size(f), sent, "size %llu after %zu sent",
			      (unsigned long long)t_disk_size(f), sent);
		cr_expect_gt(t_disk_bytes("grow"), sent, "the claim runs ahead");
		if (ext4)
			cr_expect_eq(t_disk_size(f), sent,
				     "ext4: the size reaches what was sent");
	}
	/* the trim at close keeps the time of the last write */
	cr_assert_eq(clock_gettime(CLOCK_REALTIME, &last), 0);
	usleep(50 * 1000);
	cr_assert_eq(dfile_close(f), 0);
	cr_assert_eq(fstatat(t_dirfd, "grow", &st, 0), 0);
	cr_expect(st.st_mtim.tv_sec < last.tv_sec ||
		  (st.st_mtim.tv_sec == last.tv_sec &&
		   st.st_mtim.tv_nsec <= last.tv_nsec),
		  "the mtime moved after the last write");
	t_expect_on_disk("grow", src, total);
	t_expect_blocks("grow", align_up(total, 4096), "nothing left claimed");
	free(src);
}

/*
 * The pieces of many files come in shuffled order, with reads (which
 * drain and give back claims) between them, and every file is checked:
 * its bytes, its size, and blocks for what was written and no more.
 */
Test(dfile_wb, shuffled_pieces_with_reads_between, .timeout = 120)
{
	size_t piece = 64 * T_KIB, order[24];
	unsigned char *src = malloc(24 * piece);
	struct dfile *f;
	unsigned round;

	t_require_direct();
	cr_assert_not_null(src);
	t_rng = 0x5eedc1a1;
	f = t_open("shuffled", O_RDWR | O_CREAT | O_TRUNC, 4096);
	for (round = 0; round < 40; round++) {
		size_t k = 2 + t_rand() % 23, i, j, tmp;

		cr_assert_eq(dfile_truncate(f, 0), 0);
		t_rand_fill(src, k * piece);
		for (i = 0; i < k; i++)
			order[i] = i;
		for (i = k - 1; i > 0; i--) {
			j = t_rand() % (i + 1);
			tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
		for (i = 0; i < k; i++) {
			size_t p = order[i];

			cr_assert_eq(dfile_write(f, src + p * piece, piece,
						 p * piece), (ssize_t)piece,
				     "round %u piece %zu", round, p);
			if (t_rand() % 4 == 0)
				t_expect(f, src + p * piece, piece, p * piece);
		}
		cr_assert_eq(dfile_settle(f), 0);
		cr_assert_eq(t_disk_size(f), k * piece, "round %u", round);
		t_expect(f, src, k * piece, 0);
		t_expect_blocks("shuffled", k * piece, "round's blocks");
	}
	cr_assert_eq(dfile_close(f), 0);
	free(src);
}
