/*
 * wire.c - the session's own reads and writes of /dev/fuse, for what
 * libfuse 3.14 cannot do: negotiate FUSE_HANDLE_KILLPRIV_V2 and pass on
 * the kill-suid/sgid flags of the requests that follow from it, and
 * negotiate FUSE_PARALLEL_DIROPS and FUSE_DIRECT_IO_ALLOW_MMAP
 * (transport.h).
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
 * How: the INIT reply is amended on its way out with the flags the
 * filesystem wants (transport_params.init_want) that the kernel offered;
 * wire_init_flags[] says which kernel flag each stands for. libfuse drops
 * the WRITE flag, but a worker thread reads a request and runs its
 * handler before it reads the next one, so the read hook notes the
 * request as the thread's current one (transport.c), for the handler.
 *
 * The write hooks also carry the replies to requests that came through
 * the ring into its entries (fring.c), and start the ring once the INIT
 * reply went.
 */
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "transport_i.h"

/* kernel 6.6+ (named FUSE_DIRECT_IO_RELAX there); Debian 12's header lacks it */
#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP	(1ULL << 36)
#endif

/* Each TRANSPORT_INIT_* and the kernel's INIT flag it stands for. */
static const struct {
	unsigned want;
	uint64_t flag;		/* bits 32-63: in init flags2 */
} wire_init_flags[] = {
	{ TRANSPORT_INIT_KILLPRIV_V2, FUSE_HANDLE_KILLPRIV_V2 },
	{ TRANSPORT_INIT_PARALLEL_DIROPS, FUSE_PARALLEL_DIROPS },
	{ TRANSPORT_INIT_DIRECT_IO_MMAP, FUSE_DIRECT_IO_ALLOW_MMAP },
};

unsigned transport_offered(const struct transport *t)
{
	unsigned offered = 0;

	for (size_t i = 0;
	     i < sizeof(wire_init_flags) / sizeof(wire_init_flags[0]); i++)
		if ((t->p.init_want & wire_init_flags[i].want) &&
		    (t->init_offered & wire_init_flags[i].flag))
			offered |= wire_init_flags[i].want;
	return offered;
}

/* The transport of the session whose hook runs (see transport.h). */
static struct transport *wire_of(void *userdata)
{
	return *(struct transport **)userdata;
}

/* Note the INIT request @in of @n bytes and the flags the kernel offers. */
static void wire_init_in(struct transport *t, const struct fuse_in_header *in,
			 size_t n)
{
	const struct fuse_init_in *ii = (const void *)(in + 1);

	n -= sizeof(*in);
	if (n < offsetof(struct fuse_init_in, flags) + sizeof(uint32_t))
		return;
	t->init_unique = in->unique;
	t->init_offered = ii->flags;
	if ((ii->flags & FUSE_INIT_EXT) &&
	    n >= offsetof(struct fuse_init_in, flags2) + sizeof(uint32_t))
		t->init_offered |= (uint64_t)ii->flags2 << 32;
}

/* Grant in the INIT reply @io the flags wanted that were offered. */
static void wire_init_out(struct transport *t, struct fuse_init_out *io)
{
	for (size_t i = 0;
	     i < sizeof(wire_init_flags) / sizeof(wire_init_flags[0]); i++) {
		uint64_t flag = wire_init_flags[i].flag;

		if (!(t->p.init_want & wire_init_flags[i].want) ||
		    !(t->init_offered & flag))
			continue;
		io->flags |= (uint32_t)flag;
		if (flag >> 32) {
			io->flags |= FUSE_INIT_EXT;
			io->flags2 |= (uint32_t)(flag >> 32);
		}
		t->granted |= wire_init_flags[i].want;
	}
}

void wire_received(struct transport *t, const char *buf, size_t n)
{
	const struct fuse_in_header *in = (const void *)buf;

	transport_req_begin(buf, n, NULL);
	if (n >= sizeof(*in) && in->opcode == FUSE_INIT)
		wire_init_in(t, in, n);
}

/* libfuse's own loop (floop.c serves instead; libfuse needs the hook). */
static ssize_t wire_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	if (n > 0)
		wire_received(wire_of(userdata), buf, (size_t)n);
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
	struct transport *t = wire_of(userdata);
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out *io = NULL;
	ssize_t n;

	if (fring_reply_iov(iov, count, &n))
		return n;
	if (t->init_unique && count >= 2 &&
	    iov[0].iov_len >= sizeof(*out) && out->unique == t->init_unique) {
		t->init_unique = 0;
		if (!out->error && iov[1].iov_len >= sizeof(*io))
			io = iov[1].iov_base;
		if (io)
			wire_init_out(t, io);
	}
	n = writev(fd, iov, count);
	/* the ring can be set up once the kernel has taken the reply */
	if (n > 0 && io && t->p.ring_threads &&
	    fring_start(t, init_payload(io)))
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

int wire_attach(struct transport *t)
{
	static const struct fuse_custom_io io = {
		.read = wire_read,
		.writev = wire_writev,
		.splice_send = wire_splice_send,
	};

	return fuse_session_custom_io(t->se, &io, fuse_session_fd(t->se));
}
