"""The pool's scheduling alone, without Dagster or the store: how close one key and a spread pool
of two keys come to their ideals when their members are called directly.

    python -m bench.pool_probe [--calls 100 --latency 0.5 --limit 10]

One OpenAI emulator process; `calls` generations through a PoolProvider of one member (one key)
and then of two members (two keys), `limit` in flight per key. The ideal is calls x latency /
(limit x members). A third run, two keys at half the limit each, keeps as many calls in flight as
one key: the control that separates the pool's scheduling from a machine doing twice the work at
once. Results go to bench/results/pool_probe.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bench.common import EmulatorProcess, machine, save, say


async def _drive(base_url: str, members: int, calls: int, limit: int, tag: str) -> tuple[float, dict]:
    from pipelines.catalog.spec import ProviderEntry
    from pipelines.plan.pools import PoolProvider
    from providers.base import ImageRequest
    from providers.openai_compat import OpenAIProvider

    ms = [OpenAIProvider(f"m{i}", ProviderEntry(type="openai", base_url=base_url, api_key_env="K",
                                                 max_concurrency=limit), env={"K": f"sk-probe-{tag}-{i}"})
          for i in range(members)]
    pool = PoolProvider("pool", ProviderEntry(type="pool", members=[m.name for m in ms], strategy="spread"), ms,
                        lambda name, req: 0.01)
    reqs = [ImageRequest(cache_key=f"{tag}{i}", operation="generate", prompt=f"probe {tag} {i}", width=1024,
                         height=1024, quality="low") for i in range(calls)]
    t0 = time.monotonic()
    await asyncio.gather(*(pool.run(r) for r in reqs))
    wall = time.monotonic() - t0
    for m in ms:
        await m.aclose()
    return wall, dict(pool.peak)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.pool_probe")
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args(argv)
    result: dict = {"machine": machine(), "params": vars(args), "runs": {}}
    with EmulatorProcess("openai", latency=args.latency, limit=args.limit) as emu:
        # the control: two keys at half the limit keep as many calls in flight as one key, so any
        # difference from one key is the pool's scheduling, not a machine doing twice the work
        for label, members, limit in (("one_key", 1, args.limit), ("pool_of_two", 2, args.limit),
                                      ("pool_of_two_half_limit", 2, args.limit // 2)):
            wall, peak = asyncio.run(_drive(emu.base_url, members, args.calls, limit, label))
            ideal = args.calls * args.latency / (limit * members)
            result["runs"][label] = {"wall_s": round(wall, 3), "ideal_s": ideal, "ratio_to_ideal": round(wall / ideal, 3),
                                     "peak_in_flight": peak}
            say(f"  {label:<12} {wall:6.2f} s  ideal {ideal:.2f} s  {wall / ideal:.3f}x  peaks {peak}")
    say(f"results in {save('pool_probe', result)}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
