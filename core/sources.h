/*
 * sources.h - the source list in LMCache's local_disk syntax.
 */
#ifndef CORE_SOURCES_H
#define CORE_SOURCES_H

#include <stddef.h>

/*
 * Parse a source list in LMCache's local_disk syntax: comma-separated paths,
 * each optionally prefixed with "file://", blanks around entries ignored.
 * Each path is normalised lexically (duplicate and trailing slashes, "." and
 * ".." removed; relative paths stay relative).
 *
 * On success stores a malloc'ed array of malloc'ed strings in *@paths, their
 * number in *@count, and returns 0; free with dev_free_paths().
 * Returns -EINVAL for an empty list, an empty entry or a duplicate (message
 * in @err), -E2BIG for more than DEV_MAX entries, -ENOMEM.
 */
int dev_parse_sources(const char *list, char ***paths, unsigned *count,
		      char *err, size_t errlen);
void dev_free_paths(char **paths, unsigned count);

#endif /* CORE_SOURCES_H */
