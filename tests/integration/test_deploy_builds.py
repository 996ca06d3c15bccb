"""Builds that share nothing on disk, only a PostgreSQL coordination and an S3 cache, as workers on
different machines do: every cache key is paid for once, and a vendor key's limit holds over all
of them. Each "machine" is its own copy of the catalog (its own .assetpipe/, locks, out/), built by
`assetpipe build` in a subprocess against one OpenAI emulator whose in-flight limit equals the
catalog's, with no client retries, so a call over the limit fails its variant instead of hiding.
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
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import assert_clean_failure, run_cli
from tests.helpers.paths import ASSETPIPE
from tests.helpers.vendors import TEST_KEY, TEST_KEY_ENV

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

LIMIT = 2
PG_PASSWORD_ENV = "ASSETPIPE_TEST_PG_PASSWORD"
PG_PASSWORD = "pg-pw-7d1e0c"  # the test server trusts any password: it only proves ${VAR} is filled


def _catalog(root: Path, emu: TakesOpenAI, campaigns: dict[str, list[str]], *, cache: str,
             coordination: str | None, providers: tuple[str, ...] = ("openai",)) -> Path:
    """A generated `shot` per item of each campaign; campaign i is built by providers[i % n]."""
    entries = "\n".join(
        f"  {name}: {{type: openai, base_url: \"{emu.base_url}\", api_key_env: {TEST_KEY_ENV},"
        f" max_concurrency: {LIMIT}, timeout_s: 20, max_retries: 0}}" for name in providers)
    files = {"catalog.yaml": f"default_provider: {providers[0]}\nproviders:\n{entries}\n"
                             f"cache: {cache}\ncheck_text: \"off\"\ndefaults: {{quality: low, size: 1024x1024}}\n"
                             + (f"coordination: {coordination}\n" if coordination else "")}
    for i, (name, items) in enumerate(campaigns.items()):
        files[f"campaigns/{name}.yaml"] = f"""
            campaign: {name}
            assets:
              - name: shot
                provider: {providers[i % len(providers)]}
                matrix: {{item: [{', '.join(items)}]}}
                prompt: Product shot {{{{ item }}}} of {name} on a plain table
            """
    return write_catalog(root, files)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    env.update({TEST_KEY_ENV: TEST_KEY, PG_PASSWORD_ENV: PG_PASSWORD, **(extra or {})})
    return env


def _start(catalog: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(ASSETPIPE), "--catalog", str(catalog), "build", *args], cwd=catalog.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> dict[str, str]:
    """{variant key: built | cached} of a build that must have succeeded."""
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, out + err
    assert TEST_KEY not in out + err and PG_PASSWORD not in out + err
    return {key: status for status, key in re.findall(r"^  (built|cached)\s+(\S+/\S+)", out, re.M)}


def _coordination(pg_database: str) -> str:
    return pg_database.replace("postgresql://postgres@", f"postgresql://postgres:${{{PG_PASSWORD_ENV}}}@")


@pytest.fixture
def emu():
    with TakesOpenAI(latency=0.25, limit=LIMIT) as e:
        yield e


def test_two_machines_pay_once_per_key_and_share_the_vendor_limit(emu, tmp_path, s3_server, pg_database):
    bucket = s3_server.bucket()
    campaigns = {"spring": list("abc"), "summer": list("abc")}
    machines = [_catalog(tmp_path / f"machine{i}" / "catalog", emu, campaigns, cache=f"s3://{bucket}/cache",
                         coordination=_coordination(pg_database)) for i in (1, 2)]
    env = _env(s3_server.env)
    seen1, seen2 = (_finish(p) for p in [_start(m, env) for m in machines])

    keys = {e["key"] for e in manifest(machines[0])["variants"]}
    assert len(keys) == 6 and set(seen1) == set(seen2) == keys
    built1 = {k for k, s in seen1.items() if s == "built"}
    built2 = {k for k, s in seen2.items() if s == "built"}
    assert not built1 & built2 and built1 | built2 == keys  # every key paid for once, by one machine
    assert emu.calls() == len(keys)
    stats = emu.stats(TEST_KEY)
    assert stats.rejected == 0 and stats.peak <= LIMIT, stats
    for m in machines:  # every variant in every machine's out/, from the shared cache
        assert {e["key"] for e in manifest(m)["variants"] if (m / "out" / e["path"]).is_file()} == keys
    assert not [p for p in machines[0].rglob("*") if "blobs" in p.parts]  # the blobs live in the bucket
    code, out, err = run_cli("build", catalog=machines[1], env=env)
    assert code == 0 and "nothing to do" in out, out + err


def test_builds_of_different_variants_on_two_machines_share_one_vendor_limit(tmp_path, s3_server, pg_database):
    """Machine 1's one call stays in flight until machine 2's first call arrives, so both machines
    have calls in flight at once for sure; with slots per machine, machine 2 would then put two more
    in flight (three > the limit of two) and the vendor would refuse one."""
    second_called = threading.Event()

    def latency(req) -> float:
        if "of summer" in (req.json or {}).get("prompt", ""):
            second_called.set()
            return 0.25
        second_called.wait(60)
        return 0.0

    with TakesOpenAI(latency=latency, limit=LIMIT) as emu:
        bucket = s3_server.bucket()
        campaigns = {"spring": ["a"], "summer": list("abcd")}
        m1, m2 = (_catalog(tmp_path / f"machine{i}" / "catalog", emu, campaigns, cache=f"s3://{bucket}/cache",
                           coordination=_coordination(pg_database)) for i in (1, 2))
        env = _env(s3_server.env)
        spring = _start(m1, env, "--select", "spring")
        deadline = time.monotonic() + 90
        while emu.stats(TEST_KEY).current == 0:
            assert time.monotonic() < deadline and spring.poll() is None, "machine 1 never called"
            time.sleep(0.01)
        summer = _start(m2, env, "--select", "summer")
        _finish(spring), _finish(summer)
        stats = emu.stats(TEST_KEY)
        assert second_called.is_set() and emu.calls() == 5 and stats.rejected == 0, stats
        assert stats.peak == LIMIT, stats


def test_two_provider_entries_with_one_key_share_its_limit(tmp_path):
    """Four variants per provider entry, each entry allowing two calls: the key's two slots are
    shared, so the vendor (limit two per key) never refuses one."""
    with TakesOpenAI(latency=0.3, limit=LIMIT) as emu:
        cat = _catalog(tmp_path / "catalog", emu, {"spring": list("abcd"), "summer": list("abcd")},
                       cache=".assetpipe/cache", coordination=None, providers=("first", "second"))
        seen = _finish(_start(cat, _env()))
        stats = emu.stats(TEST_KEY)
        assert len(seen) == 8 and emu.calls() == 8 and stats.rejected == 0, stats
        assert stats.peak == LIMIT, stats


def test_a_missing_bucket_stops_the_build_before_anything_is_paid(emu, tmp_path, s3_server):
    cat = _catalog(tmp_path / "catalog", emu, {"spring": ["a"]}, cache="s3://no-such-bucket-here/cache",
                   coordination=None)
    code, out, err = run_cli("build", catalog=cat, env=_env(s3_server.env))
    assert_clean_failure(code, out, err)
    assert "s3://no-such-bucket-here/cache" in err and "not found" in err, err
    assert emu.calls() == 0
    assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in out + err


def test_an_unreachable_coordination_stops_the_build_before_anything_is_paid(emu, tmp_path, postgres):
    from tests.helpers.services import free_port

    dead = f"postgresql://postgres:${{{PG_PASSWORD_ENV}}}@127.0.0.1:{free_port()}/nowhere"
    cat = _catalog(tmp_path / "catalog", emu, {"spring": ["a"]}, cache=".assetpipe/cache", coordination=dead)
    code, out, err = run_cli("build", catalog=cat, env=_env())
    assert_clean_failure(code, out, err)
    assert "coordination database" in err and "catalog.yaml:" in err and PG_PASSWORD not in out + err, err
    assert emu.calls() == 0
    code, out, err = run_cli("build", catalog=cat, env={k: v for k, v in _env().items() if k != PG_PASSWORD_ENV})
    assert_clean_failure(code, out, err)
    assert f"${{{PG_PASSWORD_ENV}}}, which is not set" in err, err
