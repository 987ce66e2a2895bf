/*
 * test_check.c - the offline checker (core/check.c): files crafted on two
 * "devices" (directories of a scratch directory) with records made by
 * csum_store(), the write mark set by hand, bytes flipped, records cut
 * short or of another version, one name on both devices, a planted
 * symlink to an outside tree and a tmpfs mounted inside a device; what
 * --repair removes and what it leaves.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "check.h"
#include "csum.h"
#include "t_scratch.h"

#define T_MIB	(1024u * 1024u)
#define T_NDEV	2

static int t_roots[T_NDEV];
static struct check_opts t_opts;
static struct check_result *t_res;

static void setup(void)
{
	char p[PATH_MAX];

	t_scratch_new("check");
	for (unsigned d = 0; d < T_NDEV; d++) {
		snprintf(p, sizeof(p), "%s/d%u", t_root, d);
		cr_assert_eq(mkdir(p, 0755), 0);
		t_roots[d] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cr_assert_geq(t_roots[d], 0);
	}
	snprintf(p, sizeof(p), "%s/out", t_root);
	cr_assert_eq(mkdir(p, 0755), 0);
	memset(&t_opts, 0, sizeof(t_opts));
	t_opts.policy.ndev = T_NDEV;
	t_opts.threads = 2;
	t_res = NULL;
}

static void teardown(void)
{
	check_result_free(t_res);
	for (unsigned d = 0; d < T_NDEV; d++)
		close(t_roots[d]);
	t_scratch_free();
}

TestSuite(check, .init = setup, .fini = teardown);

/* mkdir -p the parents of @path below device @d. */
static void t_parents(unsigned d, const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(t_roots[d], p, 0755))
			cr_assert_eq(errno, EEXIST, "mkdir %s", p);
		*s = '/';
	}
}

/* Hash @fd's @size bytes as a writer would and store the record. */
static void t_seal(int fd, uint64_t size)
{
	size_t n = (size + T_MIB - 1) / T_MIB;
	uint64_t *h = calloc(n ? n : 1, sizeof(*h));
	uint8_t *buf = malloc(T_MIB);
	struct csum_rec *r;

	cr_assert(h && buf);
	for (size_t k = 0; k < n; k++) {
		size_t len = size - k * T_MIB < T_MIB ? size - k * T_MIB : T_MIB;

		cr_assert_eq(pread(fd, buf, len, (off_t)(k * T_MIB)),
			     (ssize_t)len);
		h[k] = XXH3_64bits(buf, len);
	}
	cr_assert_eq(csum_rec_build(size, h,
				    csum_group_shift(size, CSUM_UNITS_FIT), &r), 0);
	cr_assert_eq(csum_store(fd, r), 0);
	free(r);
	free(buf);
	free(h);
}

/*
 * File @path of @size bytes (seeded by @seed) on device @d; with @seal a
 * record of its bytes. Returns its descriptor (read-write).
 */
static int t_file(unsigned d, const char *path, uint64_t size, unsigned seed,
		  bool seal)
{
	uint8_t *buf = malloc(T_MIB);
	int fd;

	t_parents(d, path);
	fd = openat(t_roots[d], path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	for (uint64_t o = 0; o < size; o += T_MIB) {
		size_t len = size - o < T_MIB ? size - o : T_MIB;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)((o + i) * 2654435761u >> 11) ^
				 (uint8_t)seed;
		cr_assert_eq(pwrite(fd, buf, len, (off_t)o), (ssize_t)len);
	}
	free(buf);
	if (seal)
		t_seal(fd, size);
	return fd;
}

static void t_put(unsigned d, const char *path, uint64_t size, bool seal)
{
	close(t_file(d, path, size, 7, seal));
}

static void t_flip(unsigned d, const char *path, uint64_t off)
{
	int fd = openat(t_roots[d], path, O_RDWR);
	uint8_t b;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void t_run(bool repair, bool all)
{
	check_result_free(t_res);
	t_res = NULL;
	t_opts.repair = repair;
	cr_assert_eq(check_run(t_roots, &t_opts, all, &t_res), 0);
}

/* The entry of @path on device @d in the last result, or NULL. */
static const struct check_entry *t_find(unsigned d, const char *path)
{
	for (size_t i = 0; i < t_res->n; i++)
		if (t_res->e[i].dev == d && !strcmp(t_res->e[i].path, path))
			return &t_res->e[i];
	return NULL;
}

/* @path on device @d was found with exactly @flags. */
static const struct check_entry *t_flags(unsigned d, const char *path,
					 unsigned flags)
{
	const struct check_entry *e = t_find(d, path);

	cr_assert_not_null(e, "no entry for %u:%s", d, path);
	cr_assert_eq(e->flags, flags, "%u:%s: flags %#x, expected %#x", d,
		     path, e->flags, flags);
	return e;
}

static bool t_exists(unsigned d, const char *path)
{
	struct stat st;

	return !fstatat(t_roots[d], path, &st, AT_SYMLINK_NOFOLLOW);
}

Test(check, sealed_files_verify_and_count_their_bytes)
{
	t_put(0, "gpu0/a", 3 * T_MIB + 17, true);
	t_put(0, "gpu0/empty", 0, true);
	t_put(1, "gpu1/b", T_MIB, true);
	t_run(false, false);
	cr_assert_eq(t_res->n, 0, "a clean tree lists nothing");
	cr_assert_eq(t_res->dev[0].files, 2);
	cr_assert_eq(t_res->dev[0].bytes, 3 * T_MIB + 17);
	cr_assert_eq(t_res->dev[1].files, 1);
	cr_assert_eq(t_res->dev[1].bytes, T_MIB);
	t_run(false, true);
	cr_assert_eq(t_res->n, 3, "with all, every regular file");
	t_flags(0, "gpu0/a", 0);
}

Test(check, no_record_or_an_unknown_format_is_unverified)
{
	static const uint8_t v2[CSUM_HDR_LEN] = { 2, CSUM_ALGO_XXH3_64,
						  CSUM_CHUNK_SHIFT };
	const struct check_entry *e;
	char why[128];
	int fd;

	t_put(0, "gpu0/plain", 5000, false);
	fd = t_file(0, "gpu0/v2", 5000, 1, false);
	cr_assert_eq(fsetxattr(fd, CSUM_XATTR, v2, sizeof(v2), 0), 0);
	close(fd);
	t_run(false, false);
	e = t_flags(0, "gpu0/plain", CHECK_UNVERIFIED);
	cr_assert_eq(e->why, CHECK_WHY_NORECORD);
	check_why_text(e, why, sizeof(why));
	cr_assert_str_eq(why, "no record");
	e = t_flags(0, "gpu0/v2", CHECK_UNVERIFIED);
	cr_assert_eq(e->why, CHECK_WHY_FORMAT);
	check_why_text(e, why, sizeof(why));
	cr_assert_str_eq(why, "record version 2");
	cr_assert_eq(t_res->dev[0].unverified, 2);
	cr_assert_eq(t_res->dev[0].bytes, 0, "nothing to verify against");
}

Test(check, the_write_mark_is_torn)
{
	int fd = t_file(1, "gpu1/t", 2 * T_MIB, 3, true);

	cr_assert_eq(fsetxattr(fd, CSUM_MARK_XATTR, "1", 1, 0), 0);
	close(fd);
	fd = t_file(1, "gpu1/t-norec", 123, 3, false);
	cr_assert_eq(fsetxattr(fd, CSUM_MARK_XATTR, "1", 1, 0), 0);
	close(fd);
	t_run(false, false);
	t_flags(1, "gpu1/t", CHECK_TORN);
	t_flags(1, "gpu1/t-norec", CHECK_TORN);
	cr_assert_eq(t_res->dev[1].torn, 2);
	cr_assert_eq(t_res->dev[1].bytes, 0, "a torn file is not read");
}

Test(check, a_flipped_byte_names_its_unit)
{
	const struct check_entry *e;
	char why[128];

	t_put(0, "gpu0/c", 5 * T_MIB + 999, true);
	t_flip(0, "gpu0/c", 2 * T_MIB + 5);
	t_put(0, "gpu0/tail", 5 * T_MIB + 999, true);
	t_flip(0, "gpu0/tail", 5 * T_MIB + 998);
	t_run(false, false);
	e = t_flags(0, "gpu0/c", CHECK_CORRUPT);
	cr_assert_eq(e->why, CHECK_WHY_UNIT);
	cr_assert_eq(e->off, 2 * T_MIB);
	check_why_text(e, why, sizeof(why));
	cr_assert_str_eq(why, "unit at byte 2097152 does not match");
	e = t_flags(0, "gpu0/tail", CHECK_CORRUPT);
	cr_assert_eq(e->off, 5 * T_MIB, "the short last unit");
	cr_assert_eq(t_res->dev[0].corrupt, 2);
}

Test(check, units_of_several_chunks_in_a_large_file)
{
	/* 300 MiB, sparse: units of 2 MiB (group shift 1) */
	uint64_t size = 300ull * T_MIB;
	int fd;

	t_parents(0, "gpu0/big");
	fd = openat(t_roots[0], "gpu0/big", O_RDWR | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	cr_assert_eq(pwrite(fd, "data", 4, 7 * T_MIB), 4);
	t_seal(fd, size);
	close(fd);
	t_run(false, false);
	cr_assert_eq(t_res->n, 0);
	cr_assert_eq(t_res->dev[0].bytes, size);
	t_flip(0, "gpu0/big", 201 * T_MIB + 3);
	t_run(false, false);
	cr_assert_eq(t_flags(0, "gpu0/big", CHECK_CORRUPT)->off, 200 * T_MIB);
}

Test(check, a_record_of_another_size_or_malformed_is_corrupt)
{
	static const uint8_t cut[CSUM_HDR_LEN - 2] = { CSUM_VERSION,
		CSUM_ALGO_XXH3_64, CSUM_CHUNK_SHIFT };
	const struct check_entry *e;
	char why[128];
	int fd;

	fd = t_file(0, "gpu0/grown", 4096, 1, true);
	cr_assert_eq(pwrite(fd, "x", 1, 4096), 1);
	close(fd);
	fd = t_file(0, "gpu0/cut", 4096, 1, false);
	cr_assert_eq(fsetxattr(fd, CSUM_XATTR, cut, sizeof(cut), 0), 0);
	close(fd);
	t_run(false, false);
	e = t_flags(0, "gpu0/grown", CHECK_CORRUPT);
	cr_assert_eq(e->why, CHECK_WHY_SIZE);
	check_why_text(e, why, sizeof(why));
	cr_assert_str_eq(why, "record for 4096 bytes, file has 4097");
	e = t_flags(0, "gpu0/cut", CHECK_CORRUPT);
	cr_assert_eq(e->why, CHECK_WHY_MALFORMED);
}

Test(check, copies_the_daemon_does_not_serve_are_stale)
{
	unsigned pick;

	/* gpu1/ is device 1's: the copy on device 0 is not served */
	t_put(0, "gpu1/dup", 100, true);
	t_put(1, "gpu1/dup", 200, true);
	/* a hashed name: the policy's device is visited first */
	pick = place_pick(&t_opts.policy, "top/h");
	t_put(pick, "top/h", 10, true);
	t_put(!pick, "top/h", 10, true);
	/* a directory on the device visited first shadows the file */
	pick = place_pick(&t_opts.policy, "top/s");
	cr_assert_eq(mkdirat(t_roots[pick], "top/s", 0755), 0);
	t_put(!pick, "top/s", 10, true);
	t_run(false, false);
	t_flags(0, "gpu1/dup", CHECK_STALE);
	cr_assert_null(t_find(1, "gpu1/dup"));
	pick = place_pick(&t_opts.policy, "top/h");
	t_flags(!pick, "top/h", CHECK_STALE);
	cr_assert_null(t_find(pick, "top/h"));
	pick = place_pick(&t_opts.policy, "top/s");
	t_flags(!pick, "top/s", CHECK_STALE);
	cr_assert_eq(t_res->dev[0].stale + t_res->dev[1].stale, 3);
}

Test(check, a_lone_copy_off_the_policys_devices_is_misplaced)
{
	t_put(0, "gpu1/moved", 10, true);	/* renamed into gpu1/ */
	t_put(0, "m@2@1@abc@bf16.pt", 10, true);	/* worker 1's */
	t_put(1, "m@2@1@def@bf16.pt", 10, true);
	t_put(0, "any/name", 10, true);
	t_put(1, "any/other", 10, true);
	t_run(true, false);
	t_flags(0, "gpu1/moved", CHECK_MISPLACED);
	t_flags(0, "m@2@1@abc@bf16.pt", CHECK_MISPLACED);
	cr_assert_null(t_find(1, "m@2@1@def@bf16.pt"));
	cr_assert_null(t_find(0, "any/name"), "a hashed name may be anywhere");
	cr_assert_null(t_find(1, "any/other"));
	cr_assert(t_exists(0, "gpu1/moved"), "misplaced is never removed");
	cr_assert_eq(t_res->dev[0].misplaced, 2);
	cr_assert_eq(t_res->dev[0].repaired, 0);
}

Test(check, a_planted_symlink_is_listed_not_followed)
{
	char out[128], p[PATH_MAX];
	int fd;

	/* outside: a torn file and a corrupt one, which must stay unseen */
	snprintf(out, sizeof(out), "%s/out", t_root);
	snprintf(p, sizeof(p), "%s/torn", out);
	fd = open(p, O_RDWR | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fsetxattr(fd, CSUM_MARK_XATTR, "1", 1, 0), 0);
	close(fd);
	cr_assert_eq(symlinkat(out, t_roots[0], "gpu0"), 0);
	cr_assert_eq(mkdirat(t_roots[1], "gpu1", 0755), 0);
	cr_assert_eq(symlinkat("../../out/torn", t_roots[1], "gpu1/f"), 0);
	t_run(true, false);
	t_flags(0, "gpu0", CHECK_SYMLINK);
	t_flags(1, "gpu1/f", CHECK_SYMLINK);
	cr_assert_eq(t_res->n, 2, "nothing below the link");
	cr_assert_eq(t_res->dev[0].symlinks, 1);
	cr_assert_eq(t_res->dev[0].files, 0);
	cr_assert_eq(access(p, F_OK), 0, "the outside file is still there");
	cr_assert(t_exists(1, "gpu1/f"));
}

Test(check, a_mount_point_is_listed_not_entered)
{
	char p[PATH_MAX];
	int fd;

	cr_assert_eq(mkdirat(t_roots[1], "mnt", 0755), 0);
	snprintf(p, sizeof(p), "%s/d1/mnt", t_root);
	t_scratch_tmpfs(p, 0, "size=1m");
	snprintf(p, sizeof(p), "%s/d1/mnt/torn", t_root);
	fd = open(p, O_RDWR | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fsetxattr(fd, CSUM_MARK_XATTR, "1", 1, 0), 0);
	close(fd);
	t_run(true, false);
	t_flags(1, "mnt", CHECK_MOUNT);
	cr_assert_eq(t_res->n, 1);
	cr_assert_eq(t_res->dev[1].mounts, 1);
	cr_assert_eq(access(p, F_OK), 0, "nothing removed below it");
}

Test(check, repair_removes_torn_corrupt_and_stale_only)
{
	int fd = t_file(1, "gpu1/torn", 10, 1, false);

	cr_assert_eq(fsetxattr(fd, CSUM_MARK_XATTR, "1", 1, 0), 0);
	close(fd);
	t_put(1, "gpu1/bad", 3 * T_MIB, true);
	t_flip(1, "gpu1/bad", 7);
	t_put(0, "gpu1/old", 10, true);
	t_put(1, "gpu1/old", 10, true);
	t_put(1, "gpu1/plain", 10, false);
	t_put(1, "gpu1/good", 10, true);
	t_run(true, false);
	cr_assert_eq(t_flags(1, "gpu1/torn", CHECK_TORN)->repair, 1);
	cr_assert_eq(t_flags(1, "gpu1/bad", CHECK_CORRUPT)->repair, 1);
	cr_assert_eq(t_flags(0, "gpu1/old", CHECK_STALE)->repair, 1);
	cr_assert_eq(t_flags(1, "gpu1/plain", CHECK_UNVERIFIED)->repair, 0);
	cr_assert_eq(t_res->dev[1].repaired, 2);
	cr_assert_eq(t_res->dev[1].unrepaired, 0);
	cr_assert_eq(t_res->dev[0].repaired, 1);
	cr_assert_not(t_exists(1, "gpu1/torn"));
	cr_assert_not(t_exists(1, "gpu1/bad"));
	cr_assert_not(t_exists(0, "gpu1/old"));
	cr_assert(t_exists(1, "gpu1/old"), "the served copy stays");
	cr_assert(t_exists(1, "gpu1/plain"));
	cr_assert(t_exists(1, "gpu1/good"));
	t_run(false, false);
	cr_assert_eq(t_res->n, 1, "only the unverified file is left");
}

static void t_progress(void *ctx, const struct check_progress *p)
{
	struct check_progress *last = ctx;

	cr_assert_leq(p->files_done, p->files);
	cr_assert_leq(p->bytes_done, p->bytes);
	*last = *p;
}

Test(check, many_files_on_many_threads)
{
	struct check_progress last = { 0 };
	char p[64];

	for (unsigned i = 0; i < 40; i++) {
		snprintf(p, sizeof(p), "gpu%u/f%u", i % 2, i);
		t_put(i % 2, p, (uint64_t)i * 70000, true);
	}
	t_flip(1, "gpu1/f39", 39 * 70000 - 1);
	t_put(0, "gpu0/norec", 3 * T_MIB, false);	/* counted, not read */
	t_opts.threads = 5;
	t_opts.progress = t_progress;
	t_opts.ctx = &last;
	t_run(false, false);
	cr_assert_eq(t_res->n, 2);
	t_flags(1, "gpu1/f39", CHECK_CORRUPT);
	t_flags(0, "gpu0/norec", CHECK_UNVERIFIED);
	cr_assert_eq(last.files, 41);
	cr_assert_eq(last.files_done, 41, "the last call sees every file");
	cr_assert_eq(last.bytes_done, last.bytes, "unread bytes count too");
	cr_assert_eq(last.bytes, 780ull * 70000 + 3 * T_MIB);
	cr_assert_eq(t_res->dev[0].files + t_res->dev[1].files, 41);
}

Test(check, a_tmpfs_device_is_read_too)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/d1", t_root);
	close(t_roots[1]);
	t_scratch_tmpfs(p, 0, "size=16m");
	t_roots[1] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(t_roots[1], 0);
	t_put(1, "gpu1/a", 2 * T_MIB + 3, true);
	t_put(1, "gpu1/b", 2 * T_MIB + 3, true);
	t_flip(1, "gpu1/b", T_MIB);
	t_run(false, false);
	cr_assert_eq(t_res->dev[1].bytes, 2 * (2 * T_MIB + 3));
	t_flags(1, "gpu1/b", CHECK_CORRUPT);
	cr_assert_null(t_find(1, "gpu1/a"));
}
