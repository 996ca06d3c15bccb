"""Pools through the real CLI against two loopback vendors (OpenAI emulators, one per member, each
refusing calls over its own limit): spread fills both and never exceeds either's limit; a member
that fails mid-build (a 5xx storm, a refused key) leaves every variant built and none paid twice;
adding a member rebuilds nothing."""

from __future__ import annotations

import collections
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.emulators.openai import OpenAIEmulator
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import run_cli
from tests.helpers.paths import ASSETPIPE

KEYS = {"POOL_TEST_A_KEY": "sk-pool-a-4c1e9d", "POOL_TEST_B_KEY": "sk-pool-b-7f20aa"}


class PaidOpenAI(OpenAIEmulator):
    """Counts the answers that carried an image (what a vendor bills), per prompt."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.paid: collections.Counter[str] = collections.Counter()

    def handle(self, req):
        reply = super().handle(req)
        if reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("data"):
            with self._lock:
                self.paid[str((req.json or {}).get("prompt"))] += 1
        return reply


@pytest.fixture
def vendors():
    with PaidOpenAI(latency=0.15, limit=3) as a, PaidOpenAI(latency=0.15, limit=2) as b:
        yield a, b


def catalog(root: Path, a: OpenAIEmulator, b: OpenAIEmulator, n: int, members: str = "[a, b]") -> Path:
    common = 'timeout_s: 10, max_retries: 1, options: {retry_base_s: 0.01}'
    return write_catalog(root, {
        "catalog.yaml": f"""
            check_text: "off"
            default_provider: both
            providers:
              a: {{type: openai, base_url: "{a.base_url}", api_key_env: POOL_TEST_A_KEY, max_concurrency: 3, {common}}}
              b: {{type: openai, base_url: "{b.base_url}", api_key_env: POOL_TEST_B_KEY, max_concurrency: 2, {common}}}
              both: {{type: pool, members: {members}, strategy: spread, trip_after: 2, cooldown_s: 600}}
            defaults: {{size: 1024x1024, quality: low}}
            """,
        "campaigns/c.yaml": f"""
            campaign: c
            assets:
              - name: shot
                matrix: {{n: {list(range(n))}}}
                prompt: Product shot number {{{{ n }}}}
            """,
    })


def paid_once_each(*emus: PaidOpenAI, n: int) -> None:
    total = collections.Counter()
    for e in emus:
        total.update(e.paid)
    assert sorted(total) == sorted(f"Product shot number {i}" for i in range(n))
    assert set(total.values()) == {1}, {k: v for k, v in total.items() if v != 1}


def test_spread_fills_every_member_and_never_exceeds_a_limit(tmp_path, vendors):
    a, b = vendors
    cat = catalog(tmp_path / "cat", a, b, n=24)
    code, out, err = run_cli("build", catalog=cat, env=KEYS)
    assert code == 0, out + err
    sa, sb = a.stats(), b.stats()
    assert (sa.peak, sb.peak) == (3, 2), (sa, sb)  # each member full, neither over its own limit
    assert sa.rejected == sb.rejected == 0
    paid_once_each(a, b, n=24)
    entries = [e for e in manifest(cat)["variants"]]
    assert {e["provider"] for e in entries} == {"a", "b"} and {e.get("pool") for e in entries} == {"both"}
    assert sum(e["provider"] == "a" for e in entries) == sa.total
    assert KEYS["POOL_TEST_A_KEY"] not in (cat / "out" / "manifest.json").read_text()
    gallery = (cat / "out" / "index.html").read_text()
    assert "<dt>pool</dt><dd>both</dd>" in gallery and "<dt>provider</dt><dd>b / gpt-image-2</dd>" in gallery


@pytest.mark.parametrize("failure", ["5xx storm", "401"])
def test_a_member_failing_mid_build_leaves_every_variant_built_none_paid_twice(tmp_path, vendors, failure):
    a, b = vendors
    n = 30
    cat = catalog(tmp_path / "cat", a, b, n=n)
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")} | KEYS
    proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(cat), "build"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while sum(a.paid.values()) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the build ended before the member could fail"
    if failure == "401":
        a.keys = {"sk-someone-else"}  # the key is revoked: every later call is refused
    else:
        a.inject("500", on="/images/", times=10_000)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, out + err
    entries = manifest(cat)["variants"]
    assert all(e["status"] == "fresh" and e["sha256"] for e in entries) and len(entries) == n
    paid_once_each(a, b, n=n)
    assert sum(a.paid.values()) >= 3 and sum(b.paid.values()) >= n - sum(a.paid.values())
    assert {e["provider"] for e in entries} == {"a", "b"}


def test_adding_a_member_rebuilds_nothing(tmp_path, vendors):
    a, b = vendors
    cat = catalog(tmp_path / "cat", a, b, n=6, members="[a]")
    code, out, err = run_cli("build", catalog=cat, env=KEYS)
    assert code == 0, out + err
    before = sum(a.paid.values())
    text = (cat / "catalog.yaml").read_text().replace("members: [a]", "members: [b, a]")
    (cat / "catalog.yaml").write_text(text)
    code, out, err = run_cli("build", catalog=cat, env=KEYS)
    assert code == 0, out + err
    assert "nothing to do: all 6 variants are fresh" in out
    assert sum(a.paid.values()) == before and not b.log
