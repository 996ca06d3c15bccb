"""The batch lane's cost against the sync lane, for the same build.

    python -m bench.batch_cost [--gens 40 --edits 10 --quality medium]

One Files + Batch emulator process (`tests.emulators.openai_batch`, a real HTTP server on
127.0.0.1 with a real clock) serves both builds, each with its own key: the catalog built through
the sync lane (`assetpipe build`), and the same catalog, in a fresh directory, through the batch
lane (`assetpipe build --lane batch --wait`: generations in one batch, the edits of them in a second
once they are collected). The emulator answers every image with gpt-image-2's published output
tokens in `usage`, so what each build's manifest says was billed is what OpenAI would bill. Results
go to bench/results/batch_cost.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from bench.catalogs import KEY_ENV, vendor_catalog
from bench.common import ASSETPIPE, WORK, EmulatorProcess, env_with, key_stats, machine, run_timed, save, say


def _billing(catalog) -> dict:
    doc = json.loads((catalog / "out" / "manifest.json").read_text())
    paid = [e for e in doc["variants"] if e.get("billed_usd") is not None]
    est = sum(e.get("estimate_usd") or 0 for e in paid)
    billed = sum(e["billed_usd"] for e in paid)
    return {"images": len(paid), "estimated_usd": round(est, 4), "billed_usd": round(billed, 4),
            "billed_over_estimate": round(billed / est, 3) if est else None,
            "lanes": sorted({e.get("lane") for e in paid})}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.batch_cost")
    ap.add_argument("--gens", type=int, default=40)
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--quality", default="medium")
    ap.add_argument("--size", default="1024x1536")
    args = ap.parse_args(argv)
    work = WORK / "batch_cost"
    if work.exists():
        shutil.rmtree(work)
    result: dict = {"machine": machine(), "params": vars(args), "runs": {}}
    with EmulatorProcess("openai_batch", latency=0.05, per_request_s=0.02, parallel=8, validate_s=0.2,
                         finalize_s=0.2) as emu:
        for lane in ("sync", "batch"):
            cat = vendor_catalog(work / lane, emu.base_url, gens=args.gens, edits=args.edits, size=args.size,
                                 quality=args.quality, options={"batch": True, "batch_poll_s": 0.2})
            key = f"sk-bench-{lane}"
            cmd = ASSETPIPE + ["--catalog", str(cat), "build"] + (["--lane", "batch", "--wait"] if lane == "batch" else [])
            t = run_timed(cmd, env_with(**{KEY_ENV: key})).check(f"assetpipe build ({lane} lane)")
            s = key_stats(emu.stats(), key)
            run = {"wall_s": round(t.wall_s, 2), "sync_calls": s["total"],
                   "batches": t.stdout.count("submitted batch batch_"), **_billing(cat)}
            result["runs"][lane] = run
            say(f"  {lane:<5} {run}")
    sync, batch = result["runs"]["sync"], result["runs"]["batch"]
    result["batch_over_sync"] = round(batch["billed_usd"] / sync["billed_usd"], 3)
    say(f"the batch lane billed {result['batch_over_sync']}x the sync lane; results in {save('batch_cost', result)}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
