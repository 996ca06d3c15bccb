"""The store: content-addressed blobs and action records, a damaged record is a miss, single flight
between tasks, exports that leave identical outputs alone, remote fsspec stores. Crashes, concurrent
writers and leases across processes: tests/integration/test_store_processes.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest

from pipelines.cache.store import Store
from pipelines.coordination import FileLeases
from pipelines.errors import StoreError
from tests.helpers.catalogs import files_under


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


def test_lease_serializes_two_tasks_in_one_process(tmp_path):
    store = Store(str(tmp_path / "cache"), leases=FileLeases(tmp_path / "locks", poll_s=0.005))
    inside: list[int] = []
    overlap = []

    async def work(i: int) -> None:
        async with store.lease("k" * 64):
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
