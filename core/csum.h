/*
 * csum.h - a file's checksums: XXH3-64 of each unit of its bytes, kept as
 * one extended attribute (CSUM_XATTR) on the backing file, and the
 * accumulator that computes them from the writes that pass through.
 *
 * Bytes are hashed in chunks of 1 MiB (CSUM_CHUNK_SHIFT): a READ of the
 * kernel's size (max_read, 1 MiB at most) aligned to it is verified by the
 * bytes it fetches, without reading more. A record holds at most
 * CSUM_UNITS_MAX hashes (64 KiB, the most an extended attribute may
 * hold), and CSUM_UNITS_FIT of them fit one filesystem block with room
 * for the client's own attributes (ext4 keeps a file's attributes in one
 * block). A file with more chunks than its filesystem takes checks units
 * of 2^g chunks (group shift g, the smallest the filesystem takes): a
 * unit's hash is XXH3-64 of its chunks' hashes (little-endian), so the
 * accumulator still hashes 1 MiB chunks and only combines them at the end.
 *
 * Record, little-endian, CSUM_HDR_LEN + 8 * n bytes:
 *   0  u8  version (CSUM_VERSION)
 *   1  u8  algorithm (CSUM_ALGO_XXH3_64)
 *   2  u8  chunk shift (CSUM_CHUNK_SHIFT)
 *   3  u8  group shift g: a unit is 2^(chunk shift + g) bytes
 *   4  u32 n, the units: ceil(size / unit), 0 for an empty file
 *   8  u64 size the record covers
 *  16  u64 hash[n]; the last unit ends at size
 * A record whose size is not the file's is not the file's record.
 */
#ifndef CORE_CSUM_H
#define CORE_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The daemon's attributes on a backing file (trusted: root's only). */
#define CSUM_XATTR_PREFIX	"trusted.kvstripe."
#define CSUM_XATTR		CSUM_XATTR_PREFIX "sums"
/* The write mark (fs/wmark.h): set while the file is being written. */
#define CSUM_MARK_XATTR		CSUM_XATTR_PREFIX "writing"

#define CSUM_VERSION		1
#define CSUM_ALGO_XXH3_64	1
#define CSUM_CHUNK_SHIFT	20
#define CSUM_CHUNK		(1u << CSUM_CHUNK_SHIFT)
#define CSUM_UNITS_MAX		8190
#define CSUM_UNITS_FIT		256
#define CSUM_HDR_LEN		16
#define CSUM_REC_MAX		(CSUM_HDR_LEN + 8 * CSUM_UNITS_MAX)
#define CSUM_GROUP_MAX		40	/* 2^60-byte units: any off_t */

struct csum_rec {
	uint64_t size;
	unsigned group_shift;
	uint32_t n;
	uint64_t h[];		/* n unit hashes */
};

/* Bytes in a unit of @r. */
static inline uint64_t csum_unit(const struct csum_rec *r)
{
	return (uint64_t)CSUM_CHUNK << r->group_shift;
}

/*
 * The smallest group shift whose units of a @size-byte file number
 * @units at most (1 to CSUM_UNITS_MAX).
 */
unsigned csum_group_shift(uint64_t size, uint32_t units);

/*
 * The hash of one unit of a group shift @g: the @len bytes at @p, a whole
 * unit or the file's last one.
 */
uint64_t csum_hash_unit(const void *p, size_t len, unsigned g);

/*
 * A new record of group shift @g for a @size-byte file from @chunks, the
 * hashes of its ceil(size / CSUM_CHUNK) chunks (each XXH3-64 of its
 * bytes). Returns 0 and the record in *@out (free() it); -E2BIG if it
 * would hold more than CSUM_UNITS_MAX units; -ENOMEM.
 */
int csum_rec_build(uint64_t size, const uint64_t *chunks, unsigned g,
		   struct csum_rec **out);

/* Encode @r into @buf (CSUM_REC_MAX bytes); returns the length. */
size_t csum_encode(const struct csum_rec *r, void *buf);

/*
 * Decode the @len bytes at @buf. Returns 0 and the record in *@out (free()
 * it); -EPROTO for a version, algorithm or chunk size this build does not
 * know; -EBADMSG for a record too short, of the wrong length, or whose
 * units do not match its size; -ENOMEM.
 */
int csum_decode(const void *buf, size_t len, struct csum_rec **out);

/*
 * Check the @len bytes at @p, file offset @off, against @r: @off is a
 * multiple of the unit and the bytes are whole units, the last one
 * possibly ending at r->size. Returns 0, or -EBADMSG with the offset of
 * the first unit that does not match in *@bad (when @bad is not NULL);
 * -EINVAL if the span is not whole units within the size.
 */
int csum_check(const struct csum_rec *r, uint64_t off, const void *p,
	       size_t len, uint64_t *bad);

/*
 * The bytes the callback csum_check_read() reads: @len bytes at @off into
 * *@p, valid until the next call; the count read, or -errno.
 */
typedef long (*csum_piece_fn)(void *ctx, uint64_t off, size_t len,
			      const void **p);

/*
 * csum_check() of [@off, @off + @len) without holding it whole: read in
 * pieces of at most @piece bytes (a power of two, at most CSUM_CHUNK)
 * with @read, hashed as they come. Returns 0; -EBADMSG and *@bad as
 * csum_check(); -EINVAL as csum_check(); -errno of @read, or -EIO if it
 * read less than asked.
 */
int csum_check_read(const struct csum_rec *r, uint64_t off, uint64_t len,
		    size_t piece, csum_piece_fn read, void *ctx,
		    uint64_t *bad);

/*
 * Read the record of the backing file @fd. Returns 0 and *@out (free()
 * it); -ENODATA if it has none; csum_decode()'s errors; -errno of
 * fgetxattr (-EOPNOTSUPP where the filesystem has no xattrs).
 */
int csum_load(int fd, struct csum_rec **out);

/*
 * Store @r on @fd, replacing any record. Returns 0 or -errno of
 * fsetxattr: -E2BIG, -ENOSPC or -ERANGE also when the filesystem takes
 * no attribute that large (a record of a larger group shift may fit).
 */
int csum_store(int fd, const struct csum_rec *r);

/* Remove @fd's record. Returns 0 (also if it had none) or -errno. */
int csum_remove(int fd);

/*
 * The accumulator: per-chunk hashes of a file being written, from the
 * bytes of its writes. A run of writes each starting where the previous
 * ended is hashed as it passes (a stream starts at a chunk boundary); a
 * chunk any other write, a truncate or an fallocate touched is left to be
 * hashed from the device at the end. Not thread-safe: the caller locks.
 */
struct csum_acc;

/* Returns 0 and an empty accumulator in *@out, or -ENOMEM. */
int csum_acc_new(struct csum_acc **out);
void csum_acc_free(struct csum_acc *a);

/*
 * @len bytes at @p were written at @off. Never fails: without memory the
 * chunks are left to the device.
 */
void csum_acc_write(struct csum_acc *a, const void *p, size_t len,
		    uint64_t off);

/* Bytes [@off, @off + @len) changed other than by a write. */
void csum_acc_touch(struct csum_acc *a, uint64_t off, uint64_t len);

/* The file's size went from @old to @size (a truncate). */
void csum_acc_truncate(struct csum_acc *a, uint64_t old, uint64_t size);

/*
 * Calls back for the bytes of chunks the accumulator lacks: read @len
 * bytes at @off into what *@p then points at (valid until the next call).
 * Returns the count read (short only at the end of the file) or -errno.
 */
typedef long (*csum_read_fn)(void *ctx, uint64_t off, size_t len,
			     const void **p);

/*
 * Make every chunk hash of a @size-byte file whose writes @a saw known:
 * chunks it lacks are read with @read. Returns 0; -errno of @read; -EIO
 * if it returned less than the chunk; -ENOMEM.
 */
int csum_acc_finish(struct csum_acc *a, uint64_t size, csum_read_fn read,
		    void *ctx);

/*
 * After csum_acc_finish() for @size, with no write since: the record of
 * group shift @g. Returns csum_rec_build()'s.
 */
int csum_acc_record(const struct csum_acc *a, uint64_t size, unsigned g,
		    struct csum_rec **out);

/* How many of the chunks of the last csum_acc_finish() were read back. */
uint64_t csum_acc_reread(const struct csum_acc *a);

#endif /* CORE_CSUM_H */
