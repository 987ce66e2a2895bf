/*
 * sources.h - the source list in LMCache's local_disk syntax: parsed and
 * normalised lexically, never touching the filesystem.
 *
 * "/mnt/nvme0/kv, file:///mnt/nvme1/kv/" gives "/mnt/nvme0/kv" and
 * "/mnt/nvme1/kv", in the order listed: device 0, device 1.
 */
#ifndef CORE_SOURCES_H
#define CORE_SOURCES_H

#include <stddef.h>

/*
 * Parse a source list: comma-separated paths, each optionally prefixed
 * with "file://", blanks around entries ignored. Each path is normalised
 * lexically (duplicate and trailing slashes, "." and ".." removed; relative
 * paths stay relative). @list may be NULL (an empty list).
 *
 * On success stores a malloc'ed array of malloc'ed strings in *@paths, their
 * number in *@count, and returns 0; free with sources_free().
 * On failure stores NULL and 0 and returns -EINVAL for an empty list, an
 * empty entry, a duplicate, or an entry holding a control character other
 * than tab (0x01 to 0x1f, 0x7f: "control character 0xNN in entry N of the
 * source list ...", the entry not echoed), -E2BIG for more than DEV_MAX
 * entries, -ENOMEM; in each case with one line in @err (@errlen bytes).
 */
int sources_parse(const char *list, char ***paths, unsigned *count,
		  char *err, size_t errlen);

/* Free what sources_parse() returned; NULL @paths is a no-op. */
void sources_free(char **paths, unsigned count);

#endif /* CORE_SOURCES_H */
