/*
 * test_csum.c - the checksum record and the accumulator: round trips,
 * versions, records that do not match their size or are cut short, group
 * shifts of large files, and which chunks the accumulator must read back.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "csum.h"

#define T_MIB (1024 * 1024)

static uint8_t *t_data(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);

	cr_assert_not_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
	return p;
}

/* The reference: hash each chunk of @len bytes at @p, build a record. */
static struct csum_rec *t_rec_of(const uint8_t *p, size_t len)
{
	size_t n = (len + CSUM_CHUNK - 1) / CSUM_CHUNK;
	uint64_t *h = calloc(n ? n : 1, sizeof(*h));
	struct csum_rec *r;

	for (size_t k = 0; k < n; k++) {
		size_t o = k * CSUM_CHUNK;

		h[k] = XXH3_64bits(p + o, len - o < CSUM_CHUNK ? len - o :
								  CSUM_CHUNK);
	}
	cr_assert_eq(csum_rec_build(len, h, csum_group_shift(len,
							    CSUM_UNITS_FIT),
				    &r), 0);
	free(h);
	return r;
}

Test(csum, round_trip)
{
	static const size_t sizes[] = { 0, 1, 4095, CSUM_CHUNK,
					CSUM_CHUNK + 1, 3 * CSUM_CHUNK + 7 };
	uint8_t buf[CSUM_REC_MAX];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *d = t_data(sizes[i] ? sizes[i] : 1, (unsigned)i);
		struct csum_rec *r = t_rec_of(d, sizes[i]), *back;
		size_t n = csum_encode(r, buf);

		cr_assert_eq(n, CSUM_HDR_LEN + 8 * (size_t)r->n);
		cr_assert_eq(buf[0], CSUM_VERSION);
		cr_assert_eq(csum_decode(buf, n, &back), 0);
		cr_assert_eq(back->size, sizes[i]);
		cr_assert_eq(back->n, r->n);
		cr_assert_eq(back->group_shift, 0);
		cr_assert_arr_eq(back->h, r->h, r->n * sizeof(r->h[0]));
		cr_assert_eq(csum_check(back, 0, d, sizes[i], NULL), 0);
		free(back);
		free(r);
		free(d);
	}
}

Test(csum, unknown_versions_are_refused)
{
	uint8_t buf[CSUM_REC_MAX];
	uint8_t d[100] = { 7 };
	struct csum_rec *r = t_rec_of(d, sizeof(d)), *back = NULL;
	size_t n = csum_encode(r, buf);

	buf[0] = CSUM_VERSION + 1;
	cr_assert_eq(csum_decode(buf, n, &back), -EPROTO);
	buf[0] = CSUM_VERSION;
	buf[1] = 2;	/* another algorithm */
	cr_assert_eq(csum_decode(buf, n, &back), -EPROTO);
	buf[1] = CSUM_ALGO_XXH3_64;
	buf[2] = 12;	/* another chunk size */
	cr_assert_eq(csum_decode(buf, n, &back), -EPROTO);
	cr_assert_null(back);
	free(r);
}

Test(csum, records_that_do_not_fit_are_refused)
{
	uint8_t buf[CSUM_REC_MAX];
	uint8_t *d = t_data(2 * CSUM_CHUNK + 5, 1);
	struct csum_rec *r = t_rec_of(d, 2 * CSUM_CHUNK + 5), *back = NULL;
	size_t n = csum_encode(r, buf);

	cr_assert_eq(r->n, 3);
	/* too short: no header, half a header, a hash missing, a byte */
	cr_assert_eq(csum_decode(buf, 0, &back), -EBADMSG);
	cr_assert_eq(csum_decode(buf, 3, &back), -EBADMSG);
	cr_assert_eq(csum_decode(buf, CSUM_HDR_LEN - 1, &back), -EBADMSG);
	cr_assert_eq(csum_decode(buf, n - 8, &back), -EBADMSG);
	cr_assert_eq(csum_decode(buf, n - 1, &back), -EBADMSG);
	/* too long */
	cr_assert_eq(csum_decode(buf, n + 8, &back), -EBADMSG);
	/* a size that needs another count of units */
	buf[8] = 0;
	buf[9] = 0;
	buf[10] = 0x40;	/* 4 MiB + ... : four units, the record has three */
	cr_assert_eq(csum_decode(buf, n, &back), -EBADMSG);
	cr_assert_null(back);
	free(r);
	free(d);
}

Test(csum, a_changed_byte_names_its_unit)
{
	size_t len = 3 * CSUM_CHUNK + 100;
	uint8_t *d = t_data(len, 3);
	struct csum_rec *r = t_rec_of(d, len);
	uint64_t bad = 0;

	d[2 * CSUM_CHUNK + 17] ^= 0x01;
	cr_assert_eq(csum_check(r, 0, d, len, &bad), -EBADMSG);
	cr_assert_eq(bad, 2 * CSUM_CHUNK);
	/* the other units still check, alone */
	cr_assert_eq(csum_check(r, 0, d, 2 * CSUM_CHUNK, NULL), 0);
	cr_assert_eq(csum_check(r, 3 * CSUM_CHUNK, d + 3 * CSUM_CHUNK, 100,
				NULL), 0);
	/* spans that are not whole units */
	cr_assert_eq(csum_check(r, 1, d + 1, CSUM_CHUNK, NULL), -EINVAL);
	cr_assert_eq(csum_check(r, 0, d, CSUM_CHUNK - 1, NULL), -EINVAL);
	cr_assert_eq(csum_check(r, 3 * CSUM_CHUNK, d, 101, NULL), -EINVAL);
	free(r);
	free(d);
}

Test(csum, large_files_check_groups_of_chunks)
{
	uint64_t size = (uint64_t)CSUM_UNITS_FIT * CSUM_CHUNK;
	size_t nch = CSUM_UNITS_FIT * 2 - 1;
	uint64_t *h = calloc(nch, sizeof(*h));
	uint64_t last = (uint64_t)(nch - 1) * CSUM_CHUNK;
	struct csum_rec *r;
	uint8_t *unit;

	cr_assert_eq(csum_group_shift(0, CSUM_UNITS_FIT), 0);
	cr_assert_eq(csum_group_shift(size, CSUM_UNITS_FIT), 0);
	cr_assert_eq(csum_group_shift(size + 1, CSUM_UNITS_FIT), 1);
	cr_assert_eq(csum_group_shift(4 * size, CSUM_UNITS_FIT), 2);
	cr_assert_eq(csum_group_shift(UINT64_MAX / 2, CSUM_UNITS_FIT),
		     63 - 20 - 8);
	cr_assert_eq(csum_group_shift(4 * size, CSUM_UNITS_MAX), 0);
	cr_assert_eq(csum_rec_build(64 * size, h, 0, &r), -E2BIG);
	/* 510 MiB + 1 byte: 2 MiB units, the last one a byte */
	unit = t_data(2 * CSUM_CHUNK, 9);
	for (size_t k = 0; k < nch; k++)
		h[k] = XXH3_64bits(unit + (k % 2) * CSUM_CHUNK,
				   k == nch - 1 ? 1 : CSUM_CHUNK);
	cr_assert_eq(csum_rec_build(last + 1, h,
				    csum_group_shift(last + 1, CSUM_UNITS_FIT),
				    &r), 0);
	cr_assert_eq(r->group_shift, 1);
	cr_assert_eq(r->n, CSUM_UNITS_FIT);
	cr_assert_eq(csum_unit(r), 2 * CSUM_CHUNK);
	cr_assert_eq(csum_check(r, 2 * CSUM_CHUNK * 7, unit, 2 * CSUM_CHUNK,
				NULL), 0);
	cr_assert_eq(csum_check(r, last, unit, 1, NULL), 0);
	unit[CSUM_CHUNK + 5] ^= 0x80;
	cr_assert_eq(csum_check(r, 0, unit, 2 * CSUM_CHUNK, NULL), -EBADMSG);
	free(r);
	free(unit);
	free(h);
}

/*
 * Pieces of t_piece_src, which holds the file from offset *(uint64_t
 * *)@ctx on (0 if NULL), counted; the buffer is the source itself.
 */
static const uint8_t *t_piece_src;
static unsigned t_pieces;

static long t_piece(void *ctx, uint64_t off, size_t len, const void **p)
{
	uint64_t base = ctx ? *(uint64_t *)ctx : 0;

	t_pieces++;
	*p = t_piece_src + (off - base);
	return (long)len;
}

Test(csum, checks_by_pieces_as_whole)
{
	size_t len = 3 * CSUM_CHUNK + 70000;
	uint8_t *d = t_data(len, 11);
	struct csum_rec *r = t_rec_of(d, len);
	uint64_t bad = 0;

	t_piece_src = d;
	cr_assert_eq(csum_check_read(r, 0, len, 256 * 1024, t_piece, NULL,
				     &bad), 0);
	cr_assert_eq(t_pieces, 4 * 3 + 1);
	cr_assert_eq(csum_check_read(r, 3 * CSUM_CHUNK, 70000, 4096, t_piece,
				     NULL, &bad), 0);
	d[CSUM_CHUNK + 99] ^= 4;
	cr_assert_eq(csum_check_read(r, 0, len, 65536, t_piece, NULL, &bad),
		     -EBADMSG);
	cr_assert_eq(bad, CSUM_CHUNK);
	cr_assert_eq(csum_check_read(r, 1, 10, 4096, t_piece, NULL, &bad),
		     -EINVAL);
	free(r);
	free(d);
}

Test(csum, checks_groups_by_pieces)
{
	size_t nch = CSUM_UNITS_FIT * 2 - 1;
	uint64_t size = (uint64_t)(nch - 1) * CSUM_CHUNK + 1;
	uint64_t *h = calloc(nch, sizeof(*h)), bad = 0;
	uint64_t base = 14 * CSUM_CHUNK;
	uint8_t *unit = t_data(2 * CSUM_CHUNK, 12);
	struct csum_rec *r;

	for (size_t k = 0; k < nch; k++)
		h[k] = XXH3_64bits(unit + (k % 2) * CSUM_CHUNK,
				   k == nch - 1 ? 1 : CSUM_CHUNK);
	cr_assert_eq(csum_rec_build(size, h, 1, &r), 0);
	cr_assert_eq(r->group_shift, 1);
	/* unit 7 is bytes [14, 16) MiB: read from the pattern's start */
	t_piece_src = unit;
	cr_assert_eq(csum_check_read(r, base, 2 * CSUM_CHUNK, 128 * 1024,
				     t_piece, &base, &bad), 0);
	unit[5] ^= 1;
	cr_assert_eq(csum_check_read(r, base, 2 * CSUM_CHUNK, 128 * 1024,
				     t_piece, &base, &bad), -EBADMSG);
	cr_assert_eq(bad, 14 * CSUM_CHUNK);
	free(r);
	free(unit);
	free(h);
}

Test(csum, load_and_store_on_a_file)
{
	char path[] = "/tmp/kvstripe-csumXXXXXX";
	uint8_t d[5000];
	struct csum_rec *r, *back;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	memset(d, 0x5a, sizeof(d));
	r = t_rec_of(d, sizeof(d));
	if (csum_load(fd, &back) == -EOPNOTSUPP)
		cr_skip_test("no trusted xattrs in /tmp");
	cr_assert_eq(csum_load(fd, &back), -ENODATA);
	cr_assert_eq(csum_store(fd, r), 0);
	cr_assert_eq(csum_load(fd, &back), 0);
	cr_assert_eq(back->size, sizeof(d));
	cr_assert_eq(back->h[0], r->h[0]);
	free(back);
	cr_assert_eq(fsetxattr(fd, CSUM_XATTR, "\x01\x01", 2, 0), 0);
	cr_assert_eq(csum_load(fd, &back), -EBADMSG);
	cr_assert_eq(csum_remove(fd), 0);
	cr_assert_eq(csum_remove(fd), 0);
	cr_assert_eq(csum_load(fd, &back), -ENODATA);
	free(r);
	close(fd);
}

/* The accumulator's reads come from @t_file, and are counted. */
static const uint8_t *t_file;
static unsigned t_reads;

static long t_read(void *ctx, uint64_t off, size_t len, const void **p)
{
	(void)ctx;
	t_reads++;
	*p = t_file + off;
	return (long)len;
}

/* Finish @a for @len bytes of t_file: the record must be the reference. */
static void t_finish_at(struct csum_acc *a, size_t len, unsigned reads,
			int line)
{
	struct csum_rec *r, *want = t_rec_of(t_file, len);

	t_reads = 0;
	cr_assert_eq(csum_acc_finish(a, len, t_read, NULL), 0);
	cr_assert_eq(csum_acc_record(a, len, csum_group_shift(len,
							      CSUM_UNITS_FIT),
				     &r), 0);
	cr_assert_eq(r->n, want->n);
	cr_assert_arr_eq(r->h, want->h, r->n * sizeof(r->h[0]));
	cr_assert_eq(t_reads, reads, "read back %u chunks, not %u (line %d)",
		     t_reads, reads, line);
	cr_assert_eq(csum_acc_reread(a), reads);
	free(r);
	free(want);
}

#define t_finish(a, len, reads) t_finish_at(a, len, reads, __LINE__)

Test(csum, a_stream_needs_no_read_back)
{
	size_t len = 5 * CSUM_CHUNK + 12345;
	uint8_t *d = t_data(len, 4);
	struct csum_acc *a;
	size_t o = 0, step = 0;

	cr_assert_eq(csum_acc_new(&a), 0);
	t_file = d;
	while (o < len) {	/* odd write sizes */
		size_t n = 4096 * (++step % 7) + 13;

		n = n > len - o ? len - o : n;
		csum_acc_write(a, d + o, n, o);
		o += n;
	}
	t_finish(a, len, 0);
	/* the stream goes on after a finish: an append */
	d = realloc(d, len + CSUM_CHUNK);
	memset(d + len, 0x11, CSUM_CHUNK);
	t_file = d;
	csum_acc_write(a, d + len, CSUM_CHUNK, len);
	t_finish(a, len + CSUM_CHUNK, 0);
	csum_acc_free(a);
	free(d);
}

Test(csum, other_writes_are_read_back)
{
	size_t len = 6 * CSUM_CHUNK;
	uint8_t *d = t_data(len, 5);
	struct csum_acc *a;

	cr_assert_eq(csum_acc_new(&a), 0);
	t_file = d;
	/* chunks 0-3 in order, chunk 5 first then 4: a new stream each */
	csum_acc_write(a, d, 4 * CSUM_CHUNK, 0);
	csum_acc_write(a, d + 5 * CSUM_CHUNK, CSUM_CHUNK, 5 * CSUM_CHUNK);
	csum_acc_write(a, d + 4 * CSUM_CHUNK, CSUM_CHUNK, 4 * CSUM_CHUNK);
	t_finish(a, len, 0);
	/* an overwrite inside chunk 1, not at a chunk start */
	d[CSUM_CHUNK + 10] ^= 0xff;
	csum_acc_write(a, d + CSUM_CHUNK + 10, 1, CSUM_CHUNK + 10);
	t_finish(a, len, 1);
	/* a stream over chunk 1 again: read back, it is known again */
	csum_acc_write(a, d + CSUM_CHUNK, CSUM_CHUNK, CSUM_CHUNK);
	t_finish(a, len, 0);
	/* a chunk touched, then streamed over, is still read back */
	csum_acc_touch(a, 2 * CSUM_CHUNK + 4096, 4096);
	csum_acc_write(a, d + 2 * CSUM_CHUNK, CSUM_CHUNK, 2 * CSUM_CHUNK);
	/* and an fallocate in chunk 3 */
	csum_acc_touch(a, 3 * CSUM_CHUNK + 4096, 4096);
	t_finish(a, len, 2);
	csum_acc_free(a);
	free(d);
}

Test(csum, a_touch_in_the_streams_chunk_ends_the_stream)
{
	size_t len = 2 * CSUM_CHUNK + 5000;
	uint8_t *d = t_data(len + 3000, 7);
	struct csum_acc *a;

	cr_assert_eq(csum_acc_new(&a), 0);
	t_file = d;
	csum_acc_write(a, d, 2 * CSUM_CHUNK + 4900, 0);
	t_finish(a, 2 * CSUM_CHUNK + 4900, 0);
	/* bytes before the stream's end change, then it is appended to */
	d[2 * CSUM_CHUNK + 4800] ^= 1;
	csum_acc_write(a, d + 2 * CSUM_CHUNK + 4800, 1, 2 * CSUM_CHUNK + 4800);
	csum_acc_write(a, d + 2 * CSUM_CHUNK + 4900, 100, 2 * CSUM_CHUNK + 4900);
	t_finish(a, len, 1);
	/* another chunk changes: the last is read back, not the old stream */
	d[10] ^= 1;
	csum_acc_write(a, d + 10, 1, 10);
	t_finish(a, len, 2);
	csum_acc_free(a);
	free(d);
}

Test(csum, a_new_stream_short_of_a_chunk_end)
{
	size_t len = 3 * CSUM_CHUNK;
	uint8_t *d = t_data(len, 8);
	struct csum_acc *a;

	cr_assert_eq(csum_acc_new(&a), 0);
	t_file = d;
	csum_acc_write(a, d, len, 0);
	t_finish(a, len, 0);
	/* 12 KiB over the start of chunk 1, and nothing more */
	memset(d + CSUM_CHUNK, 's', 12288);
	csum_acc_write(a, d + CSUM_CHUNK, 12288, CSUM_CHUNK);
	t_finish(a, len, 1);
	csum_acc_free(a);
	free(d);
}

Test(csum, truncates)
{
	size_t len = 4 * CSUM_CHUNK;
	uint8_t *d = t_data(len, 6);
	struct csum_acc *a;

	cr_assert_eq(csum_acc_new(&a), 0);
	t_file = d;
	csum_acc_write(a, d, len, 0);
	/* down inside chunk 2: it is read back, chunks 0-1 are kept */
	csum_acc_truncate(a, len, 2 * CSUM_CHUNK + 100);
	t_finish(a, 2 * CSUM_CHUNK + 100, 1);
	/* to 0 and written again in order: nothing read back */
	csum_acc_truncate(a, 2 * CSUM_CHUNK + 100, 0);
	memset(d, 0x33, len);
	csum_acc_write(a, d, 3 * CSUM_CHUNK, 0);
	t_finish(a, 3 * CSUM_CHUNK, 0);
	/* up: the new bytes are zeros from the device */
	memset(d + 3 * CSUM_CHUNK, 0, CSUM_CHUNK);
	csum_acc_truncate(a, 3 * CSUM_CHUNK, 4 * CSUM_CHUNK);
	t_finish(a, 4 * CSUM_CHUNK, 1);
	csum_acc_free(a);
	free(d);
}

Test(csum, an_empty_file)
{
	struct csum_acc *a;
	struct csum_rec *r;

	cr_assert_eq(csum_acc_new(&a), 0);
	cr_assert_eq(csum_acc_finish(a, 0, t_read, NULL), 0);
	cr_assert_eq(csum_acc_record(a, 0, 0, &r), 0);
	cr_assert_eq(r->n, 0);
	cr_assert_eq(r->size, 0);
	free(r);
	csum_acc_free(a);
}
