"""The store under real processes: a writer killed mid-write leaves no blob and no record, two
concurrent writers never tear a blob or a record, a key's lease gives single flight across
processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import textwrap
import time

import pytest

from pipelines.cache.store import Store
from pipelines.coordination import FileLeases
from tests.helpers.catalogs import files_under
from tests.helpers.paths import ROOT


def run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


CRASH = """
    import os, sys
    from pipelines.cache import store as st
    where = sys.argv[2]
    real_write = None
    if where == "mid-write":  # the process dies with half of the bytes on disk
        real_fdopen = os.fdopen
        class Half:
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *a): self.f.close()
            def write(self, data):
                self.f.write(data[: len(data) // 2]); self.f.flush(); os._exit(9)
        st.os.fdopen = lambda fd, mode: Half(real_fdopen(fd, mode))
    elif where == "before-rename":  # every byte written, the rename never happens
        st.os.replace = lambda *a: os._exit(9)
    s = st.Store(sys.argv[1])
    digest = s.put_blob(b"IMAGE" * 200_000)
    s.put_action("a" * 64, {"blob": digest})
"""


@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_a_crash_while_writing_leaves_no_blob_and_no_record(tmp_path, where):
    cache = tmp_path / "cache"
    proc = run_child(CRASH, str(cache), where)
    assert proc.returncode == 9, proc.stderr
    store = Store(str(cache))
    digest = hashlib.sha256(b"IMAGE" * 200_000).hexdigest()
    assert not store.has_blob(digest)
    assert store.get_action("a" * 64) is None
    # only a hidden temp file may remain; it is never read as a blob, and the next write succeeds
    leftovers = files_under(cache)
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers), leftovers
    assert store.put_blob(b"IMAGE" * 200_000) == digest
    assert store.read_blob(digest) == b"IMAGE" * 200_000


WRITER = """
    import sys, time
    from pipelines.cache.store import Store
    s = Store(sys.argv[1])
    me = sys.argv[2]
    deadline = time.monotonic() + float(sys.argv[3])
    n = 0
    while time.monotonic() < deadline:
        data = (me * 300_000).encode() + str(n % 5).encode()  # a few distinct blobs, rewritten often
        d = s.put_blob(data)
        s.put_action("b" * 64, {"blob": d, "writer": me, "n": n})
        s.put_head("c/a/v", {"blob": d, "writer": me})
        n += 1
    print(n)
"""


def test_two_concurrent_writers_never_tear_a_blob_or_a_record(tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(cache), me, "1.5"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for me in ("A", "B")]
    store = Store(str(cache))
    action = cache / "actions" / "bb" / ("b" * 64 + ".json")
    reads = 0
    while any(p.poll() is None for p in procs):
        raw = action.read_bytes() if action.exists() else None
        rec = json.loads(raw) if raw is not None else None  # never a half-written record
        if rec is not None:  # and it always points at a complete blob
            data = store.read_blob(rec["blob"])
            assert hashlib.sha256(data).hexdigest() == rec["blob"]
            assert data[:1].decode() == rec["writer"]
            reads += 1
        head = store.get_head("c/a/v")
        assert head is None or store.has_blob(head["blob"])
        time.sleep(0.005)
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
        assert int(out) > 0
    assert reads > 0
    for path in files_under(cache / "blobs"):
        assert not path.name.startswith("."), path  # no temp file left behind by a clean writer
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    json.loads(action.read_text())


def test_lease_gives_single_flight_across_processes(tmp_path):
    """While another process holds a key's lease, this one waits; a different key does not."""
    lock_dir = tmp_path / "locks"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import asyncio, sys
        from pathlib import Path
        from pipelines.cache.store import Store
        async def main():
            async with Store(sys.argv[1], lock_dir=Path(sys.argv[2])).lease("k" * 64):
                print("held", flush=True)
                await asyncio.sleep(0.8)
        asyncio.run(main())
        """), str(tmp_path / "cache"), str(lock_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    store = Store(str(tmp_path / "cache"), leases=FileLeases(lock_dir, poll_s=0.01))

    async def timed(key: str) -> float:
        t0 = time.monotonic()
        async with store.lease(key):
            return time.monotonic() - t0

    other = asyncio.run(timed("o" * 64))
    same = asyncio.run(timed("k" * 64))
    holder.wait(timeout=10)
    assert other < 0.3
    assert same > 0.3  # waited for the holder to finish
