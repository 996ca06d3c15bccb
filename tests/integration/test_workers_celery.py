"""A build spread over machines that share nothing on disk (tests/helpers/workers.py): one
PostgreSQL (the Dagster instance, deploy/dagster.yaml as written, and the coordination), one S3
server (the cache), one redis (the celery broker), one EachLabs emulator (an async vendor) that
refuses more than 10 predictions in flight per key.

Three machines each run a dagster-celery worker (deploy/celery.yaml as written); two of them also
run `assetpipe build`, the third runs the code location's build job with the celery executor, all
three at once: every cache key is paid for once, the vendor's limit holds over all of them, every
step of the celery run ran on some worker, every variant is in both builds' out/ and materialized
by the celery run. Then a worker is kill -9'd mid-run: its step is redelivered to another worker,
which collects the killed step's predictions by their journaled ids (never creating them again),
and the killed worker's leases and slots are free.
"""

from __future__ import annotations

import collections
import json
import re
import time

import psycopg
import pytest

from tests.emulators.eachlabs import EachLabsEmulator
from tests.helpers.catalogs import manifest
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.vendors import TEST_KEY, TEST_KEY_ENV
from tests.helpers.workers import CELERY_YAML, finish, machine, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

LIMIT = 10
CAMPAIGNS = ("spring", "summer", "autumn")
ITEMS = 8  # a step holds one asset of 8 variants (ASSETPIPE_STEP_VARIANTS=8): 4 steps


def catalog_files(emu: EachLabsEmulator, cache: str, coordination: str) -> dict[str, str]:
    provider = (f'{{type: eachlabs, base_url: "{emu.base_url}", api_key_env: {TEST_KEY_ENV}, max_concurrency: {LIMIT},'
                f' download_hosts: {emu.download_hosts}, poll_interval_s: 0.1, timeout_s: 10}}')
    files = {"catalog.yaml": f'default_provider: each\nproviders:\n  each: {provider}\ncheck_text: "off"\n'
                             f"cache: {cache}\ncoordination: {coordination}\n"
                             "defaults: {quality: low, size: 1024x1024}\n"}
    for c in CAMPAIGNS:
        story = ("\n  - name: story\n    render: {from: hero, size: 512x512}" if c == "spring" else "")
        items = list(range(1, ITEMS + 1))
        files[f"campaigns/{c}.yaml"] = (f"campaign: {c}\nassets:\n  - name: hero\n    matrix: {{n: {items}}}\n"
                                        f"    prompt: Poster {{{{ n }}}} of {c}{story}\n")
    return files


@pytest.fixture
def world(tmp_path, pg_database, s3_server, redis_server, monkeypatch):
    """(make a machine, the emulator, the Dagster instance's env) on fresh servers' state."""
    with EachLabsEmulator(latency=1.5, limit=LIMIT) as emu:
        pg_url = pg_database.replace("postgresql://", "postgresql+psycopg2://")
        env = {**s3_server.env, TEST_KEY_ENV: TEST_KEY, "DAGSTER_PG_URL": pg_url,
               "ASSETPIPE_CELERY_BROKER": redis_server.url, "ASSETPIPE_STEP_VARIANTS": str(ITEMS)}
        files = catalog_files(emu, f"s3://{s3_server.bucket()}/cache", pg_database)
        machines = []

        def make(name: str):
            machines.append(machine(tmp_path, name, files, env))
            return machines[-1]

        _migrate(tmp_path, files, env, monkeypatch)  # the schema once, before any worker (README)
        try:
            yield make, emu, pg_database
        finally:
            for m in machines:
                m.stop()


def _migrate(tmp_path, files, env, monkeypatch) -> None:
    from dagster import DagsterInstance

    home = machine(tmp_path, "admin", files, env).root / "home"
    monkeypatch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
    with DagsterInstance.from_config(str(home)):
        pass


def keys_of(m) -> set[str]:
    return set(plan_json(m.catalog, env=m.env))


def materialized(run_log: str, pg: str) -> set[str]:
    """The variants (asset key and partition) the run recorded a materialization of, read from the
    instance's database."""
    run_id = re.search(r"assetpipe_build - ([0-9a-f-]{36}) - ", run_log).group(1)
    with psycopg.connect(pg) as conn:
        rows = conn.execute("select asset_key, partition from event_logs where run_id = %s and dagster_event_type = "
                            "'ASSET_MATERIALIZATION'", (run_id,)).fetchall()
    return {"/".join([*json.loads(key), partition]) for key, partition in rows}


def advisory_locks(pg: str) -> int:
    with psycopg.connect(pg) as conn:
        return conn.execute("select count(*) from pg_locks where locktype = 'advisory'").fetchone()[0]


def test_two_builds_and_a_celery_run_on_three_machines_pay_once_and_share_the_limit(world):
    make, emu, pg = world
    machines = [make(f"m{i}") for i in (1, 2, 3)]
    for m in machines:
        m.worker()
    wait_ready(machines)
    procs = [(machines[0].build(), machines[0], "build"), (machines[1].build(), machines[1], "build"),
             (machines[2].celery_run(), machines[2], "run")]
    logs = [finish(p, m, what) for p, m, what in procs]

    keys = keys_of(machines[0])
    assert len(keys) == len(CAMPAIGNS) * ITEMS + ITEMS
    assert len(emu.predictions) == len(CAMPAIGNS) * ITEMS  # one create per distinct cache key
    stats = emu.stats(TEST_KEY)
    assert stats.peak <= LIMIT and stats.rejected == 0, stats
    for m in machines[:2]:  # the two builds: every variant in their out/
        assert {e["key"] for e in manifest(m.catalog)["variants"] if (m.catalog / "out" / e["path"]).is_file()} == keys
    assert materialized(logs[2], pg) == keys  # the celery run: every variant materialized
    steps = [m.steps_done() for m in machines]
    assert sum(steps) == 4 and sum(n > 0 for n in steps) >= 2, steps  # 4 steps, spread over workers
    assert TEST_KEY not in "".join(logs)
    assert advisory_locks(pg) == 0  # every lease and slot given back


def test_a_worker_killed_mid_run_pays_for_nothing_twice_and_frees_its_leases(world, tmp_path):
    make, emu, pg = world
    emu.run_time = 3.0  # predictions in flight for a while: the kill lands among them
    # deploy/celery.yaml but for visibility_timeout: a lost step is redelivered after it, 900 s as written
    quick = tmp_path / "celery-quick.yaml"
    written = CELERY_YAML.read_text()
    quick.write_text(written.replace("visibility_timeout: 900", "visibility_timeout: 20"))
    assert quick.read_text() != written
    victim, survivor = make("k1"), make("k2")
    for m in (victim, survivor):
        m.worker(quick)
    wait_ready([victim, survivor])
    run = survivor.celery_run(quick)
    deadline = time.monotonic() + 120
    while "received" not in victim.log("worker").read_text() or emu.stats(TEST_KEY).current == 0:
        assert time.monotonic() < deadline and run.poll() is None, survivor.log("run").read_text()[-3000:]
        time.sleep(0.1)
    time.sleep(1.0)
    victim.kill(victim.procs[-1])
    in_flight_at_kill = len(emu.predictions)
    run.wait(240)
    vlog = victim.log("worker").read_text()
    killed = [t for t in re.findall(r"Task execute_plan\[([^\]]+)\] received", vlog) if f"[{t}] succeeded" not in vlog]
    assert killed and all(f"execute_plan[{t}] succeeded" in survivor.log("worker").read_text() for t in killed), \
        survivor.log("worker").read_text()[-3000:]  # the killed worker's step ran again, on k2, to its end

    # The killed worker's slots are free at once, but its predictions still run at the vendor until
    # someone collects them (the redelivered step does, after visibility_timeout): meanwhile a create
    # may be refused (429), retried, and fail unpaid. What must hold: nothing paid twice, and the next
    # build, on a machine that never saw any of this, collects or builds the rest
    jobs = collections.Counter(p.input["prompt"] for p in emu.predictions.values())
    assert in_flight_at_kill > 0 and max(jobs.values()) == 1, jobs
    assert advisory_locks(pg) == 0  # the killed worker's leases and slots were freed
    after = make("k3")
    code, out, err = run_cli("build", catalog=after.catalog, env=after.env, timeout=240)
    rows = plan_json(after.catalog, env=after.env)
    held = {k for k, r in rows.items() if r["maybe_billed"]}
    # every variant fresh, but for a create killed between leaving and its answer (no id in the
    # journal): held as maybe billed, never re-sent
    assert all(r["status"] == "fresh" for k, r in rows.items() if k not in held), out + err
    assert len(held) <= 1 and code == (1 if held else 0), out + err
    jobs = collections.Counter(p.input["prompt"] for p in emu.predictions.values())
    assert max(jobs.values()) == 1 and len(jobs) >= len(CAMPAIGNS) * ITEMS - len(held), jobs
    assert advisory_locks(pg) == 0
