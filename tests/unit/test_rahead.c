/*
 * test_rahead.c - unit tests for read-ahead (core/dfile_ra.c): what a
 * sequential reader gets is the file, whether it comes from pieces read
 * ahead or from the device, whatever writes, truncates and hole punches
 * happen between its reads; and every piece goes back to the pool.
 *
 * Pieces are 256 KiB here, the depth 1 MiB, so files of a few MiB cross
 * many pieces and the pool of 8 runs dry; write-behind is on, as in the
 * daemon, except for one run of the readers-and-writers test. Also: when
 * read-ahead starts (not for a glance at a header, not while the file
 * keeps changing), and that void or abandoned pieces go back to the pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "align.h"
#include "bufpool.h"
#include "dfile.h"
#include "kvio_i.h"
#include "t_rand.h"
#include "t_tmpdir.h"

#define R_PIECE (256 * T_KIB)
#define R_DEPTH (4 * R_PIECE)
#define R_POOL 8

static struct kvio *t_io;
static struct bufpool *t_rpool;	/* the engine's read-ahead pool */

/* An engine as the daemon's (@wb: with write-behind), small. */
static void t_engine(bool wb)
{
	struct kvio_params p = {
		.dio = T_DIO_PARAMS,
		.wb = { .buffers = 6, .size = 64 * T_KIB, .slots = 16 },
		.ra = { .buffers = R_POOL, .size = R_PIECE },
		.ra_depth = R_DEPTH,
	};

	if (!wb)
		p.wb.buffers = 0;
	cr_assert_eq(kvio_new(&p, &t_io), 0);
	cr_assert_eq(kvio_writes_behind(t_io), wb);
	cr_assert(kvio_reads_ahead(t_io));
	t_rpool = t_io->ra.pool;
}

static void t_setup(void)
{
	t_tmpdir_setup("rahead");
	t_engine(true);
}

static void t_teardown(void)
{
	kvio_free(t_io);
	t_tmpdir_teardown();
}

TestSuite(rahead, .init = t_setup, .fini = t_teardown);


static struct dfile *t_open(const char *name, int flags)
{
	struct dfile *f = NULL;
	int rc = dfile_open(t_io, t_dirfd, name, flags, 0644, 512, &f);

	cr_assert_eq(rc, 0, "dfile_open %s: %s", name, strerror(-rc));
	return f;
}

/* A file of @size random bytes, landed; its bytes in *@model. */
static struct dfile *t_make(const char *name, size_t size,
			    unsigned char **model)
{
	struct dfile *f = t_open(name, O_RDWR | O_CREAT | O_TRUNC);

	*model = malloc(size + 1);
	cr_assert_not_null(*model);
	t_rand_fill(*model, size);
	cr_assert_eq(dfile_write(f, *model, size, 0), (ssize_t)size);
	cr_assert_eq(dfile_settle(f), 0);
	return f;
}

/* Whether a view's bytes lie in pieces read ahead. */
static bool t_from_pieces(const struct dfile_view *v)
{
	const char *base = bufpool_base(t_rpool);
	const char *p = v->iov[0].iov_base;

	return p >= base && p < base + R_POOL * R_PIECE;
}

/*
 * Read [@off, @off + @len) as the kernel's read-ahead would, compare with
 * @model (of @msize bytes). Returns whether it came from pieces.
 */
static bool t_read_ahead(struct dfile *f, const unsigned char *model,
			 uint64_t msize, uint64_t off, size_t len)
{
	size_t want = off >= msize ? 0 : (len < msize - off ? len : msize - off);
	struct dfile_view v;
	size_t got = 0;
	bool pieces;
	ssize_t n;

	n = dfile_read_ahead(f, len, off, NULL, 0, &v);
	cr_assert_eq(n, (ssize_t)want, "read %zu at %llu: %zd", len,
		     (unsigned long long)off, n);
	cr_assert(v.cnt >= 1 && v.cnt <= 2);
	for (unsigned i = 0; i < v.cnt; i++) {
		cr_assert_eq(memcmp(v.iov[i].iov_base, model + off + got,
				    v.iov[i].iov_len), 0,
			     "read %zu at %llu differs (span %u)", len,
			     (unsigned long long)off, i);
		got += v.iov[i].iov_len;
	}
	cr_assert_eq(got, want);
	pieces = want && t_from_pieces(&v);
	dfile_view_end(f, &v);
	return pieces;
}

/* Every piece is back in the pool. */
static void t_expect_pool_full(void)
{
	void *b[R_POOL];
	unsigned n = 0;

	while (n < R_POOL && (b[n] = bufpool_get(t_rpool, false)))
		n++;
	cr_expect_eq(n, R_POOL, "%u of %u read-ahead buffers back", n,
		     R_POOL);
	while (n)
		bufpool_put(t_rpool, b[--n]);
}

Test(rahead, a_sequential_reader_is_served_from_pieces)
{
	size_t size = 6 * T_MIB + 1234, len = R_PIECE;
	unsigned char *model;
	struct dfile *f;
	unsigned hits = 0, reads = 0;

	t_require_direct();
	f = t_make("seq", size, &model);
	for (uint64_t off = 0; off < size; off += len, reads++)
		hits += t_read_ahead(f, model, size, off, len);
	/* the first piece comes from the device, and nothing past the end */
	cr_expect_geq(hits, reads - 2, "%u of %u reads from pieces", hits,
		      reads);
	cr_assert_eq(t_read_ahead(f, model, size, size, len), false);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_pool_full();
	free(model);
}

/* The READs of a window come in any order, some smaller than a piece. */
Test(rahead, window_reads_in_any_order)
{
	static const unsigned order[4] = { 2, 0, 3, 1 };
	size_t size = 5 * T_MIB + 4096 * 3 + 17, part = R_PIECE / 2;
	unsigned char *model;
	struct dfile *f;
	unsigned hits = 0;

	t_require_direct();
	f = t_make("window", size, &model);
	for (uint64_t w = 0; w < size; w += 4 * part)
		for (unsigned i = 0; i < 4; i++)
			hits += t_read_ahead(f, model, size,
					     w + order[i] * part, part);
	cr_expect_gt(hits, 10, "%u reads from pieces", hits);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_pool_full();
	free(model);
}

/*
 * What was read ahead before a write, truncate or hole punch is never
 * served after it; with and without waiting for the pieces to land.
 */
Test(rahead, changes_void_what_was_read_ahead)
{
	size_t size = 4 * T_MIB, len = R_PIECE;
	unsigned char *model, patch[5000];
	struct dfile *f;

	t_require_direct();
	f = t_make("change", size, &model);

	/* an unaligned write inside pieces read ahead */
	t_read_ahead(f, model, size, 0, len);
	usleep(20000);
	t_rand_fill(patch, sizeof(patch));
	cr_assert_eq(dfile_write(f, patch, sizeof(patch), len + 100),
		     (ssize_t)sizeof(patch));
	memcpy(model + len + 100, patch, sizeof(patch));
	for (uint64_t off = len; off < 3 * len; off += len)
		t_read_ahead(f, model, size, off, len);

	/* an aligned write of a whole piece, right after the reads started */
	t_rand_fill(model + 4 * len, len);
	cr_assert_eq(dfile_write(f, model + 4 * len, len, 4 * len),
		     (ssize_t)len);
	for (uint64_t off = 3 * len; off < 7 * len; off += len)
		t_read_ahead(f, model, size, off, len);

	/* shrink, then grow: the bytes between read as zeros */
	cr_assert_eq(dfile_truncate(f, 7 * len + 300), 0);
	cr_assert_eq(dfile_truncate(f, size), 0);
	memset(model + 7 * len + 300, 0, size - (7 * len + 300));
	for (uint64_t off = 7 * len; off < size; off += len)
		t_read_ahead(f, model, size, off, len);

	/* punch a hole under pieces read ahead */
	t_read_ahead(f, model, size, 0, len);
	t_read_ahead(f, model, size, len, len);
	if (dfile_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    2 * len, len) == 0) {
		memset(model + 2 * len, 0, len);
		for (uint64_t off = 2 * len; off < 6 * len; off += len)
			t_read_ahead(f, model, size, off, len);
	}
	cr_assert_eq(dfile_close(f), 0);
	t_expect_pool_full();
	free(model);
}

/* Readers that stop, jump or leave pieces in flight give all of them back. */
Test(rahead, close_gives_every_piece_back)
{
	size_t size = 3 * T_MIB, len = R_PIECE;
	unsigned char *ma, *mb;
	struct dfile *a, *b;

	t_require_direct();
	a = t_make("a", size, &ma);
	b = t_make("b", size, &mb);
	t_read_ahead(a, ma, size, 0, len);	/* pieces in flight */
	t_read_ahead(b, mb, size, 0, len);
	t_read_ahead(b, mb, size, len, len);
	t_read_ahead(b, mb, size, 8 * len, len);	/* a jump */
	cr_assert_eq(dfile_close(a), 0);
	usleep(20000);
	cr_assert_eq(dfile_close(b), 0);
	t_expect_pool_full();
	free(ma);
	free(mb);
}

/*
 * A random mix of sequential runs of reads, plain reads, writes,
 * truncates and settles against an in-memory model.
 */
Test(rahead, random_ops_match_memory_model, .timeout = 300)
{
	const uint64_t max = 6 * T_MIB;
	unsigned char *model = calloc(1, max + R_PIECE), *pay;
	uint64_t msize = 0, run = 0;
	unsigned hits = 0;
	struct dfile *f;

	t_require_direct();
	cr_assert_not_null(model);
	cr_assert_eq(posix_memalign((void **)&pay, 4096, R_PIECE), 0);
	f = t_open("model", O_RDWR | O_CREAT | O_TRUNC);
	for (unsigned i = 0; i < 3000; i++) {
		unsigned r = (unsigned)(t_rand() % 100);
		uint64_t off;
		size_t len;

		if (r < 25) {
			off = t_rand() % (max - R_PIECE);
			len = 1 + t_rand() % R_PIECE;
			if (t_rand() % 3 == 0) {
				off = align_down(off, 4096);
				len = align_up(len, 4096);
			}
			t_rand_fill(pay, len);
			cr_assert_eq(dfile_write(f, pay, len, off),
				     (ssize_t)len, "op %u", i);
			memcpy(model + off, pay, len);
			if (off + len > msize)
				msize = off + len;
		} else if (r < 80) {
			/* the next READ of a run, or a new run */
			if (t_rand() % 8 == 0)
				run = align_down(t_rand() % (msize + 1), 4096);
			len = t_rand() % 4 ? R_PIECE : 4096 * (1 + t_rand() % 64);
			hits += t_read_ahead(f, model, msize, run, len);
			run = run + len >= msize ? 0 : run + len;
		} else if (r < 88) {
			const void *data;
			size_t want;

			off = t_rand() % (msize + 1);
			len = 1 + t_rand() % R_PIECE;
			want = len < msize - off ? len : msize - off;
			cr_assert_eq(dfile_read(f, len, off, &data),
				     (ssize_t)want, "op %u", i);
			cr_assert_eq(memcmp(data, model + off, want), 0,
				     "op %u: read %zu at %llu", i, len,
				     (unsigned long long)off);
		} else if (r < 95) {
			uint64_t size = t_rand() % max;

			cr_assert_eq(dfile_truncate(f, size), 0);
			if (size < msize)
				memset(model + size, 0, msize - size);
			msize = size;
		} else {
			cr_assert_eq(dfile_settle(f), 0);
		}
		cr_assert_eq(dfile_size(f), msize, "op %u", i);
	}
	/* the mix must have exercised the pieces, not only the device */
	cr_expect_gt(hits, 60, "%u reads from pieces", hits);
	cr_assert_eq(dfile_close(f), 0);
	t_expect_pool_full();
	free(pay);
	free(model);
}

struct t_reader {
	struct dfile *f;
	const unsigned char *model;
	size_t size;
	unsigned slot;		/* which READ of each window */
};

static void *t_reader_main(void *arg)
{
	struct t_reader *r = arg;

	for (uint64_t w = 0; w < r->size; w += 4 * R_PIECE)
		t_read_ahead(r->f, r->model, r->size, w + r->slot * R_PIECE,
			     R_PIECE);
	return NULL;
}

/* Four threads serve the READs of each window side by side. */
Test(rahead, concurrent_readers_of_one_file)
{
	size_t size = 8 * T_MIB + 512;
	struct t_reader r[4];
	pthread_t th[4];
	unsigned char *model;
	struct dfile *f;

	t_require_direct();
	f = t_make("shared", size, &model);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 4; i++) {
			r[i] = (struct t_reader){ f, model, size, i };
			cr_assert_eq(pthread_create(&th[i], NULL,
						    t_reader_main, &r[i]), 0);
		}
		for (unsigned i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
	}
	cr_assert_eq(dfile_close(f), 0);
	t_expect_pool_full();
	free(model);
}

/* Buffers of the read-ahead pool taken at the moment. */
static unsigned t_pool_taken(void)
{
	void *b[R_POOL];
	unsigned n = 0;

	while (n < R_POOL && (b[n] = bufpool_get(t_rpool, false)))
		n++;
	for (unsigned i = n; i; i--)
		bufpool_put(t_rpool, b[i - 1]);
	return R_POOL - n;
}

/* A glance at a file's first bytes (a header, head -c) reads nothing ahead. */
Test(rahead, a_glance_at_the_start_reads_nothing_ahead)
{
	size_t size = 4 * T_MIB;
	unsigned char *model;
	struct dfile *f;

	t_require_direct();
	f = t_make("glance", size, &model);
	t_read_ahead(f, model, size, 0, 4096);
	t_read_ahead(f, model, size, 4096, 8192);
	usleep(20000);
	cr_expect_eq(t_pool_taken(), 0, "%u pieces read for 12 KiB",
		     t_pool_taken());
	cr_assert_eq(dfile_close(f), 0);
	free(model);
}

/*
 * Pieces a change voids go back at once; pieces readers that stopped left
 * landed for a second go to the next reader that finds the pool empty,
 * while those readers' files stay open.
 */
Test(rahead, void_and_abandoned_pieces_go_back, .timeout = 30)
{
	size_t size = 4 * T_MIB, len = R_PIECE;
	unsigned char *ma, *mb, *mc, *md, patch[4096];
	struct dfile *a, *b, *c, *d;
	unsigned hits = 0;

	t_require_direct();
	a = t_make("a", size, &ma);
	b = t_make("b", size, &mb);
	c = t_make("c", size, &mc);
	d = t_make("d", size, &md);
	t_read_ahead(a, ma, size, 0, len);
	usleep(20000);
	cr_assert_gt(t_pool_taken(), 0);
	memset(patch, 7, sizeof(patch));
	cr_assert_eq(dfile_write(a, patch, sizeof(patch), 3 * T_MIB), 4096);
	/* a piece still in flight goes back when it lands, not at close */
	for (int ms = 0; ms < 2000 && t_pool_taken(); ms += 10)
		usleep(10000);
	cr_expect_eq(t_pool_taken(), 0, "%u void pieces held",
		     t_pool_taken());
	memcpy(ma + 3 * T_MIB, patch, sizeof(patch));

	/* two readers stop after a piece and hold the whole pool */
	t_read_ahead(b, mb, size, 0, len);
	t_read_ahead(d, md, size, 0, len);
	usleep(20000);
	cr_assert_eq(t_pool_taken(), R_POOL);
	sleep(1);
	usleep(100000);
	for (uint64_t off = 0; off < size; off += len)
		hits += t_read_ahead(c, mc, size, off, len);
	cr_expect_gt(hits, 8, "%u reads of 16 from pieces", hits);
	cr_assert_eq(dfile_close(a), 0);
	cr_assert_eq(dfile_close(b), 0);
	cr_assert_eq(dfile_close(c), 0);
	cr_assert_eq(dfile_close(d), 0);
	t_expect_pool_full();
	free(ma);
	free(mb);
	free(mc);
	free(md);
}

static unsigned long long t_device_bytes_read(void)
{
	unsigned long long v = 0;
	char line[128];
	FILE *io = fopen("/proc/self/io", "r");

	cr_assert_not_null(io);
	while (fgets(line, sizeof(line), io))
		if (sscanf(line, "read_bytes: %llu", &v) == 1)
			break;
	fclose(io);
	return v;
}

/* Read [0, @size) piece by piece, optionally writing a block elsewhere first. */
static unsigned long long t_read_through(struct dfile *f, unsigned char *m,
					 size_t size, bool write_between)
{
	unsigned long long before = t_device_bytes_read();
	unsigned char patch[4096];

	memset(patch, 9, sizeof(patch));
	for (uint64_t off = 0; off < size; off += R_PIECE) {
		if (write_between) {
			cr_assert_eq(dfile_write(f, patch, sizeof(patch),
						 2 * size), 4096);
			memcpy(m + 2 * size, patch, sizeof(patch));
		}
		t_read_ahead(f, m, 2 * size + 4096, off, R_PIECE);
		usleep(2000);
	}
	return t_device_bytes_read() - before;
}

/*
 * A file written while it is read (every write voids the pieces) is not
 * read a depth ahead again and again: the device reads about the file.
 */
Test(rahead, a_file_written_while_read_is_read_once)
{
	size_t size = 8 * T_MIB;
	unsigned char *ma, *mb;
	struct dfile *a, *b;
	unsigned long long quiet, written;

	t_require_direct();
	a = t_make("quiet", 2 * size + 4096, &ma);
	b = t_make("written", 2 * size + 4096, &mb);
	quiet = t_read_through(a, ma, size, false);
	written = t_read_through(b, mb, size, true);
	cr_expect_lt(written, quiet + quiet / 2,
		     "%llu KiB read from the device with writes between the "
		     "reads, %llu KiB without", written >> 10, quiet >> 10);
	cr_assert_eq(dfile_close(a), 0);
	cr_assert_eq(dfile_close(b), 0);
	free(ma);
	free(mb);
}

/*
 * Readers and writers at once. Every 64-byte unit of the file holds words
 * (unit << 32 | version); a READ must never show a unit older than the
 * version whose write had returned before the READ began. Writers write
 * 4 KiB pages they own, aligned (device writes) or not (page cache).
 */
#define S_UNIT 64
#define S_SIZE (4 * T_MIB)
#define S_UNITS (S_SIZE / S_UNIT)

static struct dfile *s_file;
static _Atomic uint32_t s_landed[S_UNITS];	/* version written and returned */
static _Atomic bool s_stop;
static _Atomic unsigned s_hits, s_bad;

static void s_fill(uint64_t *w, uint64_t unit, uint64_t n, uint32_t version)
{
	for (uint64_t i = 0; i < n * (S_UNIT / 8); i++)
		w[i] = ((unit + i / (S_UNIT / 8)) << 32) | version;
}

static void *s_writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0xabcdef + id, *buf = NULL;
	uint32_t version = 1;

	cr_assert_eq(posix_memalign((void **)&buf, 4096, 4096), 0);
	while (!s_stop) {
		uint64_t page, unit, n;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		page = (rng % (S_SIZE / 4096 / 2)) * 2 + id;
		/* a whole page (aligned) or a few units inside it */
		unit = page * (4096 / S_UNIT);
		n = 4096 / S_UNIT;
		if (rng % 2) {
			unit += (rng >> 8) % 32;
			n = 1 + (rng >> 16) % 16;
		}
		version++;
		s_fill(buf, unit, n, version);
		if (dfile_write(s_file, buf, n * S_UNIT, unit * S_UNIT) !=
		    (ssize_t)(n * S_UNIT))
			s_bad++;
		for (uint64_t u = unit; u < unit + n; u++)
			atomic_store(&s_landed[u], version);
		/* rare enough for readers to go a depth between changes */
		usleep(5000);
	}
	free(buf);
	return NULL;
}

static void *s_reader(void *arg)
{
	uint64_t off = (uint64_t)(uintptr_t)arg * R_PIECE;
	uint32_t *floor = malloc(R_PIECE / S_UNIT * sizeof(*floor));

	cr_assert_not_null(floor);
	while (!s_stop) {
		uint64_t unit = off / S_UNIT, u = 0;
		struct dfile_view v;
		ssize_t n;

		for (uint64_t i = 0; i < R_PIECE / S_UNIT; i++)
			floor[i] = atomic_load(&s_landed[unit + i]);
		n = dfile_read_ahead(s_file, R_PIECE, off, NULL, 0, &v);
		if (n != R_PIECE) {
			s_bad++;
			break;
		}
		if (t_from_pieces(&v))
			s_hits++;
		for (unsigned k = 0; k < v.cnt; k++) {
			const uint64_t *w = v.iov[k].iov_base;

			for (size_t i = 0; i < v.iov[k].iov_len / S_UNIT; i++, u++)
				if (w[i * (S_UNIT / 8)] >> 32 != unit + u ||
				    (uint32_t)w[i * (S_UNIT / 8)] < floor[u])
					s_bad++;
		}
		dfile_view_end(s_file, &v);
		off = (off + R_PIECE) % S_SIZE;
	}
	free(floor);
	return NULL;
}

static void s_run(void)
{
	uint64_t *init = malloc(S_SIZE);
	pthread_t th[5];

	s_stop = false;
	s_hits = s_bad = 0;
	t_require_direct();
	cr_assert_not_null(init);
	s_fill(init, 0, S_UNITS, 0);
	s_file = t_open("stress", O_RDWR | O_CREAT | O_TRUNC);
	cr_assert_eq(dfile_write(s_file, init, S_SIZE, 0), S_SIZE);
	cr_assert_eq(dfile_settle(s_file), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, s_writer, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < 3; i++)
		pthread_create(&th[2 + i], NULL, s_reader,
			       (void *)(uintptr_t)(i * 5));
	sleep(3);
	s_stop = true;
	for (unsigned i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(s_bad, 0, "%u stale or wrong units", s_bad);
	cr_expect_gt(s_hits, 0, "no READ came from pieces");
	cr_assert_eq(dfile_close(s_file), 0);
	t_expect_pool_full();
	free(init);
}

Test(rahead, readers_never_see_a_unit_older_than_a_finished_write,
     .timeout = 60)
{
	s_run();
}

/* The same with write-behind off: aligned writes share the file's lock. */
Test(rahead, without_write_behind_readers_never_see_an_older_unit,
     .timeout = 60)
{
	kvio_free(t_io);
	t_engine(false);
	s_run();
}
