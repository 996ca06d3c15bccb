"""Target 2: nothing to do costs almost nothing.

    python -m bench.noop [--variants 2000] [--repeat 5]

Builds a draft catalog of `--variants` variants once with `assetpipe build` (its wall time and
peak memory are recorded), then times, `--repeat` times each, as separate processes:

  plan          `assetpipe plan` of the fully built catalog
  noop_build    `assetpipe build` with nothing to do
  defs_load     `python -c "import pipelines.definitions"` with $ASSETPIPE_CATALOG (what the
                webserver's code server and every UI-launched run do first)

and, in the same run, the baselines they are compared with: a bare interpreter, the CLI's imports
(`import pipelines.cli.main`), and `import dagster`. Results go to bench/results/noop.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench.catalogs import draft_catalog
from bench.common import (
    ASSETPIPE,
    PY,
    WORK,
    env_with,
    machine,
    median,
    run_timed,
    save,
    say,
)

TARGETS_S = {"plan": 1.5, "noop_build": 3.0, "defs_load": 3.0}
TARGET_BUILD_RSS_MB = 600


def commands(catalog: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    return {
        "python": ([PY, "-c", "pass"], env_with()),
        "import_cli": ([PY, "-c", "import pipelines.cli.main"], env_with()),
        "import_dagster": ([PY, "-c", "import dagster"], env_with()),
        "plan": (ASSETPIPE + ["--catalog", str(catalog), "plan"], env_with()),
        "noop_build": (ASSETPIPE + ["--catalog", str(catalog), "build"], env_with()),
        "defs_load": ([PY, "-c", "import pipelines.definitions"], env_with(ASSETPIPE_CATALOG=str(catalog))),
    }


def time_commands(catalog: Path, repeat: int, names: list[str] | None = None) -> dict[str, dict]:
    """Each command `repeat` times, interleaved (so a burst of load hits all of them alike)."""
    cmds = commands(catalog)
    names = names or list(cmds)
    walls: dict[str, list[float]] = {n: [] for n in names}
    rss: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeat):
        for n in names:
            cmd, env = cmds[n]
            t = run_timed(cmd, env).check(n)
            if n == "noop_build" and "nothing to do" not in t.stdout:
                raise SystemExit(f"the catalog is not fully built:\n{t.stdout[-2000:]}")
            walls[n].append(t.wall_s)
            rss[n].append(t.maxrss_mb)
    return {n: {"median_s": round(median(walls[n]), 3), "min_s": round(min(walls[n]), 3),
                "max_s": round(max(walls[n]), 3), "maxrss_mb": round(max(rss[n]), 1)} for n in names}


def full_build(catalog: Path) -> dict:
    t = run_timed(ASSETPIPE + ["--catalog", str(catalog), "build"], env_with()).check("full build")
    return {"wall_s": round(t.wall_s, 2), "maxrss_mb": round(t.maxrss_mb, 1)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.noop")
    ap.add_argument("--variants", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    cat = WORK / "noop" / f"draft{args.variants}"
    if cat.exists():
        shutil.rmtree(cat)
    draft_catalog(cat, args.variants)
    result: dict = {"machine": machine(), "params": vars(args)}
    say(f"building {args.variants} draft variants ...")
    result["full_build"] = full_build(cat)
    say(f"  full build {result['full_build']['wall_s']} s, peak {result['full_build']['maxrss_mb']} MB "
        f"(target < {TARGET_BUILD_RSS_MB} MB)")
    timings = time_commands(cat, args.repeat)
    result["timings"] = timings
    base = timings["import_dagster"]["median_s"]
    for name, row in timings.items():
        target = TARGETS_S.get(name)
        if target:
            row["target_s"] = target
            row["ratio_to_target"] = round(row["median_s"] / target, 3)
        row["ratio_to_import_dagster"] = round(row["median_s"] / base, 2)
        say(f"  {name:<15} median {row['median_s']:6.3f} s (min {row['min_s']:.3f}, max {row['max_s']:.3f})"
            f"  {row['maxrss_mb']:6.1f} MB" + (f"  target {target} s" if target else ""))
    path = save("noop", result)
    say(f"results in {path}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
