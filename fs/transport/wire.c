/*
 * wire.c - the session's own reads and writes of /dev/fuse, for the two
 * things libfuse 3.14 cannot do: negotiate FUSE_HANDLE_KILLPRIV_V2 and
 * pass on the kill-suid/sgid flags of the requests that follow from it.
 *
 * Why: without KILLPRIV_V2 the kernel asks for security.capability before
 * every write (one GETXATTR round trip per WRITE). With it the superblock
 * gets SB_NOSEC, and an inode remembers that it has no capability until
 * its attributes are next refreshed. In exchange the filesystem strips
 * set-user-ID and set-group-ID (the latter only with group execute) when
 * the kernel asks: on a WRITE (FUSE_WRITE_KILL_SUIDGID) and a SETATTR
 * (FATTR_KILL_SUIDGID, which libfuse passes as FUSE_SET_ATTR_KILL_SUID;
 * an O_TRUNC open comes as one, since the kernel opens without asking).
 * The daemon is root, so the backing filesystem would not do it for us.
 *
 * How: the INIT reply is amended on its way out when the kernel offered
 * the flag. libfuse drops the WRITE flag, but a worker thread
 * reads a request and runs its handler before it reads the next one, so
 * the read hook leaves the flag in a thread-local the handler asks for.
 */
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fring.h"
#include "fs_i.h"
#include "log.h"
#include "wire.h"

/* The request this thread read last asks for suid/sgid to go. */
static __thread bool wire_kill;

/* Set by the read hook, seen by the write hook: INIT comes first. */
static uint64_t wire_init_unique;
static bool wire_init_offers;

void wire_request(const char *buf, size_t n)
{
	const struct fuse_in_header *in = (const void *)buf;
	const char *arg = buf + sizeof(*in);

	wire_kill = false;
	if (n < sizeof(*in))
		return;
	n -= sizeof(*in);
	switch (in->opcode) {
	case FUSE_INIT:
		if (n >= offsetof(struct fuse_init_in, flags) +
			     sizeof(uint32_t)) {
			const struct fuse_init_in *ii = (const void *)arg;

			wire_init_unique = in->unique;
			wire_init_offers = ii->flags & FUSE_HANDLE_KILLPRIV_V2;
		}
		break;
	case FUSE_WRITE:
		if (n >= sizeof(struct fuse_write_in))
			wire_kill = ((const struct fuse_write_in *)arg)
					    ->write_flags &
				    FUSE_WRITE_KILL_SUIDGID;
		break;
	}
}

static ssize_t wire_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n > 0)
		wire_request(buf, (size_t)n);
	return n;
}

/*
 * The largest request or reply body the INIT reply @io allows: what a
 * ring entry's payload buffer must hold.
 */
static size_t init_payload(const struct fuse_init_out *io)
{
	size_t n = FUSE_MIN_READ_BUFFER;

	if (io->max_write > n)
		n = io->max_write;
	if ((io->flags & FUSE_MAX_PAGES) && io->max_pages * 4096ul > n)
		n = io->max_pages * 4096ul;
	return n;
}

static ssize_t wire_writev(int fd, struct iovec *iov, int count,
			   void *userdata)
{
	struct kvfs *fs = userdata;
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out *io = NULL;
	ssize_t n;

	if (fring_reply_iov(iov, count, &n))
		return n;
	if (wire_init_unique && count >= 2 &&
	    iov[0].iov_len >= sizeof(*out) && out->unique == wire_init_unique) {
		wire_init_unique = 0;
		if (!out->error && iov[1].iov_len >= sizeof(*io))
			io = iov[1].iov_base;
		if (io && wire_init_offers) {
			io->flags |= FUSE_HANDLE_KILLPRIV_V2;
			fs->killpriv = true;
		}
	}
	n = writev(fd, iov, count);
	/* the ring can be set up once the kernel has taken the reply */
	if (n > 0 && io && fs->p.ring_threads &&
	    fring_start(fs, init_payload(io)))
		log_warn("cannot start the io_uring threads");
	return n;
}

/* Replies spliced from a file (page-cache devices) pass unchanged. */
static ssize_t wire_splice_send(int fdin, off_t *offin, int fdout,
				off_t *offout, size_t len, unsigned flags,
				void *userdata)
{
	ssize_t n;

	(void)userdata;
	if (!offin && fring_reply_pipe(fdin, len, &n))
		return n;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int wire_attach(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = wire_read,
		.writev = wire_writev,
		.splice_send = wire_splice_send,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

bool wire_kill_asked(void)
{
	return wire_kill;
}
