/*
 * probe.h - what a backing directory supports: O_DIRECT alignment, and
 * whether its storage is the page cache.
 */
#ifndef CORE_PROBE_H
#define CORE_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "dev.h"

/*
 * Create a probe file with O_DIRECT: proves the directory is writable and
 * supports direct I/O, and gives statx() a regular file to report the
 * alignment of.
 */
int dev_probe(struct dev *d, const char *shown, char *err, size_t errlen);

bool is_tmpfs(int fd);

#endif /* CORE_PROBE_H */
