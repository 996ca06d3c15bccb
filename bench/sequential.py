"""Baseline (b) of bench/throughput.py: a sequential loop over the catalog, for comparison only.

    python -m bench.sequential CATALOG

The same provider code and store as `assetpipe build` (keys, verification, blobs, action
records), one call at a time in dependency order, no Dagster.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone

from pipelines.plan.project import Project
from pipelines.plan.requests import image_request


async def build_sequentially(project: Project) -> int:
    planner = project.planner()
    plan = project.plan()
    done = dict(plan.by_key)
    calls = 0
    try:
        for planned in plan.items:  # dependency order
            v = planned.variant
            p = planner.plan_one(v, done)  # upstream outputs exist now: the final key
            if p.record is None:
                result = await project.pool.get(v.provider).run(image_request(p, project.store))
                calls += 1
                blob = project.store.put_blob(result.data)
                project.store.put_action(p.cache_key, {
                    "cache_key": p.cache_key, "blob": blob, "bytes": len(result.data), "width": v.width,
                    "height": v.height, "format": v.output_format, "variant": v.key, "doc": p.doc,
                    "provider": result.provider, "model": result.model, "request_id": result.request_id,
                    "cost_usd": result.cost_usd, "latency_s": round(result.latency_s, 3),
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
                p = planner.plan_one(v, done)
            done[v.key] = p
    finally:
        await project.pool.aclose()
    return calls


def main(argv: list[str]) -> None:
    project = Project.load(argv[0])
    calls = asyncio.run(build_sequentially(project))
    print(f"sequential: {calls} calls")


if __name__ == "__main__":
    main(sys.argv[1:])
