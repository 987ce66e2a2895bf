/*
 * faultfs.c - a FUSE file server that fails on demand, for fault tests.
 *
 *   faultfs IMAGE MOUNTPOINT [-o FUSE-OPTION...] [-f]
 *
 * Serves the regular file IMAGE (on /tmp or /dev/shm) as MOUNTPOINT/img,
 * and a control file MOUNTPOINT/ctl. Write one word into ctl to switch
 * how img behaves from then on:
 *
 *   ok          reads and writes go to IMAGE
 *   eio         every read, write and fsync of img fails with EIO
 *   eio-reads   reads fail with EIO, writes and fsync work
 *   eio-writes  writes and fsync fail with EIO, reads work
 *   hang        reads, writes and fsync of img wait until ctl says
 *               something else, then behave as that says
 *   slow N      each read, write and fsync of img first sleeps N ms
 *               (1..60000), then goes to IMAGE
 *
 * Reading ctl gives the mode and how many requests failed and waited.
 * img is opened with direct_io, so the kernel caches none of it: every
 * read and write of a loop device over img (losetup --direct-io=off)
 * reaches this server. The tests put ext4 on such a loop device
 * (tests/lib/faultdev.sh). Single file, no directories: a test device,
 * not a filesystem.
 */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum mode { M_OK, M_EIO, M_EIO_READS, M_EIO_WRITES, M_HANG, M_SLOW };

static const char *const mode_name[] = {
	[M_OK] = "ok", [M_EIO] = "eio", [M_EIO_READS] = "eio-reads",
	[M_EIO_WRITES] = "eio-writes", [M_HANG] = "hang", [M_SLOW] = "slow",
};

static struct {
	int fd;			/* IMAGE */
	pthread_mutex_t mu;
	pthread_cond_t changed;	/* mode left hang */
	enum mode mode;		/* under mu */
	unsigned slow_ms;	/* of M_SLOW, under mu */
	unsigned long failed, waited;
} ff = {
	.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
};

/* Whether an I/O request on img goes ahead (0) or fails (-EIO). */
static int ff_gate(int write)
{
	unsigned slow_ms;
	int rc = 0;

	pthread_mutex_lock(&ff.mu);
	slow_ms = ff.mode == M_SLOW ? ff.slow_ms : 0;
	pthread_mutex_unlock(&ff.mu);
	if (slow_ms)
		usleep(slow_ms * 1000u);
	pthread_mutex_lock(&ff.mu);
	if (ff.mode == M_HANG)
		ff.waited++;
	while (ff.mode == M_HANG)
		pthread_cond_wait(&ff.changed, &ff.mu);
	if (ff.mode == M_EIO || (write && ff.mode == M_EIO_WRITES) ||
	    (!write && ff.mode == M_EIO_READS)) {
		ff.failed++;
		rc = -EIO;
	}
	pthread_mutex_unlock(&ff.mu);
	return rc;
}

static int ff_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!strcmp(path, "/ctl")) {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = 128;
		return 0;
	}
	if (strcmp(path, "/img"))
		return -ENOENT;
	if (fstat(ff.fd, st) < 0)
		return -errno;
	st->st_ino = 2;
	return 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/"))
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "img", NULL, 0, 0);
	fill(buf, "ctl", NULL, 0, 0);
	return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/img") && strcmp(path, "/ctl"))
		return -ENOENT;
	fi->direct_io = 1;	/* no page cache: every I/O comes here */
	return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n;
	int rc;

	(void)fi;
	if (!strcmp(path, "/ctl")) {
		char text[128];
		size_t len;

		pthread_mutex_lock(&ff.mu);
		len = (size_t)snprintf(text, sizeof(text),
				       "%s failed %lu waited %lu\n",
				       mode_name[ff.mode], ff.failed,
				       ff.waited);
		pthread_mutex_unlock(&ff.mu);
		if ((size_t)off >= len)
			return 0;
		len -= (size_t)off;
		len = len < size ? len : size;
		memcpy(buf, text + off, len);
		return (int)len;
	}
	rc = ff_gate(0);
	if (rc)
		return rc;
	n = pread(ff.fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_set_mode(const char *buf, size_t size)
{
	char word[32], *arg, *end;
	size_t n = size < sizeof(word) - 1 ? size : sizeof(word) - 1;
	unsigned long ms = 0;

	memcpy(word, buf, n);
	word[n] = '\0';
	word[strcspn(word, "\r\n")] = '\0';
	arg = word + strcspn(word, " \t");
	if (*arg) {
		*arg++ = '\0';
		errno = 0;
		ms = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || !ms || ms > 60000)
			return -EINVAL;
	}
	for (size_t m = 0; m < sizeof(mode_name) / sizeof(mode_name[0]); m++) {
		if (strcmp(word, mode_name[m]) || (m == M_SLOW) != !!ms)
			continue;
		pthread_mutex_lock(&ff.mu);
		ff.mode = (enum mode)m;
		ff.slow_ms = (unsigned)ms;
		pthread_cond_broadcast(&ff.changed);
		pthread_mutex_unlock(&ff.mu);
		return (int)size;
	}
	return -EINVAL;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;
	int rc;

	(void)fi;
	if (!strcmp(path, "/ctl"))
		return ff_set_mode(buf, size);
	rc = ff_gate(1);
	if (rc)
		return rc;
	n = pwrite(ff.fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int rc;

	(void)fi;
	if (strcmp(path, "/img"))
		return 0;
	rc = ff_gate(1);
	if (rc)
		return rc;
	return (datasync ? fdatasync(ff.fd) : fsync(ff.fd)) ? -errno : 0;
}

/* ctl is opened with O_TRUNC by a shell's '>': nothing to truncate. */
static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)fi;
	if (!strcmp(path, "/ctl"))
		return 0;
	return ftruncate(ff.fd, size) ? -errno : 0;
}

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->direct_io = 1;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	return NULL;
}

static const struct fuse_operations ff_ops = {
	.init = ff_init,
	.getattr = ff_getattr,
	.readdir = ff_readdir,
	.open = ff_open,
	.read = ff_read,
	.write = ff_write,
	.fsync = ff_fsync,
	.truncate = ff_truncate,
};

int main(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: faultfs IMAGE MOUNTPOINT "
				"[FUSE-OPTION...]\n");
		return 1;
	}
	ff.fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (ff.fd < 0) {
		fprintf(stderr, "faultfs: cannot open '%s': %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	/* IMAGE is ours: libfuse sees MOUNTPOINT and its options */
	argv[1] = argv[0];
	return fuse_main(argc - 1, argv + 1, &ff_ops, NULL);
}
