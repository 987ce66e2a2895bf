/*
 * test_rahead.c - unit tests for read-ahead (core/rahead.c): what a
 * sequential reader gets is the file, whether it comes from pieces read
 * ahead or from the device, whatever writes, truncates and hole punches
 * happen between its reads; and every piece goes back to the pool.
 *
 * Pieces are 256 KiB here, the depth 1 MiB, so files of a few MiB cross
 * many pieces and the pool of 8 runs dry; write-behind is on, as in the
 * daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "align.h"
#include "aring.h"
#include "bufpool.h"
#include "dfile.h"
#include "dio.h"
#include "t_tmpdir.h"

#define R_PIECE (256 * T_KIB)
#define R_DEPTH (4 * R_PIECE)
#define R_POOL 8

static struct aring *t_wring, *t_rring;
static struct bufpool *t_wpool, *t_rpool;

static void t_setup(void)
{
	t_tmpdir_setup("rahead");
	cr_assert_eq(bufpool_new(6, 64 * T_KIB, 4096, &t_wpool), 0);
	cr_assert_eq(aring_new(16, bufpool_base(t_wpool), 6 * 64 * T_KIB,
			       &t_wring), 0);
	cr_assert_eq(dfile_set_writeback(t_wring, t_wpool), 0);
	cr_assert_eq(bufpool_new(R_POOL, R_PIECE, 4096, &t_rpool), 0);
	cr_assert_eq(aring_new(R_POOL, bufpool_base(t_rpool),
			       R_POOL * R_PIECE, &t_rring), 0);
	cr_assert_eq(dfile_set_readahead(t_rring, t_rpool, R_DEPTH), 0);
}

static void t_teardown(void)
{
	dfile_set_readahead(NULL, NULL, 0);
	dfile_set_writeback(NULL, NULL);
	aring_free(t_rring);
	aring_free(t_wring);
	bufpool_free(t_rpool);
	bufpool_free(t_wpool);
	t_tmpdir_teardown();
}

TestSuite(rahead, .init = t_setup, .fini = t_teardown);

/* xorshift64*: deterministic across runs and machines. */
static uint64_t t_rng = 0x7a11ead5ull;

static uint64_t t_rand(void)
{
	t_rng ^= t_rng >> 12;
	t_rng ^= t_rng << 25;
	t_rng ^= t_rng >> 27;
	return t_rng * 0x2545f4914f6cdd1dull;
}

static void t_rand_fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(t_rand() >> 56);
}

static struct dfile *t_open(const char *name, int flags)
{
	struct dfile *f = NULL;
	int rc = dfile_open(t_dirfd, name, flags, 0644, 512, &f);

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

	n = dfile_read_ahead(f, len, off, &v);
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
