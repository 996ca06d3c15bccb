"""A vendor-bound build as a celery run over N workers (bench.workers vendor): PostgreSQL
(instance + coordination), moto's S3 server (the cache) and redis started here, each worker a
"machine" of its own (tests/helpers/workers.py: its own catalog copy, DAGSTER_HOME, TMPDIR), started
and ready before the clock starts, as a deployment's workers are; the clock times
`dagster job execute` of the code location's build job with ASSETPIPE_EXECUTOR=celery."""

from __future__ import annotations

import time

import yaml

from bench.catalogs import vendor_catalog
from bench.common import WORK, say


def celery_build(base_url: str, gens: int, workers: int = 2) -> dict:
    import shutil

    from tests.helpers.services import start_postgres, start_redis, start_s3
    from tests.helpers.workers import finish, machine, wait_ready

    top = WORK / "workers" / "celery"
    shutil.rmtree(top, ignore_errors=True)
    top.mkdir(parents=True)
    with start_postgres() as pg, start_redis() as redis, start_s3() as s3:
        db = pg.create_database("bench")
        env = {**s3.env, "BENCH_OPENAI_KEY": "bench-key", "ASSETPIPE_CELERY_BROKER": redis.url,
               "DAGSTER_PG_URL": db.replace("postgresql://", "postgresql+psycopg2://")}
        bucket = s3.bucket()
        machines = [machine(top, f"w{i}", {}, env) for i in range(workers)]
        for m in machines:
            _catalog(m.catalog, base_url, gens, f"s3://{bucket}/cache", db)
        try:
            finish(machines[0].start("migrate", "dagster", "instance", "migrate"), machines[0], "migrate")
            for m in machines:
                m.worker()
            wait_ready(machines)
            t0 = time.perf_counter()
            log = finish(machines[0].celery_run(), machines[0], "run", timeout=3600)
            wall = time.perf_counter() - t0
        finally:
            for m in machines:
                m.stop()
    steps = [m.steps_done() for m in machines]
    run_s = _between(log, "RUN_START", "RUN_SUCCESS")
    say(f"  {workers} celery workers: {wall:.1f} s ({run_s} s from RUN_START to RUN_SUCCESS), "
        f"steps per worker {steps}")
    return {"wall_s": round(wall, 2), "run_start_to_success_s": run_s, "steps_per_worker": steps,
            "run_succeeded": "RUN_SUCCESS" in log}


def _between(log: str, first: str, last: str) -> float | None:
    """Seconds between two events of the run's log (Dagster's lines start with a timestamp)."""
    import datetime
    import re

    stamps = {}
    for event in (first, last):
        m = re.search(rf"^(\S+ \S+) \+0000 - dagster - \w+ - .* - {event} - ", log, re.M)
        if m is None:
            return None
        stamps[event] = datetime.datetime.fromisoformat(m.group(1))
    return (stamps[last] - stamps[first]).total_seconds()


def _catalog(dest, base_url: str, gens: int, cache: str, coordination: str) -> None:
    vendor_catalog(dest, base_url, gens=gens, edits=0, campaigns=4)
    settings = yaml.safe_load((dest / "catalog.yaml").read_text())
    settings.update({"cache": cache, "coordination": coordination})
    (dest / "catalog.yaml").write_text(yaml.safe_dump(settings))
