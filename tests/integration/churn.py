# churn.py DIR SECONDS: six threads making and removing files and
# directories at random in several parents at once, renaming, reading,
# listing. Every file's content names its own id, so a read that returns
# another file's bytes (or a torn mix) is caught; any error but the
# expected races (ENOENT, EEXIST, ENOTEMPTY, ...) fails. A removed object's
# inode number is soon given to a new one in another parent: that must be
# a new inode to the kernel (mkdir got ESTALE when it was not).
import os, sys, random, threading, time, errno
root, secs = sys.argv[1], float(sys.argv[2])
stop = time.time() + secs
dirs = ["", "a", "b", "a/x", "gpu0", "gpu1", "gpu1/y"]
names = ["n%d" % i for i in range(12)]
counter = [0]
lock = threading.Lock()
bad = []
ops = {}
OPS = list(range(9))
def nid():
    with lock:
        counter[0] += 1
        return counter[0]
def body(i, size):
    line = ("id%08d|" % i).encode()
    return (line * (size // len(line) + 1))[:size]
def check(data):
    if not data: return
    if not data.startswith(b"id"): bad.append("bad start %r" % data[:20]); return
    tag = data[:11]
    exp = (tag * (len(data) // 11 + 1))[:len(data)]
    if data != exp: bad.append("mixed content for %r" % tag)
def P(*a): return os.path.join(root, *[x for x in a if x])
def worker(k):
    rnd = random.Random(k)
    while time.time() < stop and not bad:
        d = rnd.choice(dirs); n = rnd.choice(names); p = P(d, n)
        op = rnd.choice(OPS)
        try:
            if op == 0:
                i = nid(); size = rnd.choice([0, 100, 5000, 70000, 1 << 20])
                flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
                if rnd.random() < 0.3 and size % 4096 == 0: flags |= os.O_DIRECT
                fd = os.open(p + ".tmp%d" % k, flags, 0o644)
                if flags & os.O_DIRECT:
                    import mmap
                    m = mmap.mmap(-1, max(size, 4096)); m[:size] = body(i, size)
                    if size: os.pwritev(fd, [memoryview(m)[:size]], 0)
                else:
                    os.write(fd, body(i, size))
                os.close(fd)
                os.rename(p + ".tmp%d" % k, p)
            elif op == 1:
                with open(p, "rb") as f: check(f.read())
            elif op == 2:
                os.unlink(p)
            elif op == 3:
                os.rename(p, P(rnd.choice(dirs), rnd.choice(names)))
            elif op == 4:
                os.mkdir(P(d, "dir" + n))
            elif op == 5:
                os.rmdir(P(d, "dir" + n))
            elif op == 6:
                os.listdir(P(d))
            elif op == 7:
                os.stat(p)
            elif op == 8:
                fd = os.open(p, os.O_RDONLY)
                os.unlink(p)
                check(os.pread(fd, 1 << 21, 0))
                os.close(fd)
            ops[op] = ops.get(op, 0) + 1
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR, errno.EINVAL):
                bad.append("op %d on %s: %s" % (op, p, e))
for d in dirs:
    if d: os.makedirs(P(d), exist_ok=True)
ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
for t in ts: t.start()
for t in ts: t.join()
# every file still reads as itself
for dp, dn, fn in os.walk(root):
    for f in fn:
        with open(os.path.join(dp, f), "rb") as fh: check(fh.read())
print("\n".join(bad[:5]) if bad else "ops: %s" % sorted(ops.items()))
sys.exit(1 if bad else 0)
