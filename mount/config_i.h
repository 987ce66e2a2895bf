/*
 * config_i.h - what the files of the config module share beyond config.h:
 * the strict integer parser.
 */
#ifndef MOUNT_CONFIG_I_H
#define MOUNT_CONFIG_I_H

/*
 * Parse decimal digits only (no sign, no blanks, no trailing junk) from
 * @min to @max into *@out. Returns 0 or -EINVAL.
 */
int kv_config_parse_ulong(const char *s, unsigned long min, unsigned long max,
			  unsigned long *out);

#endif /* MOUNT_CONFIG_I_H */
