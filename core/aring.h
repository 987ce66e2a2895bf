/*
 * aring.h - asynchronous O_DIRECT I/O: one shared io_uring, one reaper.
 *
 * Any thread may submit; a dedicated thread waits for completions, finishes
 * short transfers and runs each op's callback. This is what lets a WRITE be
 * answered before the device has it (write-behind) and a read be started
 * before the kernel asks (read-ahead): the request thread never waits.
 */
#ifndef CORE_ARING_H
#define CORE_ARING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct aring;

/* Called on the reaper thread: @res is the byte count or -errno. */
typedef void (*aring_cb)(void *arg, ssize_t res);

/*
 * Set up a ring for @slots ops in flight at once. @fixed/@fixed_len, if
 * non-NULL, is an area registered with the kernel (ops whose buffers lie
 * inside it use the fixed-buffer opcodes). The reaper thread is started on
 * the first submit, so a process may fork (daemonize) after creating it.
 * Returns 0, -ENOMEM, or what io_uring setup returned.
 */
int aring_new(unsigned slots, void *fixed, size_t fixed_len,
	      struct aring **out);

/* Wait for every op in flight, stop the reaper, free. NULL is a no-op. */
void aring_free(struct aring *ar);

/*
 * Start a read or write of @len bytes at @off of @fd from/to @buf (aligned
 * for O_DIRECT by the caller). Waits for a free slot if all are taken.
 * @cb runs exactly once with the total transferred: a read short only at
 * end of file, a write complete or failed. The op runs with the calling
 * thread's identity (caller.h), as does the rest of a short transfer the
 * reaper submits again. Returns 0, or -errno if the op could not be
 * started (then @cb does not run).
 */
int aring_submit(struct aring *ar, int fd, bool write, void *buf, size_t len,
		 uint64_t off, aring_cb cb, void *arg);

/*
 * aring_submit() that does not wait: -EAGAIN (and @cb does not run) when
 * every slot is taken. For a caller that can do the I/O another way
 * rather than wait for ops of other files, maybe on a device that no
 * longer answers.
 */
int aring_try_submit(struct aring *ar, int fd, bool write, void *buf,
		     size_t len, uint64_t off, aring_cb cb, void *arg);

#endif /* CORE_ARING_H */
