/*
 * config_i.h - what the files of the config module share beyond config.h:
 * the strict integer parser and the control-character rule.
 */
#ifndef MOUNT_CONFIG_I_H
#define MOUNT_CONFIG_I_H

#include <stddef.h>

/*
 * Parse decimal digits only (no sign, no blanks, no trailing junk) from
 * @min to @max into *@out. Returns 0 or -EINVAL.
 */
int kv_config_parse_ulong(const char *s, unsigned long min, unsigned long max,
			  unsigned long *out);

/*
 * The first control character (0x00 to 0x1f, 0x7f) other than tab in the
 * @len bytes at @s, or NULL if there is none: no setting may hold one.
 */
const char *kv_config_ctrl(const char *s, size_t len);

#endif /* MOUNT_CONFIG_I_H */
