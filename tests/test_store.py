"""The store: content-addressed blobs and action records, atomic under crashes and concurrent
writers (real processes, killed mid-write), single flight across processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.cache.store import Store
from pipelines.errors import StoreError
from tests.conftest import ROOT


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_blobs_are_addressed_by_their_sha256(tmp_path):
    store = Store(str(tmp_path / "cache"))
    data = b"an image" * 1000
    digest = store.put_blob(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.read_blob(digest) == data and store.has_blob(digest)
    assert store.put_blob(data) == digest and store.blobs_written == 1  # stored once
    assert files_under(tmp_path / "cache") == [tmp_path / "cache" / "blobs" / digest[:2] / digest]
    with pytest.raises(StoreError, match="missing"):
        store.read_blob("0" * 64)


def test_a_record_is_refused_without_its_blob(tmp_path):
    store = Store(str(tmp_path / "cache"))
    with pytest.raises(StoreError, match="not stored"):
        store.put_action("k" * 64, {"blob": "f" * 64})
    assert store.get_action("k" * 64) is None
    digest = store.put_blob(b"x")
    store.put_action("k" * 64, {"blob": digest, "cost_usd": 0.04})
    assert store.get_action("k" * 64) == {"blob": digest, "cost_usd": 0.04}


def test_a_damaged_record_is_a_miss_not_a_crash(tmp_path):
    store = Store(str(tmp_path / "cache"))
    path = tmp_path / "cache" / "actions" / "ab" / ("ab" * 32 + ".json")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"blob": "trunc')
    assert store.get_action("ab" * 32) is None


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
    store = Store(str(tmp_path / "cache"), lock_dir=lock_dir)

    async def timed(key: str) -> float:
        t0 = time.monotonic()
        async with store.lease(key, poll_s=0.01):
            return time.monotonic() - t0

    other = asyncio.run(timed("o" * 64))
    same = asyncio.run(timed("k" * 64))
    holder.wait(timeout=10)
    assert other < 0.3
    assert same > 0.3  # waited for the holder to finish


def test_lease_serializes_two_tasks_in_one_process(tmp_path):
    store = Store(str(tmp_path / "cache"), lock_dir=tmp_path / "locks")
    inside: list[int] = []
    overlap = []

    async def work(i: int) -> None:
        async with store.lease("k" * 64, poll_s=0.005):
            inside.append(i)
            overlap.append(len(inside))
            await asyncio.sleep(0.05)
            inside.remove(i)

    async def main() -> None:
        await asyncio.gather(*(work(i) for i in range(3)))

    asyncio.run(main())
    assert overlap == [1, 1, 1]


def test_export_does_not_rewrite_an_identical_output(tmp_path):
    store = Store(str(tmp_path / "cache"))
    digest = store.put_blob(b"pixels")
    dest = tmp_path / "out" / "c" / "a" / "v.png"
    assert store.export_blob(digest, dest) is True
    st = dest.stat()
    assert store.export_blob(digest, dest) is False
    assert (dest.stat().st_ino, dest.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    dest.write_bytes(b"edited by hand")
    assert store.export_blob(digest, dest) is True and dest.read_bytes() == b"pixels"
    assert [p.name for p in dest.parent.iterdir()] == ["v.png"]  # no temp file left


def test_a_remote_fsspec_store_works_the_same(tmp_path):
    store = Store(f"memory://assetpipe-test-{os.getpid()}-{time.monotonic_ns()}/cache")
    digest = store.put_blob(b"remote pixels")
    store.put_action("r" * 64, {"blob": digest})
    assert store.get_action("r" * 64) == {"blob": digest}
    assert store.blob_path(digest).read_bytes() == b"remote pixels"
    with pytest.raises(StoreError):
        store.put_action("s" * 64, {"blob": "0" * 64})
