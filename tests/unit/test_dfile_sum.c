/*
 * test_dfile_sum.c - a dfile's checksums (core/dfile_sum.c): the record a
 * seal stores matches the bytes however they were written, a byte changed
 * behind the dfile's back fails the reads of its unit only (sync reads
 * and read-ahead), a change removes the record, and checking off stores
 * none.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "csum.h"
#include "dfile.h"
#include "kvio.h"
#include "log.h"
#include "t_rand.h"
#include "t_tmpdir.h"

static struct kvio *t_io;

/* An engine with checksums on, write-behind and read-ahead as given. */
static void t_engine(bool verify, unsigned wb, unsigned ra)
{
	struct kvio_params p = {
		.dio = T_DIO_PARAMS,
		.wb = { .buffers = wb, .size = 256 * T_KIB },
		.ra = { .buffers = ra, .size = T_MIB },
		.ra_depth = 4 * T_MIB,
		.verify = verify,
	};

	cr_assert_eq(kvio_new(&p, &t_io), 0);
}

static void t_setup(void)
{
	t_tmpdir_setup("dfsum");
	t_engine(true, 8, 8);
}

static void t_teardown(void)
{
	kvio_free(t_io);
	t_tmpdir_teardown();
}

TestSuite(dfile_sum, .init = t_setup, .fini = t_teardown);

static struct dfile *t_open(const char *name, int flags)
{
	struct dfile *f = NULL;
	int rc = dfile_open(t_io, t_dirfd, name, flags, 0644, 4096, &f);

	cr_assert_eq(rc, 0, "dfile_open %s: %s", name, strerror(-rc));
	return f;
}

static unsigned char *t_pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len);

	cr_assert_not_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 2654435761u + seed) >> 11);
	return p;
}

/* The record on @name's backing file; cr_assert if it has none. */
static struct csum_rec *t_record(const char *name)
{
	struct csum_rec *r = NULL;
	int fd = openat(t_dirfd, name, O_RDONLY);
	int rc;

	cr_assert_geq(fd, 0);
	rc = csum_load(fd, &r);
	close(fd);
	cr_assert_eq(rc, 0, "no record on %s: %s", name, strerror(-rc));
	return r;
}

static bool t_has_record(const char *name)
{
	char buf[8];
	int fd = openat(t_dirfd, name, O_RDONLY);
	ssize_t n;

	cr_assert_geq(fd, 0);
	n = fgetxattr(fd, CSUM_XATTR, buf, 0);
	close(fd);
	(void)buf;
	return n >= 0;
}

/* Write @len bytes of @d to @f in writes of @step bytes, in order. */
static void t_write_all(struct dfile *f, const unsigned char *d, size_t len,
			size_t step)
{
	for (size_t o = 0; o < len; o += step) {
		size_t n = len - o < step ? len - o : step;

		cr_assert_eq(dfile_write(f, d + o, n, o), (ssize_t)n);
	}
}

/* Every byte of @name reads back through a fresh dfile as @want. */
static void t_reads_back(const char *name, const unsigned char *want,
			 size_t len)
{
	struct dfile *f = t_open(name, O_RDONLY);
	const void *data;

	for (size_t o = 0; o < len; o += 300000) {
		size_t n = len - o < 300000 ? len - o : 300000;
		ssize_t got = dfile_read(f, n, o, &data);

		cr_assert_eq(got, (ssize_t)n, "read at %zu: %zd", o, got);
		cr_assert_eq(memcmp(data, want + o, n), 0, "differs at %zu",
			     o);
	}
	dfile_close(f);
}

Test(dfile_sum, a_stream_is_sealed_without_reading_back)
{
	size_t len = 5 * T_MIB + 1234;
	unsigned char *d = t_pattern(len, 1);
	struct kvio_sum_stats st;
	struct dfile *f;
	struct csum_rec *r;

	t_require_direct();
	f = t_open("a", O_RDWR | O_CREAT);
	t_write_all(f, d, len, 128 * T_KIB);
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert_eq(dfile_close(f), 0);
	kvio_sum_stats(t_io, &st);
	cr_assert_eq(st.sealed, 1);
	cr_assert_eq(st.reread, 0, "%llu chunks read back",
		     (unsigned long long)st.reread);
	r = t_record("a");
	cr_assert_eq(r->size, len);
	cr_assert_eq(csum_check(r, 0, d, len, NULL), 0);
	free(r);
	t_reads_back("a", d, len);
	free(d);
}

Test(dfile_sum, a_changed_byte_fails_its_unit_only)
{
	size_t len = 5 * T_MIB + 1234;
	unsigned char *d = t_pattern(len, 2);
	struct kvio_sum_stats st;
	const void *data;
	struct dfile *f;
	int fd;

	t_require_direct();
	f = t_open("b", O_RDWR | O_CREAT);
	t_write_all(f, d, len, T_MIB);
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert_eq(dfile_close(f), 0);
	/* behind the daemon's back, in chunk 2 */
	fd = openat(t_dirfd, "b", O_RDWR);
	cr_assert_eq(pwrite(fd, "\x5a\xa5", 2, 2 * T_MIB + 4097), 2);
	close(fd);
	f = t_open("b", O_RDONLY);
	cr_assert_eq(dfile_read(f, T_MIB, 2 * T_MIB, &data), -EIO);
	cr_assert_eq(dfile_read(f, 10, 3 * T_MIB - 10, &data), -EIO);
	cr_assert_eq(dfile_read(f, 2, T_MIB - 1, &data), 2);
	cr_assert_eq(dfile_read(f, 100, 3 * T_MIB + 5, &data), 100);
	cr_assert_eq(memcmp(data, d + 3 * T_MIB + 5, 100), 0);
	cr_assert_eq(dfile_read(f, 2000, len - 2000, &data), 2000);
	/* a read across the bad unit fails whole */
	cr_assert_eq(dfile_read(f, 2 * T_MIB, T_MIB + 7, &data), -EIO);
	dfile_close(f);
	kvio_sum_stats(t_io, &st);
	cr_assert_eq(st.bad_files, 1);
	cr_assert_eq(st.bad_reads, 3);
	free(d);
}

Test(dfile_sum, read_ahead_pieces_are_checked)
{
	size_t len = 8 * T_MIB;
	unsigned char *d = t_pattern(len, 3);
	struct dfile_view v;
	struct dfile *f;
	unsigned bad = 0;
	int fd;

	t_require_direct();
	f = t_open("c", O_RDWR | O_CREAT);
	t_write_all(f, d, len, T_MIB);
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert_eq(dfile_close(f), 0);
	fd = openat(t_dirfd, "c", O_RDWR);
	cr_assert_eq(pwrite(fd, "!", 1, 6 * T_MIB + 1), 1);
	close(fd);
	/* a buffered reader's READs of 128 KiB, in order */
	f = t_open("c", O_RDONLY);
	for (size_t o = 0; o < len; o += 128 * T_KIB) {
		ssize_t n = dfile_read_ahead(f, 128 * T_KIB, o, NULL, 0, &v);

		if (o / T_MIB == 6) {
			cr_assert_eq(n, -EIO, "at %zu: %zd", o, n);
			bad++;
			continue;
		}
		cr_assert_eq(n, 128 * T_KIB, "at %zu: %zd", o, n);
		cr_assert_eq(memcmp(v.iov[0].iov_base, d + o,
				    v.iov[0].iov_len), 0);
		dfile_view_end(f, &v);
	}
	cr_assert_eq(bad, 8);
	dfile_close(f);
	free(d);
}

Test(dfile_sum, a_change_removes_the_record)
{
	unsigned char *d = t_pattern(3 * T_MIB, 4);
	struct dfile *f;

	t_require_direct();
	f = t_open("e", O_RDWR | O_CREAT);
	t_write_all(f, d, 3 * T_MIB, T_MIB);
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert(t_has_record("e"));
	/* nothing changed: a second seal stores nothing new */
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert_eq(dfile_write(f, "x", 1, 10), 1);
	cr_assert_not(t_has_record("e"), "the record outlived a write");
	d[10] = 'x';
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert(t_has_record("e"));
	cr_assert_eq(dfile_truncate(f, T_MIB + 3), 0);
	cr_assert_not(t_has_record("e"), "the record outlived a truncate");
	cr_assert_eq(dfile_close(f), 0);
	t_reads_back("e", d, T_MIB + 3);	/* unchecked, and right */
	free(d);
}

/* A model of the file, changed the way the dfile is. */
struct t_model {
	unsigned char *d;
	size_t len, cap;
};

static void t_model_size(struct t_model *m, size_t len)
{
	if (len > m->cap) {
		m->d = realloc(m->d, len);
		cr_assert_not_null(m->d);
		m->cap = len;
	}
	if (len > m->len)
		memset(m->d + m->len, 0, len - m->len);
	m->len = len;
}

/* One random change to @f and @m: writes in and out of order, truncates. */
static size_t t_below(size_t n)
{
	return (size_t)(t_rand() % n);
}

static void t_change(struct dfile *f, struct t_model *m)
{
	static unsigned char buf[3 * T_MIB];
	unsigned what = (unsigned)t_below(10);
	size_t off, n;

	if (what == 0) {
		n = t_below(6 * T_MIB);
		cr_assert_eq(dfile_truncate(f, n), 0);
		t_model_size(m, n);
		return;
	}
	n = 1 + t_below(what < 5 ? 3 * T_MIB : 9000);
	/* appends, mostly: a stream, with overwrites and holes between */
	off = what < 6 ? m->len : t_below(m->len + T_MIB);
	if (what == 6)	/* a new stream over old chunks, short of their end */
		off = off / T_MIB * T_MIB;
	t_rand_fill(buf, n);
	cr_assert_eq(dfile_write(f, buf, n, off), (ssize_t)n);
	if (off + n > m->len)
		t_model_size(m, off + n);
	memcpy(m->d + off, buf, n);
}

Test(dfile_sum, random_changes_seal_to_what_the_file_holds, .timeout = 240)
{
	struct t_model m = { 0 };
	struct dfile *f;

	t_require_direct();
	t_rng = 20261207;
	f = t_open("r", O_RDWR | O_CREAT);
	for (unsigned round = 0; round < 40; round++) {
		unsigned changes = 1 + t_below(6);

		for (unsigned i = 0; i < changes; i++)
			t_change(f, &m);
		cr_assert_eq(dfile_seal(f), 0);
		if (t_below(3) == 0) {
			/* read through a new dfile: every unit checked */
			cr_assert_eq(dfile_close(f), 0);
			t_reads_back("r", m.d, m.len);
			f = t_open("r", O_RDWR);
		}
	}
	cr_assert_eq(dfile_close(f), 0);
	t_reads_back("r", m.d, m.len);
	free(m.d);
}

Test(dfile_sum, a_record_of_another_size_fails_every_read)
{
	unsigned char *d = t_pattern(2 * T_MIB, 5);
	struct dfile_view v;
	const void *data;
	struct dfile *f;
	int fd;

	t_require_direct();
	f = t_open("s", O_RDWR | O_CREAT);
	t_write_all(f, d, 2 * T_MIB, T_MIB);
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert_eq(dfile_close(f), 0);
	fd = openat(t_dirfd, "s", O_RDWR);
	cr_assert_eq(ftruncate(fd, T_MIB), 0);
	close(fd);
	f = t_open("s", O_RDONLY);
	cr_assert_eq(dfile_read_ahead(f, 128 * T_KIB, 0, NULL, 0, &v), -EIO);
	cr_assert_eq(dfile_read(f, 100, 0, &data), -EIO);
	cr_assert_eq(dfile_read_ahead(f, 128 * T_KIB, 128 * T_KIB, NULL, 0,
				      &v), -EIO);
	dfile_close(f);
	free(d);
}

Test(dfile_sum, checking_off_stores_nothing)
{
	unsigned char *d = t_pattern(2 * T_MIB, 6);
	struct dfile *f;

	t_require_direct();
	kvio_free(t_io);
	t_engine(false, 8, 8);
	f = t_open("o", O_RDWR | O_CREAT);
	t_write_all(f, d, 2 * T_MIB, T_MIB);
	cr_assert_eq(dfile_seal(f), 0);
	cr_assert_eq(dfile_close(f), 0);
	cr_assert_not(t_has_record("o"));
	free(d);
}
