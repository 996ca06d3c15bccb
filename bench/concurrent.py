"""Target 4: two builds of one catalog started together share the vendor's limit and pay once.

    python -m bench.concurrent [--gens 160 --edits 40 --latency 2 --edit-latency 4 --limit 10]

Two `assetpipe build` processes of the same catalog (bench/catalogs.py `vendor`) start at the
same moment against one OpenAI emulator process, with one API key. Recorded: each one's wall time
and how many variants it built or reused, the vendor's peak in-flight count and call count for
that key (it must not exceed the limit, nor the number of variants), against the ideal of one
build. Results go to bench/results/concurrent.json. The same guarantees are tested, at small
latencies, in tests/integration/test_single_flight.py.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time

from bench.catalogs import KEY_ENV, vendor_catalog
from bench.common import (
    ASSETPIPE,
    WORK,
    EmulatorProcess,
    env_with,
    key_stats,
    machine,
    save,
    say,
)
from bench.throughput import catalog_jobs, ideal_makespan


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.concurrent")
    ap.add_argument("--gens", type=int, default=160)
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--edit-latency", type=float, default=4.0)
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args(argv)

    work = WORK / "concurrent"
    if work.exists():
        shutil.rmtree(work)
    result: dict = {"machine": machine(), "params": vars(args), "builds": []}
    key = "sk-bench-concurrent"
    with EmulatorProcess("openai", latency=args.latency, edit_latency=args.edit_latency, limit=args.limit) as emu:
        cat = vendor_catalog(work / "catalog", emu.base_url, gens=args.gens, edits=args.edits,
                             max_concurrency=args.limit)
        durations, parents = catalog_jobs(cat, args.latency, args.edit_latency)
        bound, _ = ideal_makespan(durations, parents, args.limit)
        result["ideal_s"] = bound
        env = env_with(**{KEY_ENV: key})
        t0 = time.perf_counter()
        procs = [subprocess.Popen(ASSETPIPE + ["--catalog", str(cat), "build"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        ends: list[float] = []
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=3600)
            ends.append(time.perf_counter() - t0)
            if p.returncode != 0:
                raise SystemExit(f"build {i} failed:\n{out[-2000:]}\n{err[-2000:]}")
            built = len(re.findall(r"^  built ", out, re.M))
            cached = len(re.findall(r"^  cached ", out, re.M))
            result["builds"].append({"wall_s": round(ends[-1], 2), "built": built, "reused": cached})
            say(f"  build {i}: {ends[-1]:.2f} s, built {built}, reused {cached} from the other")
        s = key_stats(emu.stats(), key)
    result.update({"variants": len(durations), "vendor_calls": s["total"], "vendor_peak_in_flight": s["peak"],
                   "vendor_rejected_over_limit": s["rejected"], "both_done_s": round(max(ends), 2),
                   "ratio_to_ideal_of_one_build": round(max(ends) / bound, 3)})
    say(f"{len(durations)} variants, {s['total']} vendor calls, peak {s['peak']}/{args.limit} in flight, "
        f"{s['rejected']} turned away; both done in {max(ends):.2f} s = {max(ends) / bound:.3f}x the ideal of one")
    path = save("concurrent", result)
    say(f"results in {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
