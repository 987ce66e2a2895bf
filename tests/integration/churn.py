# churn.py DIR SECONDS: six threads making and removing files, hard
# links, symlinks and directories at random in several parents at once,
# renaming files and directories, reading, listing, setting modes and
# xattrs. Every file's content names its own id, so a read that returns
# another file's bytes (or a torn mix) is caught; any error but the
# expected races (ENOENT, EEXIST, ENOTEMPTY, ...) fails. A removed object's
# inode number is soon given to a new one in another parent: that must be
# a new inode to the kernel (mkdir got ESTALE when it was not).
import errno
import os
import random
import sys
import threading
import time

root, secs = sys.argv[1], float(sys.argv[2])
stop = time.time() + secs
dirs = ["", "a", "b", "a/x", "gpu0", "gpu1", "gpu1/y"]
names = ["n%d" % i for i in range(10)]
counter = [0]
lock = threading.Lock()
bad = []
ops = {}

def nid():
    with lock:
        counter[0] += 1
        return counter[0]

def body(i, size):
    line = ("id%08d|" % i).encode()
    return (line * (size // len(line) + 1))[:size]

def check(data, what):
    if not data:
        return
    if not data.startswith(b"id"):
        bad.append("%s: bad start %r" % (what, data[:20]))
        return
    tag = data[:11]
    exp = (tag * (len(data) // 11 + 1))[:len(data)]
    if data != exp:
        at = next(j for j in range(len(data)) if data[j] != exp[j])
        bad.append("%s: mixed content for %r: len %d, differs at %d: %r" % (what, tag, len(data), at, data[at:at+24]))

def P(*a):
    return os.path.join(root, *[x for x in a if x])

# (no truncate: a read racing one sees zeros on ext4 too)

OPS = [o for o in range(16) if o != 11]
OK = (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR, errno.EINVAL, errno.ENODATA, errno.ELOOP)

def worker(k):
    rnd = random.Random(k * 7 + 1)
    while time.time() < stop and not bad:
        d, n = rnd.choice(dirs), rnd.choice(names)
        p = P(d, n)
        op = rnd.choice(OPS)
        try:
            if op == 0:
                i, size = nid(), rnd.choice([0, 100, 5000, 70000, 1 << 20])
                fd = os.open(p + ".t%d" % k, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
                os.write(fd, body(i, size))
                os.close(fd)
                os.rename(p + ".t%d" % k, p)
            elif op == 1:
                with open(p, "rb") as f: check(f.read(), "read " + p)
            elif op == 2: os.unlink(p)
            elif op == 3: os.rename(p, P(rnd.choice(dirs), rnd.choice(names)))
            elif op == 4: os.mkdir(P(d, "dir" + n))
            elif op == 5: os.rmdir(P(d, "dir" + n))
            elif op == 6:
                for e in os.scandir(P(d)):
                    e.stat(follow_symlinks=False)
            elif op == 7: os.link(p, P(rnd.choice(dirs), rnd.choice(names)))
            elif op == 8: os.symlink(n, P(d, "l" + n))
            elif op == 9: os.unlink(P(d, "l" + n))
            elif op == 10:
                # rename a directory to another parent (never into itself)
                src = P(d, "dir" + n)
                dst = P(rnd.choice(["", "b", "gpu0"]), "dir" + rnd.choice(names))
                os.rename(src, dst)
            elif op == 12:
                os.setxattr(p, "user.k", b"%d" % k)
                os.getxattr(p, "user.k")
            elif op == 13:
                os.chmod(p, rnd.choice([0o600, 0o644, 0o664]))
            elif op == 14:
                fd = os.open(p, os.O_RDONLY)
                if rnd.random() < 0.5:
                    os.unlink(p)
                time.sleep(0.001)
                check(os.pread(fd, 1 << 21, 0), "held " + p)
                os.close(fd)
            elif op == 15:
                with open(P(d, "l" + n), "rb") as f: check(f.read(), "via link " + n)
            ops[op] = ops.get(op, 0) + 1
        except OSError as e:
            if e.errno not in OK:
                bad.append("op %d on %s: %s" % (op, p, e))
for d in dirs:
    if d:
        os.makedirs(P(d), exist_ok=True)

ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for dp, dn, fn in os.walk(root):
    for f in fn:
        fp = os.path.join(dp, f)
        if os.path.islink(fp):
            continue
        with open(fp, "rb") as fh: check(fh.read(), "final " + fp)
print("\n".join(bad[:5]) if bad else "ops: %s" % sorted(ops.items()))
sys.exit(1 if bad else 0)
