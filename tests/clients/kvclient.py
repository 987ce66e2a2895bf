"""kvclient.py - what the client reproductions in tests/clients/ share.

Contents are a pure function of the file's final name and size, so a
reader (the client itself, or check.py after it) can check every byte
without keeping a copy. Buffers for O_DIRECT come from an anonymous mmap,
which is page aligned, as the clients' pinned or mmap'd buffers are.
"""
import hashlib
import mmap
import os

O_DIRECT = getattr(os, "O_DIRECT", 0)


def content(name, size):
    """SIZE bytes that depend on NAME (the final name, no directory)."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def aligned(data):
    """A page-aligned buffer holding DATA (an mmap; len() is len(data))."""
    buf = mmap.mmap(-1, max(len(data), 1))
    buf[: len(data)] = data
    return memoryview(buf)[: len(data)]


def aligned_empty(size):
    return memoryview(mmap.mmap(-1, max(size, 1)))[:size]


def fail(msg):
    raise SystemExit(f"{os.path.basename(__import__('sys').argv[0])}: {msg}")


def expect(data, name, size, what):
    """DATA must be NAME's SIZE bytes."""
    if len(data) != size:
        fail(f"{what} {name}: {len(data)} bytes, expected {size}")
    if bytes(data) != content(name, size):
        fail(f"{what} {name}: the bytes differ")
