"""Issue 12: what a catalog of 1,000 / 10,000 / 100,000 variants costs, from the command line and
in the Dagster UI.

    python -m bench.scaling [--sizes 1000 10000 100000] [--repeat 3] [--build-max 100000] [--no-ui]

For each size, a draft catalog (bench/catalogs.py: 1,000 variants a campaign, tiny images, the
offline draft provider, so what is measured is assetpipe and Dagster, not a vendor):

  validate_cold   `assetpipe validate` of a new catalog (expands every template)
  validate        `assetpipe validate` again (the expansion is remembered)
  plan_cold       `assetpipe plan` before anything is built
  full_build      `assetpipe build` of every variant: wall, per variant, peak RSS
  cache_hit_build `assetpipe build` on a fresh out/ and Dagster instance with the store warm (a new
                  machine restoring from a shared cache): every variant a cache hit
  plan, noop_build, defs_load   of the built catalog (`--repeat` times, interleaved), with
                  `import dagster` timed alongside as the same-run baseline
  ui              `assetpipe ui` on the built catalog (bench/ui_timing.py); `ui_baseline` is the
                  same on a 100-variant catalog, measured right before it

Sizes above --build-max are not built (only validate and plan_cold, defs load of the unbuilt
catalog). Results go to bench/results/scaling.json after each size.
"""

from __future__ import annotations

import argparse
import shutil
import time

from bench import ui_timing
from bench.catalogs import draft_catalog
from bench.common import ASSETPIPE, PY, WORK, env_with, machine, median, run_timed, save, say

TARGETS_100K = {"plan": 3.0, "noop_build": 3.0, "defs_load": 10.0, "validate": 3.0, "serving_s": 15.0,
                "lineage_s": 10.0, "global_lineage_s": 10.0, "graphql_warm_s": 3.0, "per_variant_ms": 5.0,
                "maxrss_mb": 400.0}


def _once(cat, *args: str, what: str) -> dict:
    t = run_timed(ASSETPIPE + ["--catalog", str(cat), *args], env_with()).check(what)
    return {"wall_s": round(t.wall_s, 2), "maxrss_mb": round(t.maxrss_mb, 1), "stdout_tail": t.stdout[-300:]}


def _repeat(cat, repeat: int, built: bool) -> dict:
    cmds = {"import_dagster": [PY, "-c", "import dagster"],
            "validate": ASSETPIPE + ["--catalog", str(cat), "validate"],
            "plan": ASSETPIPE + ["--catalog", str(cat), "plan"],
            "defs_load": [PY, "-c", "import pipelines.definitions"]}
    if built:
        cmds["noop_build"] = ASSETPIPE + ["--catalog", str(cat), "build"]
    walls: dict[str, list[float]] = {n: [] for n in cmds}
    rss: dict[str, float] = {n: 0.0 for n in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            env = env_with(ASSETPIPE_CATALOG=str(cat)) if name == "defs_load" else env_with()
            t = run_timed(cmd, env).check(name)
            if name == "noop_build" and "nothing to do" not in t.stdout:
                raise SystemExit(f"the catalog is not fully built:\n{t.stdout[-2000:]}")
            walls[name].append(t.wall_s)
            rss[name] = max(rss[name], t.maxrss_mb)
    return {n: {"median_s": round(median(w), 3), "min_s": round(min(w), 3), "maxrss_mb": round(rss[n], 1)}
            for n, w in walls.items()}


def _cache_hit_build(cat) -> dict:
    """A fresh machine on a warm shared store: no outputs, no Dagster history, no heads."""
    for rel in ("out", ".assetpipe/dagster", ".assetpipe/cache/heads"):
        shutil.rmtree(cat / rel, ignore_errors=True)
    row = _once(cat, "build", what="cache-hit build")
    if "reused" not in row["stdout_tail"]:
        raise SystemExit(f"expected cache hits:\n{row['stdout_tail']}")
    return row


def measure(n: int, repeat: int, build: bool, ui: bool, row: dict, saved) -> dict:
    """Fills `row`, calling `saved()` after each phase (a long run that fails late keeps the rest)."""
    cat = WORK / "scaling" / f"draft{n}"
    shutil.rmtree(cat, ignore_errors=True)
    draft_catalog(cat, n, per_campaign=min(n, 1000))
    row.update({"validate_cold": _once(cat, "validate", what="validate"),
                "plan_cold": _once(cat, "plan", what="plan")})
    saved()
    if not build:
        row["timings_unbuilt"] = _repeat(cat, repeat, built=False)
        return row
    say(f"{n} variants: full build ...")
    row["full_build"] = _once(cat, "build", what="full build")
    saved()
    say(f"{n} variants: cache-hit build ...")
    row["cache_hit_build"] = _cache_hit_build(cat)
    for k in ("full_build", "cache_hit_build"):
        row[k]["per_variant_ms"] = round(1000 * row[k]["wall_s"] / n, 2)
    saved()
    row["timings"] = _repeat(cat, repeat, built=True)
    saved()
    if ui:
        base = WORK / "scaling" / "draft100"
        shutil.rmtree(base, ignore_errors=True)
        draft_catalog(base, 100)
        _once(base, "build", what="baseline build")
        row["ui_baseline"] = ui_timing.measure(base, "camp_0000")
        row["ui"] = ui_timing.measure(cat, "camp_0000")
    return row


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.scaling")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build-max", type=int, default=100000)
    ap.add_argument("--no-ui", action="store_true")
    args = ap.parse_args(argv)
    result: dict = {"machine": machine(), "params": vars(args), "targets_at_100k": TARGETS_100K, "sizes": {}}
    for n in args.sizes:
        t0 = time.monotonic()
        row = result["sizes"][str(n)] = {}
        measure(n, args.repeat, n <= args.build_max, not args.no_ui, row, lambda: save("scaling", result))
        row["bench_wall_s"] = round(time.monotonic() - t0, 1)
        say(f"{n}: " + ", ".join(f"{k} {v}" for k, v in _summary(row).items()))
        save("scaling", result)  # after each size: a long run is never lost
    return result


def _summary(row: dict) -> dict:
    out = {"validate_cold_s": row["validate_cold"]["wall_s"], "plan_cold_s": row["plan_cold"]["wall_s"]}
    for k in ("full_build", "cache_hit_build"):
        if k in row:
            out[f"{k}_ms_per_variant"] = row[k]["per_variant_ms"]
            out[f"{k}_rss_mb"] = row[k]["maxrss_mb"]
    for name, t in (row.get("timings") or row.get("timings_unbuilt") or {}).items():
        out[f"{name}_s"] = t["median_s"]
    out.update({f"ui_{k}": v for k, v in (row.get("ui") or {}).items()})
    return out


if __name__ == "__main__":
    main()
