/*
 * test_dio.c - unit tests for the io_uring O_DIRECT engine (core/dio.c).
 *
 * Fake devices are files in a fresh directory under /var/tmp; every test
 * skips when that filesystem refuses O_DIRECT.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dio.h"
#include "log.h"
#include "t_tmpdir.h"

/* The engine every test does its I/O through. */
static struct dio *t_dio;

static void t_setup(void)
{
	struct dio_params p = T_DIO_PARAMS;

	t_tmpdir_setup("dio");
	cr_assert_eq(dio_new(&p, &t_dio), 0);
}

static void t_teardown(void)
{
	dio_free(t_dio);
	t_tmpdir_teardown();
}

TestSuite(dio, .init = t_setup, .fini = t_teardown);

static int t_open(const char *name)
{
	int fd = openat(t_dirfd, name, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC,
			0600);

	cr_assert_geq(fd, 0, "open %s: %s", name, strerror(errno));
	return fd;
}

/* A byte pattern that differs per file offset and per seed. */
static void t_fill(void *buf, size_t len, uint64_t off, unsigned seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((off + i) * 31 + seed + (off + i) / 4093);
}

static bool t_check(const void *buf, size_t len, uint64_t off, unsigned seed)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)((off + i) * 31 + seed +
					    (off + i) / 4093))
			return false;
	return true;
}

Test(dio, new_rejects_bad_params)
{
	struct dio_params p = T_DIO_PARAMS;
	struct dio *d = NULL;

	cr_assert_eq(dio_new(NULL, &d), -EINVAL);
	p.max_align = 3000;
	cr_assert_eq(dio_new(&p, &d), -EINVAL);
	p.max_align = 0;
	cr_assert_eq(dio_new(&p, &d), -EINVAL);
	p.max_align = 4096;
	p.queue_depth = 0;
	cr_assert_eq(dio_new(&p, &d), -EINVAL);
	p.queue_depth = 64;
	p.max_io = 0;
	cr_assert_eq(dio_new(&p, &d), -EINVAL);
	cr_assert_null(d);
}

Test(dio, ctx_is_per_thread_and_stable)
{
	struct dio_ctx *a, *b;
	void *buf;

	cr_assert_eq(dio_ctx_get(t_dio, &a), 0);
	cr_assert_eq(dio_ctx_get(t_dio, &b), 0);
	cr_assert_eq(a, b);
	buf = dio_buf(a, 0);
	cr_assert_not_null(buf);
	cr_assert_eq((uintptr_t)buf % 4096, 0);
	/* The initial buffer covers max_io plus two edge blocks. */
	cr_assert_eq(dio_buf(a, T_MIB + 8192), buf);
}

Test(dio, aligned_roundtrip)
{
	struct dio_ctx *ctx;
	struct dio_op ops[2];
	char *buf, *ext = NULL;
	int fd;

	t_require_direct();
	fd = t_open("rt");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	buf = dio_buf(ctx, T_MIB);
	cr_assert_not_null(buf);

	/* One op in the registered buffer, one in a plain aligned buffer. */
	cr_assert_eq(posix_memalign((void **)&ext, 4096, 128 * T_KIB), 0);
	t_fill(buf, 512 * T_KIB, 0, 1);
	t_fill(ext, 128 * T_KIB, 4 * T_MIB, 1);
	ops[0] = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
				  .len = 512 * T_KIB, .off = 0 };
	ops[1] = (struct dio_op){ .fd = fd, .write = true, .buf = ext,
				  .len = 128 * T_KIB, .off = 4 * T_MIB };
	cr_assert_eq(dio_submit(ctx, ops, 2), 0);
	cr_assert_eq(ops[0].res, 512 * T_KIB);
	cr_assert_eq(ops[1].res, 128 * T_KIB);

	memset(buf, 0, T_MIB);
	memset(ext, 0, 128 * T_KIB);
	ops[0] = (struct dio_op){ .fd = fd, .buf = buf + 512 * T_KIB,
				  .len = 512 * T_KIB, .off = 0 };
	ops[1] = (struct dio_op){ .fd = fd, .buf = ext, .len = 128 * T_KIB,
				  .off = 4 * T_MIB };
	cr_assert_eq(dio_submit(ctx, ops, 2), 0);
	cr_assert_eq(ops[0].res, 512 * T_KIB);
	cr_assert_eq(ops[1].res, 128 * T_KIB);
	cr_assert(t_check(buf + 512 * T_KIB, 512 * T_KIB, 0, 1));
	cr_assert(t_check(ext, 128 * T_KIB, 4 * T_MIB, 1));

	/* The hole between the two writes reads as zeros. */
	ops[0] = (struct dio_op){ .fd = fd, .buf = buf, .len = 64 * T_KIB,
				  .off = 2 * T_MIB };
	memset(buf, 0xff, 64 * T_KIB);
	cr_assert_eq(dio_submit(ctx, ops, 1), 0);
	cr_assert_eq(ops[0].res, 64 * T_KIB);
	cr_assert_eq(buf[0], 0);
	cr_assert_eq(buf[64 * T_KIB - 1], 0);
	free(ext);
	close(fd);
}

Test(dio, read_at_eof_returns_short_count)
{
	struct dio_ctx *ctx;
	struct dio_op op;
	char data[6000];
	char *buf;
	int fd, bfd;

	t_require_direct();
	/* An unaligned size can only come from buffered I/O. */
	bfd = openat(t_dirfd, "eof", O_RDWR | O_CREAT, 0600);
	cr_assert_geq(bfd, 0);
	t_fill(data, sizeof(data), 0, 2);
	cr_assert_eq(pwrite(bfd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	close(bfd);

	fd = t_open("eof");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	buf = dio_buf(ctx, 16384);

	op = (struct dio_op){ .fd = fd, .buf = buf, .len = 8192, .off = 0 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert_eq(op.res, 6000);
	cr_assert(t_check(buf, 6000, 0, 2));

	op = (struct dio_op){ .fd = fd, .buf = buf, .len = 16384, .off = 4096 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert_eq(op.res, 6000 - 4096);
	cr_assert(t_check(buf, 6000 - 4096, 4096, 2));

	op = (struct dio_op){ .fd = fd, .buf = buf, .len = 4096, .off = 8192 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert_eq(op.res, 0);

	op = (struct dio_op){ .fd = fd, .buf = buf, .len = 4096,
			      .off = 1 << 30 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert_eq(op.res, 0);
	close(fd);
}

Test(dio, more_ops_than_queue_depth)
{
	enum { N = 300, BS = 4096 };
	static struct dio_op ops[N];
	struct dio_ctx *ctx;
	char *buf;
	unsigned i;
	int fd;

	t_require_direct();
	fd = t_open("many");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	buf = dio_buf(ctx, (size_t)N * BS);
	cr_assert_not_null(buf);

	/* Scattered, out of order offsets: op i goes to block (i*7) % N. */
	for (i = 0; i < N; i++) {
		uint64_t off = (uint64_t)((i * 7) % N) * BS;

		t_fill(buf + (size_t)i * BS, BS, off, 3);
		ops[i] = (struct dio_op){ .fd = fd, .write = true,
					  .buf = buf + (size_t)i * BS,
					  .len = BS, .off = off };
	}
	cr_assert_eq(dio_submit(ctx, ops, N), 0);
	for (i = 0; i < N; i++)
		cr_assert_eq(ops[i].res, BS, "op %u: %zd", i, ops[i].res);

	memset(buf, 0, (size_t)N * BS);
	for (i = 0; i < N; i++)
		ops[i] = (struct dio_op){ .fd = fd, .buf = buf + (size_t)i * BS,
					  .len = BS, .off = (uint64_t)i * BS };
	cr_assert_eq(dio_submit(ctx, ops, N), 0);
	for (i = 0; i < N; i++) {
		cr_assert_eq(ops[i].res, BS);
		cr_assert(t_check(buf + (size_t)i * BS, BS,
				  (uint64_t)i * BS, 3), "block %u", i);
	}
	close(fd);
}

Test(dio, zero_ops_and_zero_length_ops)
{
	struct dio_ctx *ctx;
	struct dio_op ops[3];
	char *buf;
	int fd;

	t_require_direct();
	fd = t_open("zero");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	buf = dio_buf(ctx, 4096);
	cr_assert_eq(dio_submit(ctx, ops, 0), 0);
	memset(buf, 7, 4096);
	ops[0] = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
				  .len = 0, .off = 0, .res = 99 };
	ops[1] = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
				  .len = 4096, .off = 0 };
	ops[2] = (struct dio_op){ .fd = fd, .buf = buf, .len = 0,
				  .off = 8192, .res = 99 };
	cr_assert_eq(dio_submit(ctx, ops, 3), 0);
	cr_assert_eq(ops[0].res, 0);
	cr_assert_eq(ops[1].res, 4096);
	cr_assert_eq(ops[2].res, 0);
	close(fd);
}

Test(dio, bad_fd_fails_only_its_op)
{
	struct dio_ctx *ctx;
	struct dio_op ops[3];
	char *buf;
	int fd, closed;

	t_require_direct();
	/* The ring first, so that it cannot reuse the closed descriptor. */
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	fd = t_open("badfd");
	closed = t_open("closed");
	close(closed);
	buf = dio_buf(ctx, 3 * 4096);
	t_fill(buf, 3 * 4096, 0, 4);

	ops[0] = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
				  .len = 4096, .off = 0 };
	ops[1] = (struct dio_op){ .fd = closed, .write = true,
				  .buf = buf + 4096, .len = 4096, .off = 0 };
	ops[2] = (struct dio_op){ .fd = -1, .buf = buf + 8192, .len = 4096,
				  .off = 0 };
	cr_assert_eq(dio_submit(ctx, ops, 3), -EBADF);
	cr_assert_eq(ops[0].res, 4096);
	cr_assert_eq(ops[1].res, -EBADF, "res %zd", ops[1].res);
	cr_assert_eq(ops[2].res, -EBADF, "res %zd", ops[2].res);

	/* The context stays usable after a failed op. */
	ops[0] = (struct dio_op){ .fd = fd, .buf = buf + 8192, .len = 4096,
				  .off = 0 };
	cr_assert_eq(dio_submit(ctx, ops, 1), 0);
	cr_assert(t_check(buf + 8192, 4096, 0, 4));
	close(fd);
}

Test(dio, unaligned_op_fails_with_einval)
{
	struct dio_ctx *ctx;
	struct dio_op op;
	char *buf;
	int fd;

	t_require_direct();
	fd = t_open("unaligned");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	buf = dio_buf(ctx, 8192);
	op = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
			      .len = 4096, .off = 100 };
	cr_assert_eq(dio_submit(ctx, &op, 1), -EINVAL);
	cr_assert_eq(op.res, -EINVAL);
	close(fd);
}

Test(dio, buffer_grows_on_demand)
{
	size_t big = 9 * T_MIB + 4096;
	struct dio_ctx *ctx;
	struct dio_op op;
	char *small, *buf;
	int fd;

	t_require_direct();
	fd = t_open("grow");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	small = dio_buf(ctx, 4096);
	cr_assert_not_null(small);
	buf = dio_buf(ctx, big);
	cr_assert_not_null(buf);
	cr_assert_eq((uintptr_t)buf % 4096, 0);
	/* Smaller requests keep the grown buffer. */
	cr_assert_eq(dio_buf(ctx, 4096), buf);
	cr_assert_eq(dio_buf(ctx, big), buf);

	/* The whole grown buffer works for I/O (registered again). */
	t_fill(buf, big, 0, 5);
	op = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
			      .len = big, .off = 0 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert_eq(op.res, (ssize_t)big);
	memset(buf, 0, big);
	op = (struct dio_op){ .fd = fd, .buf = buf, .len = big, .off = 0 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert_eq(op.res, (ssize_t)big);
	cr_assert(t_check(buf, big, 0, 5));

	/* Impossible sizes fail without losing the buffer. */
	cr_assert_null(dio_buf(ctx, SIZE_MAX));
	cr_assert_eq(dio_buf(ctx, 1), buf);
	close(fd);
}

struct t_worker {
	int fd;
	unsigned id;
	struct dio_ctx *ctx;
	int rc;
	bool ok;
};

enum { T_THREADS = 4, T_ROUNDS = 32, T_CHUNK = 64 * 1024 };

/* Thread @id owns every T_THREADS-th chunk of the shared file. */
static void *t_worker_main(void *arg)
{
	struct t_worker *w = arg;
	struct dio_op op;
	unsigned r;
	char *buf;

	w->rc = dio_ctx_get(t_dio, &w->ctx);
	if (w->rc)
		return NULL;
	buf = dio_buf(w->ctx, T_CHUNK);
	w->ok = buf != NULL;
	for (r = 0; r < T_ROUNDS && w->ok; r++) {
		uint64_t off = ((uint64_t)r * T_THREADS + w->id) * T_CHUNK;

		t_fill(buf, T_CHUNK, off, 6);
		op = (struct dio_op){ .fd = w->fd, .write = true, .buf = buf,
				      .len = T_CHUNK, .off = off };
		w->rc = dio_submit(w->ctx, &op, 1);
		if (w->rc)
			break;
		memset(buf, 0, T_CHUNK);
		op = (struct dio_op){ .fd = w->fd, .buf = buf,
				      .len = T_CHUNK, .off = off };
		w->rc = dio_submit(w->ctx, &op, 1);
		if (w->rc)
			break;
		w->ok = op.res == T_CHUNK && t_check(buf, T_CHUNK, off, 6);
	}
	return NULL;
}

Test(dio, threads_each_own_a_context)
{
	struct t_worker w[T_THREADS];
	pthread_t tid[T_THREADS];
	struct dio_ctx *mine;
	char *buf;
	unsigned i, j;
	int fd;

	t_require_direct();
	fd = t_open("threads");
	cr_assert_eq(dio_ctx_get(t_dio, &mine), 0);
	for (i = 0; i < T_THREADS; i++) {
		w[i] = (struct t_worker){ .fd = fd, .id = i };
		cr_assert_eq(pthread_create(&tid[i], NULL, t_worker_main,
					    &w[i]), 0);
	}
	for (i = 0; i < T_THREADS; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < T_THREADS; i++) {
		cr_assert_eq(w[i].rc, 0, "thread %u: %s", i,
			     strerror(-w[i].rc));
		cr_assert(w[i].ok, "thread %u read back wrong data", i);
		cr_assert_neq(w[i].ctx, mine);
		for (j = 0; j < i; j++)
			cr_assert_neq(w[i].ctx, w[j].ctx);
	}

	/* Everything the threads wrote, read from this thread. */
	buf = dio_buf(mine, (size_t)T_ROUNDS * T_THREADS * T_CHUNK);
	cr_assert_not_null(buf);
	{
		struct dio_op op = {
			.fd = fd, .buf = buf,
			.len = (size_t)T_ROUNDS * T_THREADS * T_CHUNK,
		};

		cr_assert_eq(dio_submit(mine, &op, 1), 0);
		cr_assert_eq(op.res, (ssize_t)op.len);
		cr_assert(t_check(buf, op.len, 0, 6));
	}
	close(fd);
}

/* Threads come and go (as libfuse's workers do); none may leak a ring. */
static void *t_short_lived(void *arg)
{
	struct dio_ctx *ctx;

	*(int *)arg = dio_ctx_get(t_dio, &ctx);
	return NULL;
}

Test(dio, exiting_threads_release_contexts)
{
	unsigned i;

	for (i = 0; i < 200; i++) {
		pthread_t tid;
		int rc = -1;

		cr_assert_eq(pthread_create(&tid, NULL, t_short_lived, &rc), 0);
		pthread_join(tid, NULL);
		/* A leaked ring per thread would hit RLIMIT_NOFILE or ENOMEM. */
		cr_assert_eq(rc, 0, "thread %u: %s", i, strerror(-rc));
	}
}

Test(dio, forked_child_gets_its_own_context)
{
	struct dio_ctx *ctx;
	struct dio_op op;
	char *buf;
	int fd, status;
	pid_t pid;

	t_require_direct();
	fd = t_open("fork");
	cr_assert_eq(dio_ctx_get(t_dio, &ctx), 0);
	buf = dio_buf(ctx, 4096);
	t_fill(buf, 4096, 0, 7);
	op = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
			      .len = 4096, .off = 0 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct dio_ctx *cctx;
		char *cbuf;

		if (dio_ctx_get(t_dio, &cctx) || cctx == NULL)
			_exit(2);
		cbuf = dio_buf(cctx, 4096);
		op = (struct dio_op){ .fd = fd, .buf = cbuf, .len = 4096,
				      .off = 0 };
		if (dio_submit(cctx, &op, 1) || op.res != 4096)
			_exit(3);
		_exit(t_check(cbuf, 4096, 0, 7) ? 0 : 4);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0);

	/* The parent's ring is untouched by the child. */
	memset(buf, 0, 4096);
	op = (struct dio_op){ .fd = fd, .buf = buf, .len = 4096, .off = 0 };
	cr_assert_eq(dio_submit(ctx, &op, 1), 0);
	cr_assert(t_check(buf, 4096, 0, 7));
	close(fd);
}

static bool t_saw_unregistered;

static void t_sink(enum log_level level, const char *line)
{
	(void)level;
	if (strstr(line, "cannot register"))
		t_saw_unregistered = true;
}

/*
 * The child runs unprivileged, so RLIMIT_MEMLOCK applies: 128 KiB holds
 * the ring (6.18 charges ring memory there too) but not the 1 MiB buffer.
 */
static int t_unregistered_child(int fd)
{
	struct rlimit rl = { 128 * T_KIB, 128 * T_KIB };
	struct dio_ctx *ctx;
	struct dio_op op;
	char *buf;

	log_setup(t_sink, LOG_LVL_DEBUG);
	if (setrlimit(RLIMIT_MEMLOCK, &rl) || setresuid(65534, 65534, 65534))
		return 10;
	if (dio_ctx_get(t_dio, &ctx))
		return 11;
	if (!t_saw_unregistered)
		return 12;
	buf = dio_buf(ctx, 2 * T_MIB);
	t_fill(buf, 2 * T_MIB, 0, 8);
	op = (struct dio_op){ .fd = fd, .write = true, .buf = buf,
			      .len = 2 * T_MIB, .off = 0 };
	if (dio_submit(ctx, &op, 1) || op.res != 2 * T_MIB)
		return 13;
	memset(buf, 0, 2 * T_MIB);
	op = (struct dio_op){ .fd = fd, .buf = buf, .len = 2 * T_MIB };
	if (dio_submit(ctx, &op, 1) || op.res != 2 * T_MIB)
		return 14;
	return t_check(buf, 2 * T_MIB, 0, 8) ? 0 : 15;
}

Test(dio, unregistered_buffer_still_works)
{
	int fd, status;
	pid_t pid;

	t_require_direct();
	if (geteuid() != 0)
		cr_skip_test("needs root to drop privileges");
	fd = t_open("unreg");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(t_unregistered_child(fd));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d",
		     WEXITSTATUS(status));
	close(fd);
}

/*
 * A thread doing I/O through two engines (one per device, say) has a
 * context for each, made with that engine's parameters; freeing one
 * engine leaves the other's context as it was.
 */
Test(dio, each_engine_has_its_own_context)
{
	struct dio_params p = T_DIO_PARAMS;
	struct dio_ctx *a, *b, *again;
	struct dio *other;

	p.max_io = 4 * T_MIB;
	cr_assert_eq(dio_new(&p, &other), 0);
	cr_assert_eq(dio_ctx_get(t_dio, &a), 0);
	cr_assert_eq(dio_ctx_get(other, &b), 0);
	cr_assert_neq(a, b);
	cr_assert_neq(dio_buf(a, 0), dio_buf(b, 0));
	/* the other engine's buffer starts at its own max_io */
	cr_assert_eq(dio_buf(b, 4 * T_MIB + 8192), dio_buf(b, 0));
	cr_assert_eq(dio_ctx_get(t_dio, &again), 0);
	cr_assert_eq(again, a);
	cr_assert_eq(dio_ctx_get(other, &again), 0);
	cr_assert_eq(again, b);
	dio_free(other);
	cr_assert_eq(dio_ctx_get(t_dio, &again), 0);
	cr_assert_eq(again, a);
}
