"""Markdown tables from bench/results/*.json, for bench/README.md.

    python -m bench.report
"""

from __future__ import annotations

import json

from bench.common import RESULTS


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine_lines(results: dict[str, dict]) -> list[str]:
    out = []
    for name, r in results.items():
        m = r["machine"]
        out.append(f"- `{name}`: {m['date']}, git {m['git']}, load average at start {m['loadavg_at_start']}")
    first = next(iter(results.values()))["machine"]
    return [f"Machine: `{first['uname']}`, nproc {first['nproc']}, Python {first['python']}.", "", *out]


def throughput(r: dict) -> list[str]:
    p = r["params"]
    cpu = all("cpu_s" in run for run in r["runs"].values())
    out = [f"{p['gens']} generations at {p['latency']} s + {p['edits']} edits at {p['edit_latency']} s, limit "
           f"{p['limit']} in flight per key. Ideal (limit and dependency chains): **{r['ideal_s']:.2f} s** "
           f"(a critical-path-first list schedule reaches {r['list_schedule_s']:.2f} s).", "",
           "| contender | wall s | x ideal | speedup of assetpipe | vendor calls | peak in flight | turned away | peak RSS MB |"
           + (" CPU s |" if cpu else ""),
           "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if cpu else "")]
    if "pool_ideal_s" in r:
        out[0] += (f" The spread pool of two keys (limit {p['limit']} each) has its own ideal, "
                   f"**{r['pool_ideal_s']:.2f} s** (half the single key's); its row is against that.")
    for name, run in r["runs"].items():
        speed = f"{run['assetpipe_speedup']:.1f}x" if "assetpipe_speedup" in run else "-"
        out.append(f"| {name} | {run['wall_s']:.1f} | {run['ratio_to_ideal']:.3f} | {speed} | {run['vendor_calls']} | "
                   f"{run['vendor_peak_in_flight']} | {run['vendor_rejected_over_limit']} | {run['maxrss_mb']:.0f} |"
                   + (f" {run['cpu_s']:.1f} |" if cpu else ""))
    return out


def batch_cost(r: dict) -> list[str]:
    p = r["params"]
    out = [f"{p['gens']} generations + {p['edits']} edits of them, {p['size']} {p['quality']}, the same catalog "
           "built once in each lane against the Files + Batch emulator (gpt-image-2's published output tokens in "
           "`usage`):", "",
           "| lane | wall s | estimated $ | billed $ | billed / estimate | vendor batches | sync calls |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name, run in r["runs"].items():
        out.append(f"| {name} | {run['wall_s']:.1f} | {run['estimated_usd']:.4f} | {run['billed_usd']:.4f} | "
                   f"{run['billed_over_estimate']} | {run['batches']} | {run['sync_calls']} |")
    out += ["", f"The batch lane billed **{r['batch_over_sync']:.3f}x** the sync lane for the same images."]
    return out


def concurrent(r: dict) -> list[str]:
    out = ["| build | wall s | built | reused from the other |", "|---|---:|---:|---:|"]
    for i, b in enumerate(r["builds"]):
        out.append(f"| {i + 1} | {b['wall_s']:.1f} | {b['built']} | {b['reused']} |")
    out += ["", f"{r['variants']} variants; vendor calls for the shared key: **{r['vendor_calls']}**; peak in flight "
                f"**{r['vendor_peak_in_flight']}** of {r['params']['limit']}; turned away "
                f"{r['vendor_rejected_over_limit']}; both done in {r['both_done_s']:.1f} s = "
                f"{r['ratio_to_ideal_of_one_build']:.3f}x the ideal of one build ({r['ideal_s']:.0f} s)."]
    return out


def noop(r: dict) -> list[str]:
    fb = r["full_build"]
    out = [f"{r['params']['variants']} variants, fully built first (that build: {fb['wall_s']:.1f} s, peak RSS "
           f"**{fb['maxrss_mb']:.0f} MB**, target < 600 MB). Each command {r['params']['repeat']} times, interleaved:",
           "", "| command | median s | min-max s | target s | median / target | / `import dagster` | peak RSS MB |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in r["timings"].items():
        tgt = f"{row['target_s']}" if "target_s" in row else "-"
        ratio = f"**{row['ratio_to_target']:.2f}**" if "ratio_to_target" in row else "-"
        out.append(f"| {name} | {row['median_s']:.3f} | {row['min_s']:.2f}-{row['max_s']:.2f} | {tgt} | {ratio} | "
                   f"{row['ratio_to_import_dagster']:.2f} | {row['maxrss_mb']:.0f} |")
    return out


def scaling(r: dict) -> list[str]:
    out = ["| variants | validate new / again s | plan new s | full build ms/variant, RSS MB | cache-hit build "
           "ms/variant, RSS MB | plan s | no-op build s | defs load s | import dagster s (baseline) |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, row in r["sizes"].items():
        t = row.get("timings") or row.get("timings_unbuilt") or {}

        def cell(name: str) -> str:
            return f"{t[name]['median_s']:.2f}" if name in t else "-"

        def build(k: str) -> str:
            b = row.get(k)
            return f"{b['per_variant_ms']:.1f}, {b['maxrss_mb']:.0f}" if b else "not run"

        out.append(f"| {int(n):,} | {row['validate_cold']['wall_s']:.1f} / {cell('validate')} | "
                   f"{row['plan_cold']['wall_s']:.1f} | {build('full_build')} | {build('cache_hit_build')} | "
                   f"{cell('plan')} | {cell('noop_build')} | {cell('defs_load')} | {cell('import_dagster')} |")
    ui = {n: row for n, row in r["sizes"].items() if "ui" in row}
    if ui:
        out += ["", "| variants (Dagster assets) | serving s | GraphQL all+latest cold / warm s | asset list s | "
                "campaign lineage s | global lineage s |", "|---:|---:|---:|---:|---:|---:|"]
        for n, row in ui.items():
            for label, u in ((f"{int(n):,}", row["ui"]), ("100 (baseline, same run)", row["ui_baseline"])):
                out.append(f"| {label} ({u['dagster_assets']}) | {u['serving_s']} | {u['graphql_cold_s']} / "
                           f"{u['graphql_warm_s']} | {u['asset_list_s']} | {u['lineage_s']} | {u['global_lineage_s']} |")
    return out


def main() -> None:
    names = ("throughput", "throughput_pool", "batch_cost", "concurrent", "noop", "scaling")
    results = {n: r for n in names if (r := _load(n)) is not None}
    print("\n".join(machine_lines(results)))
    for name, fn in (("throughput", throughput), ("throughput_pool", throughput), ("batch_cost", batch_cost),
                     ("concurrent", concurrent), ("noop", noop), ("scaling", scaling)):
        if name in results:
            print(f"\n### {name}\n")
            print("\n".join(fn(results[name])))


if __name__ == "__main__":
    main()
