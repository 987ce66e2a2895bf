/*
 * config_i.h - what the files of the config module share: the key table's
 * entry, and the strict integer parser.
 */
#ifndef MOUNT_CONFIG_I_H
#define MOUNT_CONFIG_I_H

#include <stddef.h>

#include "config.h"

enum kv_type {
	KV_STR,
	KV_UINT,
	KV_SECONDS,
	KV_BOOL,
	KV_OPTS,
};

struct kv_key {
	const char *name;
	enum kv_type type;
	unsigned field;		/* enum kv_field bit */
	size_t off;		/* of the value in struct kv_config */
	unsigned long min, max;	/* KV_UINT only */
};

const struct kv_key *kv_find(const char *name);

/* Decimal digits only: no sign, no blanks, no trailing junk. */
int parse_ulong(const char *s, unsigned long min, unsigned long max,
		unsigned long *out);

#endif /* MOUNT_CONFIG_I_H */
