/*
 * fring.h - FUSE requests served through io_uring (kernel 6.14 and later,
 * with the fuse module's enable_uring parameter on), beside /dev/fuse.
 *
 * The kernel hands each request to a ring entry of the queue of the CPU
 * the caller runs on, and takes the reply and fetches the next request in
 * one command: one system call per request instead of a read() and a
 * writev(), and no hand-over between CPUs. Each serving thread owns one
 * entry: a header area and a payload buffer. libfuse 3.14 knows nothing
 * of this, so a thread rebuilds the request as /dev/fuse would have
 * delivered it, runs it through fuse_session_process_buf(), and the
 * session's write hooks (wire.c) put the reply into the entry.
 *
 * /dev/fuse stays served: FORGETs and INTERRUPTs always come that way, and
 * so does everything until every queue has an entry.
 */
#ifndef FS_FRING_H
#define FS_FRING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct kvfs;

/*
 * Start the serving threads, after the kernel has taken the INIT reply;
 * @payload: the largest request or reply body it negotiated. Without
 * kernel support the threads log why once and end. Returns 0 or -errno.
 */
int fring_start(struct kvfs *fs, size_t payload);

/* End the serving threads and free them (within about half a second). */
void fring_stop(struct kvfs *fs);

/*
 * The write hooks' side: if the calling thread is serving a ring request
 * and @iov (header first) answers it, the reply goes into the entry.
 * Returns true if it did, with the bytes taken (or -1, errno set) in *@n.
 */
bool fring_reply_iov(const struct iovec *iov, int count, ssize_t *n);

/* The same for a reply of @len bytes queued in the pipe @fd (a splice). */
bool fring_reply_pipe(int fd, size_t len, ssize_t *n);

/*
 * The calling thread serves a ring request now: the entry's payload
 * buffer, where a reply body may be built in place (page aligned, @*cap
 * bytes), or NULL if not serving one.
 */
void *fring_reply_space(size_t *cap);

#endif /* FS_FRING_H */
