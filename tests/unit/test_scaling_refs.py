"""Reference images are hashed once per content change, and streamed, never held whole.

pipelines/cache/hashing.py remembers each ref's digest with the file's stat data (as git's index and
DVC do); a plan re-reads a file only when that data moved. `FileHasher.hashed` counts files read.
Streaming, measured on `assetpipe plan`'s peak memory: tests/integration/test_scaling_refs.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.engine.engine import Engine
from pipelines.plan.project import Project
from tests.helpers.catalogs import SHOP_WITH_REFS as CATALOG
from tests.helpers.catalogs import write_catalog
from tests.helpers.images import make_image

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


