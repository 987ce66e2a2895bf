/*
 * rootwait.c - -o require_mounts: hold the start until the backing
 * directories are mounted (a filesystem other than the one holding /).
 *
 * Only "not on the root filesystem" is checked: a backing directory on
 * another filesystem that is itself not mounted yet (say /mnt/nvme1 on a
 * /mnt that is a mount of its own) is accepted; docs/configuration.md
 * says so, and recommends the systemd ordering that makes it moot.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dev.h"
#include "log.h"
#include "rootwait.h"

#define ROOTWAIT_STEP_NS	500000000L	/* 0.5 s between checks */

int rootwait_parent(const char *path, char *buf, size_t len)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;		/* "a/b/" is "a/b" */
	while (n && path[n - 1] != '/')
		n--;		/* drop the last component */
	while (n > 1 && path[n - 1] == '/')
		n--;		/* and the slashes before it */
	if (!n)
		path = ".", n = 1;	/* a relative name alone */
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}

int rootwait_dev_of(const char *path, dev_t *dev, bool *exists)
{
	char cur[4096], up[4096];
	struct stat st;

	if (strlen(path) >= sizeof(cur))
		return -ENAMETOOLONG;
	strcpy(cur, path);
	*exists = true;
	while (stat(cur, &st)) {
		if (errno != ENOENT)
			return -errno;
		*exists = false;
		if (rootwait_parent(cur, up, sizeof(up)))
			return -ENAMETOOLONG;
		if (!strcmp(up, cur))
			return -ENOENT;	/* "/" or "." itself is missing */
		strcpy(cur, up);
	}
	*dev = st.st_dev;
	return 0;
}

/* Bit @i of a DEV_MAX-bit map. */
static bool rootwait_bit(const unsigned char *map, unsigned i)
{
	return map[i / 8] & (1u << (i % 8));
}

/*
 * Check every path once: set bit i of @on_root for each path on the root
 * filesystem, and of @waiting for each one not ready (on /, or missing
 * without @mkdir). Returns how many are not ready, or -errno with the line
 * in @err.
 */
static int rootwait_check(char *const *paths, unsigned count, dev_t root,
			  bool mkdir, unsigned char *on_root,
			  unsigned char *waiting, char *err, size_t errlen)
{
	unsigned i, n = 0;
	bool exists;
	dev_t dev;
	int rc;

	memset(on_root, 0, DEV_MAX / 8);
	memset(waiting, 0, DEV_MAX / 8);
	for (i = 0; i < count; i++) {
		rc = rootwait_dev_of(paths[i], &dev, &exists);
		if (rc) {
			log_format(err, errlen,
				"cannot stat backing directory '%s': %s",
				paths[i], strerror(-rc));
			return rc;
		}
		if (dev == root)
			on_root[i / 8] |= 1u << (i % 8);
		if (dev == root || (!exists && !mkdir)) {
			waiting[i / 8] |= 1u << (i % 8);
			n++;
		}
	}
	return (int)n;
}

/* "'A' (device 0), 'B' (device 2)": the paths set in @map; how many. */
static unsigned rootwait_list(char *const *paths, unsigned count,
			      const unsigned char *map, char *buf, size_t len)
{
	unsigned i, n = 0;
	size_t used = 0;

	buf[0] = '\0';
	for (i = 0; i < count; i++) {
		if (!rootwait_bit(map, i))
			continue;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used,
				"%s'%s' (device %u)", n ? ", " : "",
				paths[i], i);
		n++;
	}
	return n;
}

static double rootwait_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int rootwait_wait(char *const *paths, unsigned count, double seconds,
		  bool mkdir, char *err, size_t errlen)
{
	const struct timespec step = { 0, ROOTWAIT_STEP_NS };
	unsigned char on_root[DEV_MAX / 8], waiting[DEV_MAX / 8];
	double start = rootwait_now(), waited = 0;
	char list[768];
	struct stat rst;
	unsigned n;
	int rc;

	if (stat("/", &rst)) {
		rc = -errno;
		log_format(err, errlen, "cannot stat '/': %s", strerror(-rc));
		return rc;
	}
	if (count > DEV_MAX)
		count = DEV_MAX;	/* devset_open() refuses the rest */
	for (;;) {
		rc = rootwait_check(paths, count, rst.st_dev, mkdir, on_root,
				    waiting, err, errlen);
		if (rc <= 0 || waited >= seconds)
			break;
		if (!waited) {
			rootwait_list(paths, count, waiting, list,
				      sizeof(list));
			log_info("waiting up to %g s for the backing directories to be mounted: %s",
				 seconds, list);
		}
		nanosleep(&step, NULL);
		waited = rootwait_now() - start;
	}
	if (rc < 0)
		return rc;
	n = rootwait_list(paths, count, on_root, list, sizeof(list));
	if (n) {
		log_format(err, errlen,
			"backing director%s %s %s still on the root filesystem after %g s (require_mounts)",
			n == 1 ? "y" : "ies", list, n == 1 ? "is" : "are",
			seconds);
		return -ETIMEDOUT;
	}
	if (!rc && waited)
		log_info("backing directories mounted after %.1f s", waited);
	return 0;
}
