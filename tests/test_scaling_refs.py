"""Reference images are hashed once per content change, and streamed, never held whole.

pipelines/hashing.py remembers each ref's digest with the file's stat data (as git's index and DVC
do); a plan re-reads a file only when that data moved. `FileHasher.hashed` counts files read.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipelines.engine.engine import Engine
from pipelines.plan.project import Project
from tests.conftest import ASSETPIPE, write_catalog
from tests.emulators.harness import make_image

CATALOG = {
    "catalog.yaml": """
        check_text: "off"
        defaults: {size: 64x64}
        """,
    "campaigns/shop.yaml": """
        campaign: shop
        assets:
          - name: bottle
            matrix: {tone: [warm, cool, bright]}
            edit: {image: refs/product.png, mask: refs/mask.png}
            prompt: The bottle on a terrace table, {{ tone }} light
          - name: plain
            prompt: A plain bottle
        """,
    "refs/product.png": b"",
    "refs/mask.png": b"",
}
USERS = {"shop/bottle/warm", "shop/bottle/cool", "shop/bottle/bright"}  # the variants that read the refs


@pytest.fixture
def catalog(tmp_path) -> Path:
    return write_catalog(tmp_path / "catalog", CATALOG)


def _plan(catalog: Path):
    project = Project.load(catalog)
    plan = project.plan()  # saves what it hashed, as every CLI plan and build does
    return project.hasher.hashed, {p.key: p for p in plan.items}


def _build(catalog: Path) -> None:
    """Build every variant with the engine the Dagster asset runs (draft provider, no Dagster)."""
    project = Project.load(catalog)
    plan = project.plan()
    outcomes = Engine(project.catalog, project.store, project.planner(), project.pool).run(plan.items, plan.by_key)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]


def test_a_second_plan_reads_no_reference_file(catalog):
    hashed, first = _plan(catalog)
    assert hashed == 2  # product.png and mask.png, once each although three variants use them
    hashed, second = _plan(catalog)
    assert hashed == 0
    assert {k: p.cache_key for k, p in second.items()} == {k: p.cache_key for k, p in first.items()}


def test_a_touched_ref_with_the_same_bytes_is_read_once_and_changes_nothing(catalog):
    _build(catalog)
    ref = catalog / "refs" / "product.png"
    st = ref.stat()
    os.utime(ref, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    hashed, plan = _plan(catalog)
    assert hashed == 1
    assert all(p.status == "fresh" for p in plan.values()), {k: p.reason for k, p in plan.items()}
    assert _plan(catalog)[0] == 0  # and remembered again


def test_a_changed_ref_rebuilds_exactly_its_users_and_says_why(catalog):
    _build(catalog)
    (catalog / "refs" / "product.png").write_bytes(make_image(1024, 1024, "png", (10, 200, 30)))
    hashed, plan = _plan(catalog)
    assert hashed == 1
    assert {k for k, p in plan.items() if p.status != "fresh"} == USERS
    assert all("input image refs/product.png" in plan[k].reason for k in USERS), [plan[k].reason for k in USERS]


def test_new_bytes_under_the_old_size_and_mtime_are_still_seen(catalog):
    # `cp -p`, `rsync -t`, `touch -r` and unpacking archives restore mtimes: size and mtime alone
    # would keep the old digest; the inode and ctime (which nobody can set) move with the bytes
    _build(catalog)
    ref = catalog / "refs" / "mask.png"
    old = ref.read_bytes()
    st = ref.stat()
    new = bytearray(old)
    new[-20] ^= 0xFF  # same size, other bytes
    ref.write_bytes(bytes(new))
    os.utime(ref, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (ref.stat().st_size, ref.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    hashed, plan = _plan(catalog)
    assert hashed == 1
    assert {k for k, p in plan.items() if p.status != "fresh"} == USERS


def test_a_large_ref_is_streamed_not_loaded(tmp_path):
    """Peak memory of `assetpipe plan` with a 96 MB ref stays within a few MB of a tiny one's."""

    def peak_mb(ref_bytes: int) -> float:
        cat = write_catalog(tmp_path / f"c{ref_bytes}", CATALOG)
        with open(cat / "refs" / "product.png", "ab") as f:  # a real PNG with a long tail
            f.truncate(ref_bytes)
        proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(cat), "plan"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read()
        proc.stderr.close()
        return usage.ru_maxrss / 1024

    small, large = peak_mb(100_000), peak_mb(96 << 20)
    assert large - small < 24, (small, large)
