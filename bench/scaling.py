"""Target 3: how plan time and build overhead grow with the catalog (200 / 2,000 / 10,000).

    python -m bench.scaling [--sizes 200 2000 10000] [--repeat 3]

For each size, a draft catalog (bench/catalogs.py; tiny images, an instant provider, so what is
measured is assetpipe and Dagster, not a vendor):

  plan_cold     `assetpipe plan` before anything is built (every variant missing)
  full_build    `assetpipe build` of every variant: wall time, per variant, peak memory
  plan          `assetpipe plan` of the built catalog
  noop_build    `assetpipe build` with nothing to do
  defs_load     `python -c "import pipelines.definitions"`

Per-variant costs at each size show whether growth is linear (constant per variant) or worse.
Results go to bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from bench.catalogs import draft_catalog
from bench.common import ASSETPIPE, WORK, env_with, machine, run_timed, save, say
from bench.noop import full_build, time_commands


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.scaling")
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    result: dict = {"machine": machine(), "params": vars(args), "sizes": {}}
    for n in args.sizes:
        cat = WORK / "scaling" / f"draft{n}"
        if cat.exists():
            shutil.rmtree(cat)
        draft_catalog(cat, n)
        row: dict = {}
        cold = [run_timed(ASSETPIPE + ["--catalog", str(cat), "plan"], env_with()).check("plan") for _ in range(2)]
        row["plan_cold_s"] = round(min(t.wall_s for t in cold[1:]), 3)  # the first one also hashes refs
        say(f"{n} variants: building ...")
        row["full_build"] = full_build(cat)
        row["full_build"]["per_variant_ms"] = round(1000 * row["full_build"]["wall_s"] / n, 1)
        timings = time_commands(cat, args.repeat, ["plan", "noop_build", "defs_load"])
        row.update(timings)
        result["sizes"][str(n)] = row
        say(f"  plan (missing) {row['plan_cold_s']:.3f} s | build {row['full_build']['wall_s']:.1f} s "
            f"({row['full_build']['per_variant_ms']} ms/variant, {row['full_build']['maxrss_mb']:.0f} MB) | "
            f"plan {timings['plan']['median_s']:.3f} s | no-op build {timings['noop_build']['median_s']:.3f} s | "
            f"defs {timings['defs_load']['median_s']:.3f} s")
        save("scaling", result)  # after each size: a long run is never lost
    path = save("scaling", result)
    say(f"results in {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
