/*
 * probe.c - what a backing directory supports: O_DIRECT alignment from
 * statx(STATX_DIOALIGN) on a probe file, else the block device's logical
 * block size, else 4096; the capacity, and whether the storage is the page
 * cache (tmpfs). The probe file is removed before probe_dir() returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "align.h"

#include "log.h"
#include "probe.h"

#define PROBE_FALLBACK_ALIGN	4096

/*
 * Our own copy of the kernel's struct statx (a stable 256-byte ABI): the
 * kernel headers glibc 2.36 may be paired with predate the direct I/O
 * fields, so we call the system call with this layout instead.
 */
#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN		0x00002000U
#endif

struct kv_statx_ts {
	int64_t sec;
	uint32_t nsec;
	int32_t reserved;
};

struct kv_statx {
	uint32_t mask;
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t spare0;
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	struct kv_statx_ts atime, btime, ctime, mtime;
	uint32_t rdev_major;
	uint32_t rdev_minor;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t mnt_id;
	uint32_t dio_mem_align;
	uint32_t dio_offset_align;
	uint64_t spare3[12];
};

_Static_assert(offsetof(struct kv_statx, dio_mem_align) == 0x98,
	       "struct kv_statx does not match the kernel's struct statx");
_Static_assert(sizeof(struct kv_statx) == 0x100,
	       "struct kv_statx does not match the kernel's struct statx");

/* The number in sysfs file @name, or 0. */
static unsigned long probe_sysfs_ulong(const char *name)
{
	unsigned long v;
	char buf[32], *end;
	ssize_t n;
	int fd;

	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	v = strtoul(buf, &end, 10);
	return end == buf ? 0 : v;
}

/* The logical block size of the block device behind @dev, or 0. */
static unsigned probe_block_size(dev_t dev)
{
	unsigned long v;
	char name[96];

	snprintf(name, sizeof(name),
		 "/sys/dev/block/%u:%u/queue/logical_block_size",
		 major(dev), minor(dev));
	v = probe_sysfs_ulong(name);
	if (!v) {
		/* a partition's queue lives in its parent disk */
		snprintf(name, sizeof(name),
			 "/sys/dev/block/%u:%u/../queue/logical_block_size",
			 major(dev), minor(dev));
		v = probe_sysfs_ulong(name);
	}
	return is_pow2(v) && v <= PROBE_ALIGN_MAX ? v : 0;
}

/*
 * Create the probe file with O_DIRECT in @dirfd; an earlier process with
 * our pid may have left it behind. Returns the descriptor or -errno, with
 * the message in @err.
 */
static int probe_file_create(int dirfd, const char *name, const char *shown,
			     char *err, size_t errlen)
{
	int fd, rc, tries;

	for (tries = 0;; tries++) {
		fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY |
			    O_DIRECT | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		rc = -errno;
		if (rc == -EEXIST && !tries && !unlinkat(dirfd, name, 0))
			continue;
		break;
	}
	if (rc == -EACCES || rc == -EROFS || rc == -EPERM)
		log_format(err, errlen,
			"backing directory '%s' is not writable: %s",
			shown, strerror(-rc));
	else if (rc == -EINVAL)
		log_format(err, errlen,
			"backing directory '%s' does not support O_DIRECT",
			shown);
	else
		log_format(err, errlen,
			"cannot create a probe file in '%s': %s",
			shown, strerror(-rc));
	return rc;
}

/* The alignment O_DIRECT needs on @fd, a file opened with it. */
static void probe_alignment(int fd, struct probe *out)
{
	struct kv_statx stx;
	struct stat st;

	memset(&stx, 0, sizeof(stx));
	if (!syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.mask & STATX_DIOALIGN) && stx.dio_offset_align) {
		out->dio_align = stx.dio_offset_align;
		out->mem_align = stx.dio_mem_align;
	} else {
		/* no statx, or the filesystem does not report alignment */
		out->dio_align = 0;
		out->mem_align = 0;
		if (!fstat(fd, &st))
			out->dio_align = probe_block_size(st.st_dev);
		if (!out->dio_align)
			out->dio_align = PROBE_FALLBACK_ALIGN;
	}
	if (!out->mem_align)
		out->mem_align = out->dio_align;
}

static bool probe_is_tmpfs(int fd)
{
	struct statfs sf;

	return !fstatfs(fd, &sf) && sf.f_type == TMPFS_MAGIC;
}

int probe_dir(int dirfd, const char *shown, struct probe *out, char *err,
	      size_t errlen)
{
	struct statvfs sv;
	char name[64];
	int fd, rc;

	memset(out, 0, sizeof(*out));
	snprintf(name, sizeof(name), ".kvstripe-probe-%d", (int)getpid());
	fd = probe_file_create(dirfd, name, shown, err, errlen);
	if (fd < 0)
		return fd;
	probe_alignment(fd, out);
	close(fd);
	unlinkat(dirfd, name, 0);

	if (!is_pow2(out->dio_align) || out->dio_align > PROBE_ALIGN_MAX ||
	    !is_pow2(out->mem_align) || out->mem_align > PROBE_ALIGN_MAX) {
		log_format(err, errlen,
			"backing directory '%s' needs an unsupported O_DIRECT alignment (offset %u, memory %u)",
			shown, out->dio_align, out->mem_align);
		return -EINVAL;
	}
	if (fstatvfs(dirfd, &sv)) {
		rc = -errno;
		log_format(err, errlen, "cannot statfs backing directory '%s': %s",
			shown, strerror(-rc));
		return rc;
	}
	out->capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
	out->page_cache = probe_is_tmpfs(dirfd);
	return 0;
}
