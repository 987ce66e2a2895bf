/*
 * transport.c - the transport object, and the request the calling thread
 * handles: one of the corner's two thread-locals (floop.c's other says
 * which serving thread the calling thread is, for lending). Both paths note it before
 * the handler runs: wire.c's read hook for /dev/fuse, fring.c for a ring
 * entry; handlers ask it through transport.h.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>

#include "transport_i.h"

/* The request this thread handles. */
struct transport_req {
	bool kill_suidgid;	/* a WRITE with FUSE_WRITE_KILL_SUIDGID */
	struct fring_ent *ent;	/* its ring entry, NULL from /dev/fuse */
};

static __thread struct transport_req cur;

void transport_req_begin(const char *buf, size_t len, struct fring_ent *e)
{
	const struct fuse_in_header *in = (const void *)buf;
	const struct fuse_write_in *wi = (const void *)(in + 1);

	cur.kill_suidgid = false;
	cur.ent = e;
	if (len < sizeof(*in))
		return;
	len -= sizeof(*in);
	/* libfuse 3.14 drops the flag */
	if (in->opcode == FUSE_WRITE && len >= sizeof(*wi))
		cur.kill_suidgid = wi->write_flags & FUSE_WRITE_KILL_SUIDGID;
}

void transport_req_end(void)
{
	cur.ent = NULL;
}

struct fring_ent *transport_req_ent(void)
{
	return cur.ent;
}

bool transport_kill_suidgid(void)
{
	return cur.kill_suidgid;
}

void *transport_reply_space(size_t *cap)
{
	return cur.ent ? fring_ent_space(cur.ent, cap) : NULL;
}

int transport_new(const struct transport_params *p, struct transport **out)
{
	struct transport *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->p = *p;
	rc = -pthread_mutex_init(&t->lend_mu, NULL);
	if (rc) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int transport_attach(struct transport *t, struct fuse_session *se)
{
	t->se = se;
	return wire_attach(t);
}

void transport_stop(struct transport *t)
{
	fring_stop(t);
}

void transport_free(struct transport *t)
{
	if (!t)
		return;
	floop_spares_free(t);
	pthread_mutex_destroy(&t->lend_mu);
	free(t);
}

unsigned transport_granted(const struct transport *t)
{
	return t->granted;
}

unsigned long long transport_ring_served(const struct transport *t)
{
	return atomic_load(&t->ring_served);
}
