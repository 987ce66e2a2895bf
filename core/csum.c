/*
 * csum.c - the checksum record (format in csum.h) and the accumulator that
 * hashes a file's chunks from its writes. A chunk is known only when a
 * stream of writes covered all of it and nothing else touched it since;
 * every other chunk is hashed from the device at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#define XXH_STATIC_LINKING_ONLY	/* XXH3_state_t on the stack */
#include <xxhash.h>
#if defined(__x86_64__)
/*
 * The library's plain XXH3 is built for SSE2; its _dispatch entry points
 * pick AVX2 or AVX-512 at run time: 3-4 times the speed here (5 against
 * 20 GB/s for 1 MiB). The header renames the XXH3_64bits* calls below.
 */
#include <xxh_x86dispatch.h>
#endif

#include "csum.h"

#define NO_STREAM UINT64_MAX

enum chunk_state {
	CHUNK_NONE = 0,	/* not hashed */
	CHUNK_OK,	/* h[] holds its hash */
	CHUNK_DIRTY,	/* touched outside a stream: from the device only */
};

struct csum_acc {
	XXH3_state_t *st;	/* the stream's chunk so far */
	uint64_t pos;		/* where the stream goes on, or NO_STREAM */
	uint64_t *h;
	uint8_t *state;		/* enum chunk_state per chunk */
	size_t cap;		/* chunks h and state have room for */
	bool lost;		/* memory ran out: every chunk from the device */
	uint64_t reread;
};

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

unsigned csum_group_shift(uint64_t size, uint32_t units)
{
	unsigned g = 0;

	while (g < CSUM_GROUP_MAX &&
	       div_up(size, (uint64_t)CSUM_CHUNK << g) > units)
		g++;
	return g;
}

/* XXH3-64 of @n chunk hashes, little-endian: a unit of several chunks. */
static uint64_t hash_of_hashes(const uint64_t *h, uint64_t n)
{
	XXH3_state_t st;
	uint8_t le[8];

	XXH3_64bits_reset(&st);
	for (uint64_t i = 0; i < n; i++) {
		put_le64(le, h[i]);
		XXH3_64bits_update(&st, le, sizeof(le));
	}
	return XXH3_64bits_digest(&st);
}

uint64_t csum_hash_unit(const void *p, size_t len, unsigned g)
{
	XXH3_state_t st;
	const uint8_t *b = p;
	uint8_t le[8];

	if (g == 0)
		return XXH3_64bits(p, len);
	XXH3_64bits_reset(&st);
	for (size_t o = 0; o < len; o += CSUM_CHUNK) {
		size_t n = len - o < CSUM_CHUNK ? len - o : CSUM_CHUNK;

		put_le64(le, XXH3_64bits(b + o, n));
		XXH3_64bits_update(&st, le, sizeof(le));
	}
	return XXH3_64bits_digest(&st);
}

static struct csum_rec *rec_alloc(uint64_t size, unsigned g, uint32_t n)
{
	struct csum_rec *r = malloc(sizeof(*r) + n * sizeof(r->h[0]));

	if (r) {
		r->size = size;
		r->group_shift = g;
		r->n = n;
	}
	return r;
}

int csum_rec_build(uint64_t size, const uint64_t *chunks, unsigned g,
		   struct csum_rec **out)
{
	uint64_t nchunks = div_up(size, CSUM_CHUNK);
	uint64_t per = (uint64_t)1 << g, n = div_up(nchunks, per);
	struct csum_rec *r;

	if (g > CSUM_GROUP_MAX || n > CSUM_UNITS_MAX)
		return -E2BIG;
	r = rec_alloc(size, g, (uint32_t)n);
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->n; i++) {
		uint64_t first = (uint64_t)i << g;
		uint64_t cnt = nchunks - first < per ? nchunks - first : per;

		r->h[i] = g ? hash_of_hashes(chunks + first, cnt) :
			      chunks[first];
	}
	*out = r;
	return 0;
}

size_t csum_encode(const struct csum_rec *r, void *buf)
{
	uint8_t *b = buf;

	b[0] = CSUM_VERSION;
	b[1] = CSUM_ALGO_XXH3_64;
	b[2] = CSUM_CHUNK_SHIFT;
	b[3] = (uint8_t)r->group_shift;
	for (int i = 0; i < 4; i++)
		b[4 + i] = (uint8_t)(r->n >> (8 * i));
	put_le64(b + 8, r->size);
	for (uint32_t i = 0; i < r->n; i++)
		put_le64(b + CSUM_HDR_LEN + 8 * (size_t)i, r->h[i]);
	return CSUM_HDR_LEN + 8 * (size_t)r->n;
}

int csum_decode(const void *buf, size_t len, struct csum_rec **out)
{
	const uint8_t *b = buf;
	struct csum_rec *r;
	uint64_t size;
	uint32_t n = 0;
	unsigned g;

	if (len < 4)
		return -EBADMSG;
	if (b[0] != CSUM_VERSION || b[1] != CSUM_ALGO_XXH3_64 ||
	    b[2] != CSUM_CHUNK_SHIFT)
		return -EPROTO;
	if (len < CSUM_HDR_LEN)
		return -EBADMSG;
	g = b[3];
	for (int i = 3; i >= 0; i--)
		n = n << 8 | b[4 + i];
	size = get_le64(b + 8);
	if (g > CSUM_GROUP_MAX || n > CSUM_UNITS_MAX ||
	    n != div_up(size, (uint64_t)CSUM_CHUNK << g) ||
	    len != CSUM_HDR_LEN + 8 * (size_t)n)
		return -EBADMSG;
	r = rec_alloc(size, g, n);
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		r->h[i] = get_le64(b + CSUM_HDR_LEN + 8 * (size_t)i);
	*out = r;
	return 0;
}

int csum_check(const struct csum_rec *r, uint64_t off, const void *p,
	       size_t len, uint64_t *bad)
{
	uint64_t unit = csum_unit(r), end = off + len;
	const uint8_t *b = p;

	if (off % unit || end > r->size || end < off ||
	    (end % unit && end != r->size))
		return -EINVAL;
	for (uint64_t o = off; o < end; o += unit) {
		size_t n = end - o < unit ? (size_t)(end - o) : (size_t)unit;

		if (csum_hash_unit(b + (o - off), n, r->group_shift) !=
		    r->h[o / unit]) {
			if (bad)
				*bad = o;
			return -EBADMSG;
		}
	}
	return 0;
}

/* Hash the @len bytes at @off, a chunk or its end, into @st by pieces. */
static int hash_pieces(XXH3_state_t *st, uint64_t off, uint64_t len,
		       size_t piece, csum_piece_fn read, void *ctx)
{
	for (uint64_t o = off; o < off + len; o += piece) {
		size_t n = off + len - o < piece ? (size_t)(off + len - o) :
						   piece;
		const void *p;
		long got = read(ctx, o, n, &p);

		if (got < 0)
			return (int)got;
		if ((size_t)got != n)
			return -EIO;
		XXH3_64bits_update(st, p, n);
	}
	return 0;
}

int csum_check_read(const struct csum_rec *r, uint64_t off, uint64_t len,
		    size_t piece, csum_piece_fn read, void *ctx,
		    uint64_t *bad)
{
	uint64_t unit = csum_unit(r), end = off + len;
	XXH3_state_t st, us;
	uint8_t le[8];
	int rc;

	if (off % unit || end > r->size || end < off ||
	    (end % unit && end != r->size))
		return -EINVAL;
	for (uint64_t u = off; u < end; u += unit) {
		uint64_t uend = end - u < unit ? end : u + unit, h;

		XXH3_64bits_reset(&us);
		for (uint64_t c = u; c < uend; c += CSUM_CHUNK) {
			uint64_t n = uend - c < CSUM_CHUNK ? uend - c :
							     CSUM_CHUNK;

			XXH3_64bits_reset(&st);
			rc = hash_pieces(&st, c, n, piece, read, ctx);
			if (rc)
				return rc;
			put_le64(le, XXH3_64bits_digest(&st));
			XXH3_64bits_update(&us, le, sizeof(le));
		}
		h = r->group_shift ? XXH3_64bits_digest(&us) : get_le64(le);
		if (h != r->h[u / unit]) {
			if (bad)
				*bad = u;
			return -EBADMSG;
		}
	}
	return 0;
}

/* Records of CSUM_UNITS_FIT units or fewer are read on the stack. */
#define REC_SMALL	(CSUM_HDR_LEN + 8 * CSUM_UNITS_FIT)

int csum_load(int fd, struct csum_rec **out)
{
	uint8_t small[REC_SMALL], *buf = small;
	ssize_t n = fgetxattr(fd, CSUM_XATTR, buf, sizeof(small));
	int rc;

	if (n < 0 && errno == ERANGE) {
		buf = malloc(CSUM_REC_MAX);
		if (!buf)
			return -ENOMEM;
		n = fgetxattr(fd, CSUM_XATTR, buf, CSUM_REC_MAX);
	}
	if (n < 0)
		rc = errno == ERANGE ? -EBADMSG : -errno;
	else
		rc = csum_decode(buf, (size_t)n, out);
	if (buf != small)
		free(buf);
	return rc;
}

int csum_store(int fd, const struct csum_rec *r)
{
	uint8_t small[REC_SMALL], *buf = small;
	size_t n;
	int rc = 0;

	if (r->n > CSUM_UNITS_FIT) {
		buf = malloc(CSUM_REC_MAX);
		if (!buf)
			return -ENOMEM;
	}
	n = csum_encode(r, buf);
	if (fsetxattr(fd, CSUM_XATTR, buf, n, 0))
		rc = -errno;
	if (buf != small)
		free(buf);
	return rc;
}

int csum_remove(int fd)
{
	if (fremovexattr(fd, CSUM_XATTR) && errno != ENODATA)
		return -errno;
	return 0;
}

int csum_acc_new(struct csum_acc **out)
{
	struct csum_acc *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->st = XXH3_createState();
	if (!a->st) {
		free(a);
		return -ENOMEM;
	}
	a->pos = NO_STREAM;
	*out = a;
	return 0;
}

void csum_acc_free(struct csum_acc *a)
{
	if (!a)
		return;
	XXH3_freeState(a->st);
	free(a->h);
	free(a->state);
	free(a);
}

/* Room for @n chunks; false (and everything lost) without memory. */
static bool acc_grow(struct csum_acc *a, uint64_t n)
{
	size_t cap = a->cap ? a->cap : 64;
	uint64_t *h;
	uint8_t *st;

	if (a->lost)
		return false;
	if (n <= a->cap)
		return true;
	while (cap < n)
		cap *= 2;
	h = realloc(a->h, cap * sizeof(*h));
	if (h)
		a->h = h;
	st = h ? realloc(a->state, cap) : NULL;
	if (!st) {
		a->lost = true;
		a->pos = NO_STREAM;
		return false;
	}
	memset(st + a->cap, CHUNK_NONE, cap - a->cap);
	a->state = st;
	a->cap = cap;
	return true;
}

void csum_acc_touch(struct csum_acc *a, uint64_t off, uint64_t len)
{
	uint64_t last;

	if (!len)
		return;
	last = (off + len - 1) >> CSUM_CHUNK_SHIFT;
	if (!acc_grow(a, last + 1))
		return;
	for (uint64_t k = off >> CSUM_CHUNK_SHIFT; k <= last; k++)
		a->state[k] = CHUNK_DIRTY;
	/* bytes the stream hashed in its chunk changed: it cannot go on */
	if (a->pos != NO_STREAM && a->pos % CSUM_CHUNK &&
	    off >> CSUM_CHUNK_SHIFT <= a->pos >> CSUM_CHUNK_SHIFT &&
	    a->pos >> CSUM_CHUNK_SHIFT <= last)
		a->pos = NO_STREAM;
}

void csum_acc_truncate(struct csum_acc *a, uint64_t old, uint64_t size)
{
	uint64_t first = div_up(size, CSUM_CHUNK);

	if (size == old)
		return;
	if (size > old) {
		csum_acc_touch(a, old, size - old);	/* zeros now */
		return;
	}
	/* chunks past the size are gone: what they hold next is written */
	for (uint64_t k = first; k < a->cap; k++)
		a->state[k] = CHUNK_NONE;
	if (size % CSUM_CHUNK)
		csum_acc_touch(a, size, 1);
	if (a->pos != NO_STREAM && a->pos > size)
		a->pos = NO_STREAM;
}

void csum_acc_write(struct csum_acc *a, const void *p, size_t len,
		    uint64_t off)
{
	const uint8_t *b = p;

	if (!len || !acc_grow(a, ((off + len - 1) >> CSUM_CHUNK_SHIFT) + 1))
		return;
	if (off != a->pos) {
		if (off % CSUM_CHUNK) {
			/* also taints the stream's chunk if it overlaps */
			csum_acc_touch(a, off, len);
			return;
		}
		XXH3_64bits_reset(a->st);
		a->pos = off;
	}
	/* the chunks it writes are known again only once it has them whole */
	for (uint64_t k = off >> CSUM_CHUNK_SHIFT;
	     k <= (off + len - 1) >> CSUM_CHUNK_SHIFT; k++)
		if (a->state[k] == CHUNK_OK)
			a->state[k] = CHUNK_NONE;
	while (len) {
		size_t room = CSUM_CHUNK - (size_t)(a->pos % CSUM_CHUNK);
		size_t n = len < room ? len : room;
		uint64_t k = a->pos >> CSUM_CHUNK_SHIFT;

		XXH3_64bits_update(a->st, b, n);
		b += n;
		len -= n;
		a->pos += n;
		if (a->pos % CSUM_CHUNK == 0) {
			if (a->state[k] != CHUNK_DIRTY) {
				a->h[k] = XXH3_64bits_digest(a->st);
				a->state[k] = CHUNK_OK;
			}
			XXH3_64bits_reset(a->st);
		}
	}
}

/* Hash chunk @k of a @size-byte file from the device. */
static int acc_reread(struct csum_acc *a, uint64_t k, uint64_t size,
		      csum_read_fn read, void *ctx)
{
	uint64_t off = k << CSUM_CHUNK_SHIFT;
	size_t len = size - off < CSUM_CHUNK ? (size_t)(size - off) :
					       CSUM_CHUNK;
	const void *p;
	long got = read(ctx, off, len, &p);

	if (got < 0)
		return (int)got;
	if ((size_t)got != len)
		return -EIO;
	a->h[k] = XXH3_64bits(p, len);
	a->state[k] = CHUNK_OK;
	a->reread++;
	return 0;
}

int csum_acc_finish(struct csum_acc *a, uint64_t size, csum_read_fn read,
		    void *ctx)
{
	uint64_t n = div_up(size, CSUM_CHUNK);
	bool tail = size % CSUM_CHUNK != 0;
	int rc;

	a->reread = 0;
	if (n && !acc_grow(a, n))
		return -ENOMEM;
	for (uint64_t k = 0; k < n; k++) {
		if (a->state[k] == CHUNK_OK)
			continue;
		/*
		 * A stream that ends at the size has the short last chunk;
		 * it stays unfinished, as the stream may go on.
		 */
		if (k == n - 1 && tail && a->pos == size &&
		    a->state[k] == CHUNK_NONE) {
			a->h[k] = XXH3_64bits_digest(a->st);
			continue;
		}
		rc = acc_reread(a, k, size, read, ctx);
		if (rc)
			return rc;
	}
	if (tail && a->state[n - 1] == CHUNK_OK)
		a->state[n - 1] = CHUNK_NONE;	/* hashed short */
	return 0;
}

int csum_acc_record(const struct csum_acc *a, uint64_t size, unsigned g,
		    struct csum_rec **out)
{
	return csum_rec_build(size, a->h, g, out);
}

uint64_t csum_acc_reread(const struct csum_acc *a)
{
	return a->reread;
}
