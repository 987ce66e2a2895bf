/*
 * space.c - the minfree setting's parser and meaning, and the cached free
 * space of a device.
 */
#include <errno.h>
#include <sys/statvfs.h>
#include <time.h>

#include "space.h"

/* Decimal digits into *@v; false on none or overflow. Moves *@s past them. */
static bool digits(const char **s, uint64_t *v)
{
	const char *p = *s;

	*v = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (*v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		*v = *v * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	return true;
}

static int parse_percent(const char *p, uint64_t whole,
			 struct space_setting *out)
{
	uint64_t bp = whole * 100;
	unsigned places = 0;

	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++places > 2)
				return -EINVAL;
			bp += (uint64_t)(*p - '0') * (places == 1 ? 10 : 1);
		}
		if (!places)
			return -EINVAL;
	}
	if (whole > 100 || bp > 10000 || p[0] != '%' || p[1])
		return -EINVAL;
	*out = (struct space_setting){ .set = true, .percent = true,
				       .value = bp };
	return 0;
}

int space_parse(const char *s, struct space_setting *out)
{
	static const char units[] = "kmgt";
	uint64_t v;
	unsigned shift = 0;

	if (!digits(&s, &v))
		return -EINVAL;
	if (*s == '.' || *s == '%')
		return parse_percent(s, v, out);
	if (*s) {
		for (unsigned i = 0; units[i]; i++)
			if ((*s | 0x20) == units[i])
				shift = 10 * (i + 1);
		if (!shift || s[1])
			return -EINVAL;
		if (v > UINT64_MAX >> shift)
			return -EINVAL;
	}
	*out = (struct space_setting){ .set = true, .value = v << shift };
	return 0;
}

/* @capacity * @bp / 10000 without overflow. */
static uint64_t share(uint64_t capacity, uint64_t bp)
{
	return capacity / 10000 * bp + capacity % 10000 * bp / 10000;
}

uint64_t space_bytes(const struct space_setting *s, uint64_t capacity)
{
	uint64_t dflt;

	if (s && s->set)
		return s->percent ? share(capacity, s->value) : s->value;
	dflt = share(capacity, SPACE_DEFAULT_BP);
	return dflt < SPACE_DEFAULT_BYTES ? dflt : SPACE_DEFAULT_BYTES;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* never 0: that means "no sample" */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

uint64_t space_avail(struct space_avail *c, int fd)
{
	uint64_t now = now_ms();
	uint64_t at = atomic_load_explicit(&c->at_ms, memory_order_acquire);
	struct statvfs sv;
	uint64_t bytes;

	if (at && now - at < SPACE_TTL_MS)
		return atomic_load_explicit(&c->bytes, memory_order_relaxed);
	if (fstatvfs(fd, &sv))
		return at ? atomic_load_explicit(&c->bytes,
						 memory_order_relaxed)
			  : UINT64_MAX;
	bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	atomic_store_explicit(&c->bytes, bytes, memory_order_relaxed);
	atomic_store_explicit(&c->at_ms, now, memory_order_release);
	return bytes;
}
