/*
 * test_dfile_lent.c - unit tests for writes from lent buffers
 * (dfile_write_lent(), core/dfile_wb.c): which writes keep the buffer,
 * that each kept one comes back exactly once, and never before the device
 * is done with it: by the time close returns.
 *
 * A buffer given back is scribbled over at once, so a device write made
 * from it after its give-back would put the scribble on disk, where the
 * final comparison finds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dfile.h"
#include "kvio.h"
#include "t_rand.h"
#include "t_tmpdir.h"

/* Write-behind pieces of 16 KiB (buffers of 64 KiB in 4 pieces). */
#define L_PIECE		(16 * T_KIB)
#define L_PIECES	48
#define L_SCRIBBLE	0xa5

static struct kvio *l_io;
/* Buffers given back more than once: asserted by the test's thread. */
static _Atomic unsigned l_twice;
static bool l_refuse;		/* take() says no */

static void l_setup(void)
{
	struct kvio_params p = {
		.dio = T_DIO_PARAMS,
		.wb = { .buffers = 6, .size = 64 * T_KIB, .slots = 16 },
	};

	t_tmpdir_setup("dfile_lent");
	cr_assert_eq(kvio_new(&p, &l_io), 0);
	cr_assert(kvio_writes_behind(l_io));
}

static void l_teardown(void)
{
	cr_assert_eq(atomic_load(&l_twice), 0, "buffers given back twice");
	kvio_free(l_io);
	t_tmpdir_teardown();
}

TestSuite(dfile_lent, .init = l_setup, .fini = l_teardown);

/* One lent buffer: given back once, then scribbled over. */
struct l_buf {
	unsigned char *p;
	size_t len;
	bool kept;
	_Atomic unsigned back;
};


static bool l_take(void *token)
{
	(void)token;
	return !l_refuse;
}

/* On the engine's reaper thread, or the writer's. */
static void l_give_back(void *token)
{
	struct l_buf *b = token;

	if (atomic_fetch_add(&b->back, 1))
		atomic_fetch_add(&l_twice, 1);
	memset(b->p, L_SCRIBBLE, b->len);
}

static struct l_buf *l_buf_new(const unsigned char *src, size_t len)
{
	struct l_buf *b = calloc(1, sizeof(*b));

	cr_assert_not_null(b);
	b->p = aligned_alloc(4096, len);
	cr_assert_not_null(b->p);
	memcpy(b->p, src, len);
	b->len = len;
	return b;
}

/* Write @b at @off as a lender would; returns whether it was kept. */
static bool l_write(struct dfile *f, struct l_buf *b, uint64_t off)
{
	struct dfile_lend lend = {
		.take = l_take, .give_back = l_give_back, .token = b,
	};

	cr_assert_eq(dfile_write_lent(f, b->p, b->len, off, &lend),
		     (ssize_t)b->len, "write at %llu",
		     (unsigned long long)off);
	return lend.kept;
}

static void l_expect_on_disk(const char *name, const unsigned char *want,
			     size_t len)
{
	unsigned char *got = malloc(len + 1);
	int fd = openat(t_dirfd, name, O_RDONLY);

	cr_assert_not_null(got);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, got, len + 1, 0), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(got[i], want[i], "byte %zu: %#x, not %#x", i,
			     got[i], want[i]);
	close(fd);
	free(got);
}

static struct dfile *l_open(const char *name)
{
	struct dfile *f = NULL;

	cr_assert_eq(dfile_open(l_io, t_dirfd, name,
				O_RDWR | O_CREAT | O_TRUNC, 0644, 4096, &f),
		     0);
	return f;
}

/*
 * Whole pieces in shuffled order, as a client's O_DIRECT write arrives:
 * kept (but for those that found every op of the ring taken and were
 * written at once), each kept one back once by close, the file exact.
 */
Test(dfile_lent, whole_pieces_are_kept_and_come_back)
{
	unsigned char *src = malloc(L_PIECES * L_PIECE);
	struct l_buf *bufs[L_PIECES];
	size_t order[L_PIECES];
	struct dfile *f;

	t_require_direct();
	cr_assert_not_null(src);
	t_rng = 0x1e7d;
	t_rand_fill(src, L_PIECES * L_PIECE);
	for (size_t i = 0; i < L_PIECES; i++)
		order[i] = i;
	for (size_t i = L_PIECES - 1; i > 0; i--) {
		size_t j = t_rand() % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	f = l_open("whole");
	for (size_t i = 0; i < L_PIECES; i++) {
		size_t p = order[i];

		bufs[p] = l_buf_new(src + p * L_PIECE, L_PIECE);
		bufs[p]->kept = l_write(f, bufs[p], p * L_PIECE);
		if (!i)
			cr_assert(bufs[p]->kept, "the first piece");
	}
	cr_assert_eq(dfile_size(f), L_PIECES * L_PIECE);
	cr_assert_eq(dfile_close(f), 0);
	for (size_t i = 0; i < L_PIECES; i++) {
		cr_assert_eq(atomic_load(&bufs[i]->back), bufs[i]->kept,
			     "piece %zu", i);
		free(bufs[i]->p);
		free(bufs[i]);
	}
	l_expect_on_disk("whole", src, L_PIECES * L_PIECE);
	free(src);
}

/*
 * Not kept: less than a piece, an unaligned offset or address, and a
 * write that would pass bytes staged and not yet sent; the file is still
 * exactly what was written.
 */
Test(dfile_lent, writes_write_behind_must_stage_are_copied)
{
	unsigned char *src = malloc(8 * L_PIECE);
	struct l_buf *small, *unal, *after, *whole, *refused;
	struct l_buf odd = { 0 };
	struct dfile *f;

	t_require_direct();
	cr_assert_not_null(src);
	t_rand_fill(src, 8 * L_PIECE);
	f = l_open("staged");
	small = l_buf_new(src, L_PIECE / 2);
	cr_assert_not(l_write(f, small, 0), "half a piece");
	/* the stream continues, half a piece staged unsent before it */
	after = l_buf_new(src + L_PIECE / 2, 2 * L_PIECE);
	cr_assert_not(l_write(f, after, L_PIECE / 2), "past staged bytes");
	/* an address off the alignment */
	odd.p = malloc(2 * L_PIECE + 1);
	cr_assert_not_null(odd.p);
	odd.len = 2 * L_PIECE;
	odd.p += 1;
	memcpy(odd.p, src + 5 * L_PIECE / 2, 2 * L_PIECE);
	cr_assert_not(l_write(f, &odd, 5 * L_PIECE / 2), "unaligned address");
	/* an unaligned offset: write it one byte in */
	unal = l_buf_new(src + 9 * L_PIECE / 2 + 1, L_PIECE);
	cr_assert_not(l_write(f, unal, 9 * L_PIECE / 2 + 1), "odd offset");
	/* the byte before it and the bytes up to the next piece */
	cr_assert_eq(dfile_write(f, src + 9 * L_PIECE / 2, 1,
				 9 * L_PIECE / 2), 1);
	cr_assert_eq(dfile_write(f, src + 11 * L_PIECE / 2 + 1,
				 L_PIECE / 2 - 1, 11 * L_PIECE / 2 + 1),
		     (ssize_t)(L_PIECE / 2 - 1));
	cr_assert_eq(dfile_settle(f), 0);
	/* a lender that will not lend now: copied */
	l_refuse = true;
	refused = l_buf_new(src + 6 * L_PIECE, 2 * L_PIECE);
	cr_assert_not(l_write(f, refused, 6 * L_PIECE), "take refused");
	l_refuse = false;
	/* after a settle nothing is staged: a whole piece is kept */
	whole = l_buf_new(src + 6 * L_PIECE, 2 * L_PIECE);
	cr_assert(l_write(f, whole, 6 * L_PIECE), "whole pieces");
	cr_assert_eq(dfile_close(f), 0);
	cr_assert_eq(atomic_load(&whole->back), 1);
	cr_assert_eq(atomic_load(&small->back), 0);
	cr_assert_eq(atomic_load(&after->back), 0);
	cr_assert_eq(atomic_load(&unal->back), 0);
	cr_assert_eq(atomic_load(&refused->back), 0);
	free(refused->p);
	free(refused);
	l_expect_on_disk("staged", src, 8 * L_PIECE);
	free(odd.p - 1);
	free(small->p);
	free(small);
	free(after->p);
	free(after);
	free(unal->p);
	free(unal);
	free(whole->p);
	free(whole);
	free(src);
}

/*
 * Lent and copied writes of one file mixed with reads: every read sees
 * what was written, kept buffers come back, the file is exact.
 */
Test(dfile_lent, mixed_with_staged_writes_and_reads)
{
	size_t total = 64 * L_PIECE, off = 0, nbufs = 0;
	unsigned char *src = malloc(total), *got = malloc(total);
	struct l_buf *bufs[64];
	struct dfile *f;

	t_require_direct();
	cr_assert(src && got);
	t_rng = 0xbeef;
	t_rand_fill(src, total);
	f = l_open("mixed");
	while (off < total) {
		size_t n = (t_rand() % 3 + 1) * L_PIECE;
		const void *data;

		if (off + n > total)
			n = total - off;
		if (t_rand() % 2) {
			bufs[nbufs] = l_buf_new(src + off, n);
			bufs[nbufs]->kept = l_write(f, bufs[nbufs], off);
			nbufs++;
		} else {
			/* a copied write, 4 KiB short of pieces */
			size_t m = n - 4096;

			cr_assert_eq(dfile_write(f, src + off, m, off),
				     (ssize_t)m);
			cr_assert_eq(dfile_write(f, src + off + m, 4096,
						 off + m), 4096);
		}
		off += n;
		if (t_rand() % 3 == 0) {
			size_t at = t_rand() % off, len = off - at;
			ssize_t r;

			if (len > L_PIECE)
				len = L_PIECE;
			r = dfile_read_to(f, len, at, got, len, &data);
			cr_assert_eq(r, (ssize_t)len);
			cr_assert_eq(memcmp(data, src + at, len), 0,
				     "read at %zu", at);
		}
	}
	cr_assert_eq(dfile_close(f), 0);
	for (size_t i = 0; i < nbufs; i++) {
		cr_assert_eq(atomic_load(&bufs[i]->back), bufs[i]->kept,
			     "buffer %zu", i);
		free(bufs[i]->p);
		free(bufs[i]);
	}
	l_expect_on_disk("mixed", src, total);
	free(src);
	free(got);
}
