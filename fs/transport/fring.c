/*
 * fring.c - serving FUSE requests through io_uring: one thread per ring
 * entry, spread over the kernel's queues (one per possible CPU).
 *
 * A thread registers its entry, then loops: wait for the completion that
 * says a request is in the entry, rebuild it in front of the payload,
 * process it, and commit the reply with the command that also fetches the
 * next request. The payload buffer is page aligned with a page of room in
 * front, so the rebuilt request (header, per-op header, payload) is one
 * contiguous buffer without moving the payload, and a WRITE's data stays
 * page aligned.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "log.h"
#include "transport_i.h"
#include "ucmd.h"

/* The kernel's io_uring interface (protocol 7.42); older headers lack it. */
#ifndef FUSE_URING_IN_OUT_HEADER_SZ
#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ 128

struct fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;	/* the request's unique, to commit with */
	uint32_t payload_sz;	/* bytes of payload in use, both ways */
	uint32_t padding;
	uint64_t reserved;
};

struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ]; /* in or out header */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];	  /* the per-op header */
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID = 0,
	FUSE_IO_URING_CMD_REGISTER = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
#endif

#define FRING_ROOM 4096		/* in front of the payload: the headers */
#define FRING_WAIT_MS 500	/* how long a stop may wait for a thread */

struct fring_ent {
	struct fring *ring;
	unsigned qid;
	pthread_t thread;
	bool started;
	struct fuse_uring_req_header *hdr;
	char *area;		/* FRING_ROOM, then the payload */
	char *payload;
	struct iovec iov[2];	/* what the kernel fills: header, payload */
	uint64_t unique;	/* the request in the entry */
	bool replied;
};

struct fring {
	struct transport *t;
	int fd;			/* /dev/fuse */
	size_t payload;
	unsigned nents;
	atomic_bool stop;
	atomic_bool warned;
	struct fring_ent ents[];
};

void *fring_ent_space(struct fring_ent *e, size_t *cap)
{
	if (e->replied)
		return NULL;
	*cap = e->ring->payload;
	return e->payload;
}

/* Set the reply's header, with @body bytes in the payload. */
static void reply_header(struct fring_ent *e, const struct fuse_out_header *o,
			 size_t body)
{
	struct fuse_out_header *out = (void *)e->hdr->in_out;

	out->unique = e->unique;
	out->error = o ? o->error : -EIO;
	out->len = (uint32_t)(sizeof(*out) + body);
	e->hdr->ring_ent_in_out.payload_sz = (uint32_t)body;
	e->replied = true;
}

/*
 * A reply that could not be taken: the request fails with EIO, the hook
 * with @err in errno, as a failed writev would.
 */
static bool reply_failed(struct fring_ent *e, int err, ssize_t *n)
{
	reply_header(e, NULL, 0);
	errno = err;
	*n = -1;
	return true;
}

static bool answers(const struct iovec *iov, int count)
{
	const struct fuse_out_header *o = iov[0].iov_base;
	const struct fring_ent *e = transport_req_ent();

	return e && !e->replied && count >= 1 &&
	       iov[0].iov_len >= sizeof(*o) && o->unique == e->unique;
}

bool fring_reply_iov(const struct iovec *iov, int count, ssize_t *n)
{
	struct fring_ent *e = transport_req_ent();
	size_t body = 0;

	if (!answers(iov, count))
		return false;
	/* the header's own iovec may carry the first bytes of the body */
	for (int i = 0; i < count; i++) {
		const char *p = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (i == 0) {
			p += sizeof(struct fuse_out_header);
			l -= sizeof(struct fuse_out_header);
		}
		if (body + l > e->ring->payload)
			return reply_failed(e, EINVAL, n);
		/* a body built in place (transport_reply_space) stays */
		if (p != e->payload + body)
			memcpy(e->payload + body, p, l);
		body += l;
	}
	reply_header(e, iov[0].iov_base, body);
	*n = (ssize_t)(sizeof(struct fuse_out_header) + body);
	return true;
}

/* Read exactly @len bytes from the pipe @fd into @buf. */
static int read_all(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t r = read(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

bool fring_reply_pipe(int fd, size_t len, ssize_t *n)
{
	struct fring_ent *e = transport_req_ent();
	struct fuse_out_header o;
	int rc;

	if (!e || e->replied || len < sizeof(o))
		return false;
	/* the header first: if it is not ours, the rest is not either */
	rc = read_all(fd, (char *)&o, sizeof(o));
	if (!rc && o.unique != e->unique)
		rc = -EPROTO;
	if (!rc && len - sizeof(o) > e->ring->payload)
		rc = -EINVAL;
	if (!rc)
		rc = read_all(fd, e->payload, len - sizeof(o));
	if (rc)
		return reply_failed(e, -rc, n);
	reply_header(e, &o, len - sizeof(o));
	*n = (ssize_t)len;
	return true;
}

/* Process the request the kernel put into @e; its reply lands in @e. */
static void serve_one(struct fring *r, struct fring_ent *e)
{
	struct fuse_in_header in;
	size_t body = e->hdr->ring_ent_in_out.payload_sz, op;
	struct fuse_buf fb = { 0 };
	char *start;

	memcpy(&in, e->hdr->in_out, sizeof(in));
	e->unique = in.unique;
	e->replied = false;
	if (in.len < sizeof(in) + body || body > r->payload ||
	    (op = in.len - sizeof(in) - body) > FUSE_URING_OP_IN_OUT_SZ)
		return reply_header(e, NULL, 0);
	start = e->payload - op - sizeof(in);
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), e->hdr->op_in, op);
	fb.mem = start;
	fb.size = in.len;
	transport_req_begin(start, in.len, e);
	fuse_session_process_buf(r->t->se, &fb);
	transport_req_end();
	if (!e->replied)	/* libfuse answers every request it gets */
		reply_header(e, NULL, 0);
}

static void *ent_main(void *arg)
{
	struct fring_ent *e = arg;
	struct fring *r = e->ring;
	struct fuse_uring_cmd_req cmd = { .qid = (uint16_t)e->qid };
	struct ucmd *u;
	uint32_t op = FUSE_IO_URING_CMD_REGISTER;
	int rc;

	rc = ucmd_new(4, &u);
	while (!rc && !atomic_load(&r->stop)) {
		int32_t res;
		uint64_t tag;

		rc = ucmd_queue(u, r->fd, op, &cmd, sizeof(cmd), e->iov, 2, 0);
		while (!rc) {
			rc = ucmd_wait(u, FRING_WAIT_MS, &res, &tag);
			if (rc == -ETIME && !atomic_load(&r->stop))
				rc = 0;
			else if (!rc)
				break;
		}
		if (rc)
			break;
		if (res == -EINTR || res == -EAGAIN)
			continue;	/* the same command again */
		if (res < 0) {
			rc = res;
			break;
		}
		serve_one(r, e);
		atomic_fetch_add_explicit(&r->t->ring_served, 1,
					  memory_order_relaxed);
		op = FUSE_IO_URING_CMD_COMMIT_AND_FETCH;
		cmd.commit_id = e->unique;
	}
	/* the end of the connection is how threads normally leave */
	if (rc && rc != -ENOTCONN && rc != -ECONNABORTED && rc != -ETIME &&
	    !atomic_exchange(&r->warned, true))
		log_warn("io_uring transport %s: %s%s; serving /dev/fuse",
			 op == FUSE_IO_URING_CMD_REGISTER ? "unavailable"
							  : "failed",
			 strerror(-rc),
			 rc == -EOPNOTSUPP ? " (the fuse module's enable_uring"
					     " is off, or the kernel predates"
					     " 6.14)"
					   : "");
	ucmd_free(u);
	return NULL;
}

/* The kernel's queues: one per possible CPU, online or not. */
static unsigned queue_count(void)
{
	int n = get_nprocs_conf();

	return n > 0 ? (unsigned)n : 1;
}

static void ents_free(struct fring *r)
{
	for (unsigned i = 0; i < r->nents; i++) {
		free(r->ents[i].hdr);
		free(r->ents[i].area);
	}
	free(r);
}

int fring_start(struct transport *t, size_t payload)
{
	unsigned nq = queue_count(), per = t->p.ring_threads / nq;
	struct fring *r;
	int rc = 0;

	if (!per)
		per = 1;
	r = calloc(1, sizeof(*r) + (size_t)nq * per * sizeof(r->ents[0]));
	if (!r)
		return -ENOMEM;
	r->t = t;
	r->fd = fuse_session_fd(t->se);
	r->payload = payload;
	r->nents = nq * per;
	for (unsigned i = 0; i < r->nents && !rc; i++) {
		struct fring_ent *e = &r->ents[i];

		e->ring = r;
		e->qid = i % nq;
		if (posix_memalign((void **)&e->hdr, 4096, 4096) ||
		    posix_memalign((void **)&e->area, 4096,
				   FRING_ROOM + payload)) {
			rc = -ENOMEM;
			break;
		}
		memset(e->hdr, 0, sizeof(*e->hdr));
		e->payload = e->area + FRING_ROOM;
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, payload };
	}
	for (unsigned i = 0; i < r->nents && !rc; i++) {
		rc = -pthread_create(&r->ents[i].thread, NULL, ent_main,
				     &r->ents[i]);
		r->ents[i].started = !rc;
	}
	t->ring = r;
	if (rc)
		fring_stop(t);
	else
		log_debug("io_uring transport: %u queues x %u threads", nq,
			  per);
	return rc;
}

void fring_stop(struct transport *t)
{
	struct fring *r = t->ring;

	if (!r)
		return;
	atomic_store(&r->stop, true);
	for (unsigned i = 0; i < r->nents; i++)
		if (r->ents[i].started)
			pthread_join(r->ents[i].thread, NULL);
	t->ring = NULL;
	ents_free(r);
}
