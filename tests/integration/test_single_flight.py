"""Two `assetpipe build` processes on one catalog (the CLI and a schedule, say): together they never
exceed the vendor's limit, and never pay twice for one cache key.

The mechanisms under test are cross-process: the store's per-key lease (an flock under
<catalog>/.assetpipe/locks/keys) and the provider's slot files (<catalog>/.assetpipe/locks/slots).
The vendor is the OpenAI emulator in this process, with the same in-flight limit as the catalog's
provider and no client retries, so a call over the limit would fail its variant, not hide.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.emulators.openai import TakesOpenAI
from tests.helpers.catalogs import blobs, manifest, write_catalog
from tests.helpers.paths import ASSETPIPE
from tests.helpers.vendors import TEST_KEY, TEST_KEY_ENV

LIMIT = 2


def _catalog(root: Path, emu: TakesOpenAI, campaigns: dict[str, list[str]], edits: int = 1) -> Path:
    """One campaign per entry: a generated `shot` per item, and an edit of the first `edits` shots."""
    files = {"catalog.yaml": f"""
        default_provider: openai
        providers:
          openai: {{type: openai, base_url: "{emu.base_url}", api_key_env: {TEST_KEY_ENV},
                   max_concurrency: {LIMIT}, timeout_s: 20, max_retries: 0}}
        check_text: "off"
        defaults: {{quality: low, size: 1024x1024}}
        """}
    for name, items in campaigns.items():
        loft = f"""
              - name: loft
                matrix: {{item: [{', '.join(items[:edits])}]}}
                edit: {{image: shot}}
                prompt: Put shot {{{{ item }}}} of {name} in a sunlit loft
            """ if edits else ""
        files[f"campaigns/{name}.yaml"] = f"""
            campaign: {name}
            assets:
              - name: shot
                matrix: {{item: [{', '.join(items)}]}}
                prompt: Product shot {{{{ item }}}} of {name} on a plain table
            """ + loft
    return write_catalog(root, files)


def _start(catalog: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    env[TEST_KEY_ENV] = TEST_KEY
    return subprocess.Popen([str(ASSETPIPE), "--catalog", str(catalog), "build", *args], cwd=catalog.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[str, dict[str, str]]:
    """(stdout, {variant key: built | cached}) of a build that must have succeeded."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert TEST_KEY not in out + err
    return out, {key: status for status, key in re.findall(r"^  (built|cached)\s+(\S+/\S+)", out, re.M)}


def _variants(catalog: Path) -> set[str]:
    return {e["key"] for e in manifest(catalog)["variants"]}


@pytest.fixture
def emu():
    with TakesOpenAI(latency=0.25, limit=LIMIT) as e:
        yield e


def test_two_builds_started_together_pay_once_per_key_and_stay_under_the_limit(emu, tmp_path):
    cat = _catalog(tmp_path / "catalog", emu, {"spring": ["a", "b", "c"], "summer": ["a", "b", "c"]})
    first, second = _start(cat), _start(cat)
    (_, seen1), (_, seen2) = _finish(first), _finish(second)

    keys = _variants(cat)
    assert len(keys) == 8 and set(seen1) == set(seen2) == keys  # each build accounts for every variant
    built1 = {k for k, s in seen1.items() if s == "built"}
    built2 = {k for k, s in seen2.items() if s == "built"}
    assert not built1 & built2 and built1 | built2 == keys  # every key paid for exactly once...
    assert emu.calls() == len(keys)  # ...as the vendor counts it too
    assert {k for k, s in seen2.items() if s == "cached"} == built1  # the rest is the other's result
    stats = emu.stats(TEST_KEY)
    assert stats.rejected == 0 and stats.peak <= LIMIT, stats
    assert len(blobs(cat)) == len(keys)


def _waits_on_a_lease(proc: subprocess.Popen, catalog: Path) -> bool:
    """Whether the process has a key's lease file open: it planned the key as missing and is at the
    lease, the step before paying (read from /proc, so no timing is assumed)."""
    keys = (catalog / ".assetpipe" / "locks" / "keys").resolve()
    try:
        fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if keys in Path(os.readlink(fd)).parents:
                return True
        except OSError:
            continue
    return False


def test_a_build_started_while_another_pays_for_a_key_waits_for_that_result(tmp_path):
    # the first call stays in flight until the second build is at the key's lease, so the second
    # build planned the key as missing for sure: the lease is what keeps it from paying
    second_at_lease = threading.Event()
    with TakesOpenAI(latency=lambda req: 0.0 if second_at_lease.wait(60) else 0.0, limit=LIMIT) as emu:
        cat = _catalog(tmp_path / "catalog", emu, {"spring": ["a"]}, edits=0)
        first = _start(cat)
        deadline = time.monotonic() + 60
        while emu.stats(TEST_KEY).current == 0:
            assert time.monotonic() < deadline and first.poll() is None, "the first build never called"
            time.sleep(0.01)
        second = _start(cat)
        while not _waits_on_a_lease(second, cat):
            assert time.monotonic() < deadline and second.poll() is None, \
                ("the second build never reached the lease", second.poll() is not None and second.communicate())
            time.sleep(0.01)
        second_at_lease.set()
        (_, seen1), (_, seen2) = _finish(first), _finish(second)
        assert seen1 == {"spring/shot/a": "built"} and seen2 == {"spring/shot/a": "cached"}
        assert emu.calls() == 1


def test_builds_of_different_variants_share_one_vendor_limit(tmp_path):
    """The spring build's one call stays in flight until the summer build's first call arrives, so
    the two overlap for sure; with a slot file per process the summer build would then put two
    more calls in flight (three > the limit of two) and the vendor would refuse one."""
    summer_called = threading.Event()

    def latency(req) -> float:
        if "of summer" in (req.json or {}).get("prompt", ""):
            summer_called.set()
            return 0.25
        summer_called.wait(30)
        return 0.0

    with TakesOpenAI(latency=latency, limit=LIMIT) as emu:
        cat = _catalog(tmp_path / "catalog", emu, {"spring": ["a"], "summer": list("abcd")}, edits=0)
        spring = _start(cat, "--select", "spring")
        deadline = time.monotonic() + 60
        while emu.stats(TEST_KEY).current == 0:
            assert time.monotonic() < deadline and spring.poll() is None, "the spring build never called"
            time.sleep(0.01)
        summer = _start(cat, "--select", "summer")
        _finish(spring), _finish(summer)
        assert summer_called.is_set()
        stats = emu.stats(TEST_KEY)
        assert emu.calls() == 5 and stats.rejected == 0, stats
        assert stats.peak == LIMIT, stats  # both builds in flight at once, and never more than the limit
