"""Issue 11: the deployment's costs and what spreading a build over workers buys.

    python -m bench.workers instance [--variants 2000]   Postgres instance vs the private one
    python -m bench.workers cpu [--posters 400]          drafts + OCR: 1 worker vs 2 (multiprocess)
    python -m bench.workers vendor [--gens 200]          vendor-bound: 2 celery workers vs one machine
    python -m bench.workers all

`instance`: `assetpipe build` of a draft catalog (bench/catalogs.py) with the catalog's private
instance, then with DAGSTER_HOME set to deploy/dagster.yaml on a PostgreSQL server started here
(Debian's binaries, tests/helpers/services.py), then the private one again; per-variant wall time,
ratio Postgres / the mean of the two private runs, the load average before each, and what the
build cost the server (connections and transactions, from pg_stat_database).

`cpu`: posters drawn by the draft provider with their headline read back by OCR (check_text: auto),
8 campaigns (8 steps); the code location's build job run by `dagster job execute` with the
multiprocess executor at max_concurrent 1 (one worker) and 2 (two workers, one per core), each on a
fresh copy of the catalog; speed-up = time(1) / time(2).

`vendor`: generations at the OpenAI emulator (latency per call, limit 10 in flight); one machine's
figure is `assetpipe build` (one process); then the same catalog, fresh cache, as a celery run
over two workers sharing PostgreSQL coordination, an S3 cache (moto) and redis; ratio two-worker
wall / one-machine wall (and both against the ideal, total call-seconds / limit).
Results in bench/results/workers.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

from bench.catalogs import STRINGS, draft_catalog, vendor_catalog
from bench.common import ASSETPIPE, PY, ROOT, WORK, EmulatorProcess, env_with, key_stats, machine, run_timed, save, say

DAGSTER = str(Path(PY).with_name("dagster"))


def instance_bench(variants: int) -> dict:
    from tests.helpers.services import start_postgres

    out: dict = {"variants": variants}
    for kind in ("private", "postgres", "private_again"):
        cat = draft_catalog(WORK / "workers" / f"inst_{kind}", variants)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        server: dict = {}
        if kind != "postgres":
            t = run_timed(ASSETPIPE + ["--catalog", str(cat), "build"], env_with()).check(kind)
        else:
            with start_postgres() as pg:
                home = WORK / "workers" / "pg_home"
                shutil.rmtree(home, ignore_errors=True)
                home.mkdir(parents=True)
                shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
                url = pg.create_database("bench").replace("postgresql://", "postgresql+psycopg2://")
                env = env_with(DAGSTER_HOME=str(home), DAGSTER_PG_URL=url)
                run_timed([DAGSTER, "instance", "migrate"], env).check("migrate")
                before = _server_stats(pg)
                t = run_timed(ASSETPIPE + ["--catalog", str(cat), "build"], env).check(kind)
                server = {k: v - before[k] for k, v in _server_stats(pg).items()}
        out[kind] = {"wall_s": round(t.wall_s, 2), "per_variant_ms": round(1000 * t.wall_s / variants, 1),
                     "loadavg_before": load, **({"server": server} if server else {})}
        say(f"  {kind}: {t.wall_s:.1f} s, {1000 * t.wall_s / variants:.1f} ms/variant (load before: {load})"
            + (f"; {server}" if server else ""))
    base = (out["private"]["wall_s"] + out["private_again"]["wall_s"]) / 2
    out["ratio_postgres_to_private"] = round(out["postgres"]["wall_s"] / base, 3)
    return out


def _server_stats(pg) -> dict[str, int]:
    """Connections opened to the bench database and transactions committed in it, so far."""
    import psycopg

    time.sleep(1.5)  # backends report their counters when they exit or idle (PostgreSQL 15)
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        sessions, commits = conn.execute(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = 'bench'").fetchone()
    return {"connections": int(sessions), "transactions": int(commits)}


def poster_catalog(dest: Path, posters: int, campaigns: int = 8) -> Path:
    cat = draft_catalog(dest, 100)  # its settings, locales and partials; campaigns replaced below
    shutil.rmtree(cat / "campaigns")
    settings = yaml.safe_load((cat / "catalog.yaml").read_text())
    settings["check_text"] = "auto"
    (cat / "catalog.yaml").write_text(yaml.safe_dump(settings))
    per = posters // campaigns // len(STRINGS)
    for c in range(campaigns):
        (cat / "campaigns").mkdir(exist_ok=True)
        (cat / "campaigns" / f"c{c}.yaml").write_text(yaml.safe_dump({
            "campaign": f"c{c}", "locales": list(STRINGS), "vars": {"brand": f"BRAND {c}"},
            "assets": [{"name": "poster", "size": "512x768",
                        "matrix": {"item": [f"p{i:02d}" for i in range(per)], "locale": "{{ locales }}"},
                        "prompt": 'Poster {{ item }} for {{ brand }} reading "{{ t.headline }}"',
                        "text": ["{{ t.headline }}"]}]}))
    return cat


def job_execute(cat: Path, home: Path, max_concurrent: int) -> float:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    config = home / "run.yaml"
    config.write_text(yaml.safe_dump({"execution": {"config": {"multiprocess": {"max_concurrent": max_concurrent}}}}))
    cmd = [DAGSTER, "job", "execute", "-m", "pipelines.definitions", "-j", "assetpipe_build", "-c", str(config)]
    t = run_timed(cmd, env_with(ASSETPIPE_CATALOG=str(cat), DAGSTER_HOME=str(home)), cwd=home).check("job execute")
    if "RUN_SUCCESS" not in t.stdout + t.stderr:
        raise SystemExit("the run did not succeed")
    return t.wall_s


def cpu_bench(posters: int, order: tuple[int, ...] = (1, 2)) -> dict:
    out: dict = {"posters": posters, "steps": 8}
    for workers in order:
        cat = poster_catalog(WORK / "workers" / f"cpu_{workers}", posters)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        wall = job_execute(cat, WORK / "workers" / f"cpu_home_{workers}", workers)
        out.setdefault(f"workers_{workers}", []).append({"wall_s": round(wall, 2), "loadavg_before": load})
        say(f"  {workers} worker(s): {wall:.1f} s (load before: {load})")
    one = [r["wall_s"] for r in out["workers_1"]]
    out["speedup"] = round(sum(one) / len(one) / out["workers_2"][0]["wall_s"], 3)
    return out


def vendor_bench(gens: int, latency: float) -> dict:
    from bench.celery_run import celery_build

    out: dict = {"gens": gens, "latency_s": latency, "limit": 10, "ideal_s": round(gens * latency / 10, 2)}
    with EmulatorProcess("openai", latency=latency, limit=10) as emu:
        cat = vendor_catalog(WORK / "workers" / "vendor_one", emu.base_url, gens=gens, edits=0, campaigns=4)
        env = env_with(BENCH_OPENAI_KEY="bench-key")
        t = run_timed(ASSETPIPE + ["--catalog", str(cat), "build"], env).check("one machine")
        out["one_machine_s"] = round(t.wall_s, 2)
        say(f"  one machine (assetpipe build): {t.wall_s:.1f} s; ideal {out['ideal_s']} s")
        out["two_workers"] = celery_build(emu.base_url, gens, workers=2)
        out["peak_in_flight"] = key_stats(emu.stats(), "bench-key")["peak"]
    out["ratio_two_workers_to_one_machine"] = round(out["two_workers"]["wall_s"] / out["one_machine_s"], 3)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.workers")
    ap.add_argument("what", choices=["instance", "cpu", "vendor", "all"])
    ap.add_argument("--variants", type=int, default=2000)
    ap.add_argument("--posters", type=int, default=400)
    ap.add_argument("--gens", type=int, default=200)
    ap.add_argument("--latency", type=float, default=4.0)
    args = ap.parse_args(argv)
    path = RESULTS_FILE
    result = _load(path) or {}
    result["machine"] = machine()
    runs = {"instance": lambda: instance_bench(args.variants), "cpu": lambda: cpu_bench(args.posters),
            "vendor": lambda: vendor_bench(args.gens, args.latency)}
    for name in (runs if args.what == "all" else [args.what]):
        say(f"{name} ...")
        t0 = time.monotonic()
        result[name] = {"machine": machine(), **runs[name]()}
        result[name]["bench_s"] = round(time.monotonic() - t0, 1)
        save("workers", result)
    say(f"results in {save('workers', result)}")
    return result


RESULTS_FILE = ROOT / "bench" / "results" / "workers.json"


def _load(path: Path) -> dict | None:
    import json

    return json.loads(path.read_text()) if path.exists() else None


if __name__ == "__main__":
    main(sys.argv[1:])
