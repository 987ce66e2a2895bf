/*
 * probe.h - what a backing directory supports: its O_DIRECT alignment, its
 * capacity, and whether its storage is the page cache (tmpfs).
 *
 * Probing writes one short-lived file, ".kvstripe-probe-PID", and removes
 * it again; nothing else in the directory is touched.
 */
#ifndef CORE_PROBE_H
#define CORE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_ALIGN_MAX	65536	/* largest O_DIRECT alignment we accept */

/* What probe_dir() found. */
struct probe {
	unsigned dio_align;	/* file offset and length alignment, power of 2 */
	unsigned mem_align;	/* buffer address alignment, power of 2 */
	uint64_t capacity;	/* bytes, from statvfs */
	bool page_cache;	/* the storage is the page cache (tmpfs) */
};

/*
 * Probe the directory open as @dirfd (named @shown in messages): create a
 * probe file with O_DIRECT, which proves the directory writable and able
 * to do direct I/O, and read the alignment from statx(STATX_DIOALIGN) on
 * it, else from the block device's logical block size in sysfs, else 4096;
 * the memory alignment is the offset alignment unless statx says otherwise.
 *
 * Returns 0 with @out filled, or -errno with one line in @err naming
 * @shown: -EACCES/-EROFS/-EPERM not writable, -EINVAL no O_DIRECT or an
 * alignment that is not a power of two up to PROBE_ALIGN_MAX, other codes
 * from creating the probe file or from statvfs.
 */
int probe_dir(int dirfd, const char *shown, struct probe *out, char *err,
	      size_t errlen);

#endif /* CORE_PROBE_H */
