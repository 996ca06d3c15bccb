"""Target 1: a build runs at the vendor's limit.

    python -m bench.throughput [--gens 160 --edits 40 --latency 2 --edit-latency 4 --limit 10]
                               [--skip-naive] [--skip-sequential]

One OpenAI emulator process (`tests.emulators.openai`, a real HTTP server on 127.0.0.1) serves
every contender, each with its own API key so its in-flight peak and call count are its own:

  assetpipe    `assetpipe build` of a generated catalog (bench/catalogs.py `vendor`)
  naive        plain `dagster asset materialize` of one @asset per variant calling the vendor
               synchronously (bench/naive_defs.py), default multiprocess executor
  sequential   a loop calling the same provider code one variant at a time (bench/sequential.py)
  pool         `assetpipe build` of the same catalog on a spread pool of two keys (two members,
               each with the same limit): its ideal is the pool's, half the single-key ideal

The ideal is the bound set by the limit and the dependency chains: no schedule can beat
max(total call-seconds / limit, the longest chain), and a critical-path-first list schedule
(simulated below) shows when that bound is reachable. Results go to bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import sys

from bench.catalogs import KEY_ENV, KEY_ENV_B, vendor_catalog
from bench.common import (
    ASSETPIPE,
    PY,
    WORK,
    EmulatorProcess,
    env_with,
    key_stats,
    machine,
    run_timed,
    save,
    say,
)


def ideal_makespan(durations: dict[str, float], parents: dict[str, list[str]], limit: int) -> tuple[float, float]:
    """(lower bound, makespan of a critical-path-first list schedule) for jobs with durations,
    each startable once its parents are done, at most `limit` at a time."""
    children: dict[str, list[str]] = {k: [] for k in durations}
    for k, ps in parents.items():
        for p in ps:
            children[p].append(k)
    tail: dict[str, float] = {}  # longest path from the start of k to the end of everything after it

    def longest(k: str) -> float:
        if k not in tail:
            tail[k] = durations[k] + max((longest(c) for c in children[k]), default=0.0)
        return tail[k]

    bound = max(sum(durations.values()) / limit, max(longest(k) for k in durations))
    waiting = {k: len(parents.get(k, [])) for k in durations}
    ready = [(-longest(k), k) for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < limit:
            _, k = heapq.heappop(ready)
            heapq.heappush(running, (now + durations[k], k))
        now, k = heapq.heappop(running)
        for c in children[k]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, (-longest(c), c))
    return bound, now


def catalog_jobs(catalog, gen_s: float, edit_s: float) -> tuple[dict[str, float], dict[str, list[str]]]:
    from pipelines.plan.project import Project

    project = Project.load(catalog)
    durations = {v.key: edit_s if v.operation == "edit" else gen_s for v in project.variants}
    parents = {v.key: list(v.upstream_keys) for v in project.variants}
    return durations, parents


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.throughput")
    ap.add_argument("--gens", type=int, default=160)
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--edit-latency", type=float, default=4.0)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-sequential", action="store_true")
    ap.add_argument("--skip-pool", action="store_true")
    ap.add_argument("--out", default="throughput", help="results file name in bench/results/ (without .json)")
    args = ap.parse_args(argv)

    work = WORK / "throughput"
    if work.exists():
        shutil.rmtree(work)
    result: dict = {"machine": machine(), "params": vars(args), "runs": {}}
    with EmulatorProcess("openai", latency=args.latency, edit_latency=args.edit_latency, limit=args.limit) as emu:
        say(f"emulator at {emu.base_url}: {args.latency} s per generation, {args.edit_latency} s per edit, "
            f"limit {args.limit} in flight per key")

        def catalog(name: str, pool: str | None = None):
            return vendor_catalog(work / name, emu.base_url, gens=args.gens, edits=args.edits,
                                  max_concurrency=args.limit, pool=pool)

        cat = catalog("assetpipe")
        durations, parents = catalog_jobs(cat, args.latency, args.edit_latency)
        bound, scheduled = ideal_makespan(durations, parents, args.limit)
        result["ideal_s"] = round(bound, 3)
        result["list_schedule_s"] = round(scheduled, 3)
        say(f"{len(durations)} variants; ideal {bound:.2f} s (a critical-path-first schedule takes {scheduled:.2f} s)")

        def record(name: str, key: str, timed, note: str = "", ideal: float | None = None) -> None:
            s = key_stats(emu.stats(), key)
            run = {"wall_s": round(timed.wall_s, 2), "ratio_to_ideal": round(timed.wall_s / (ideal or bound), 3),
                   "maxrss_mb": round(timed.maxrss_mb, 1), "cpu_s": round(timed.cpu_s, 2), "vendor_calls": s["total"],
                   "vendor_peak_in_flight": s["peak"], "vendor_rejected_over_limit": s["rejected"], "note": note}
            result["runs"][name] = run
            say(f"  {name:<11} {run['wall_s']:8.2f} s  {run['ratio_to_ideal']:6.3f}x ideal  peak {s['peak']}/"
                f"{args.limit} in flight, {s['total']} calls, {s['rejected']} turned away, "
                f"{run['maxrss_mb']:.0f} MB, {run['cpu_s']:.1f} s CPU")

        key = "sk-bench-assetpipe"
        t = run_timed(ASSETPIPE + ["--catalog", str(cat), "build"], env_with(**{KEY_ENV: key})).check("assetpipe build")
        record("assetpipe", key, t, "assetpipe build (one async multi_asset, in-process)")

        if not args.skip_pool:
            pcat = catalog("pool", pool="spread")
            pool_bound, pool_sched = ideal_makespan(durations, parents, 2 * args.limit)
            result["pool_ideal_s"] = round(pool_bound, 3)
            result["pool_list_schedule_s"] = round(pool_sched, 3)
            ka, kb = "sk-bench-pool-a", "sk-bench-pool-b"
            t = run_timed(ASSETPIPE + ["--catalog", str(pcat), "build"],
                          env_with(**{KEY_ENV: ka, KEY_ENV_B: kb})).check("assetpipe build (pool)")
            record("pool", ka, t, "assetpipe build on a spread pool of two keys", ideal=pool_bound)
            sa, sb = key_stats(emu.stats(), ka), key_stats(emu.stats(), kb)
            result["runs"]["pool"].update(
                vendor_calls=sa["total"] + sb["total"], members={"a": sa, "b": sb},
                vendor_peak_in_flight=max(sa["peak"], sb["peak"]),
                vendor_rejected_over_limit=sa["rejected"] + sb["rejected"],
                speedup_over_one_key=round(result["runs"]["assetpipe"]["wall_s"] / t.wall_s, 2))
            say(f"  pool: ideal {pool_bound:.2f} s (half of {bound:.2f}); members a {sa}, b {sb}")

        if not args.skip_naive:
            ncat = catalog("naive")
            home = work / "naive_home"
            home.mkdir()
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            key = "sk-bench-naive"
            env = env_with(**{KEY_ENV: key}, DAGSTER_HOME=str(home), BENCH_CATALOG=str(ncat),
                           BENCH_NAIVE_OUT=str(work / "naive_out"))
            cmd = [PY, "-m", "dagster", "asset", "materialize", "-f", "bench/naive_defs.py", "--select", "*"]
            t = run_timed(cmd, env).check("dagster asset materialize")
            record("naive", key, t, "dagster asset materialize, @asset per variant, default multiprocess executor")

        if not args.skip_sequential:
            scat = catalog("sequential")
            key = "sk-bench-sequential"
            t = run_timed([PY, "-m", "bench.sequential", str(scat)], env_with(**{KEY_ENV: key})).check("sequential")
            record("sequential", key, t, "one call at a time, same provider code and store, no Dagster")

    runs = result["runs"]
    for name in ("naive", "sequential"):
        if name in runs:
            runs[name]["assetpipe_speedup"] = round(runs[name]["wall_s"] / runs["assetpipe"]["wall_s"], 2)
    path = save(args.out, result)
    say(f"results in {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
