"""Baseline (a) of bench/throughput.py: the naive Dagster design, for comparison only.

One @asset per variant, each calling the vendor synchronously (httpx, the OpenAI Images API) and
writing its image to a file, edits reading their upstream's file. Run by plain
`dagster asset materialize -f bench/naive_defs.py --select '*'`, i.e. the default multiprocess
executor: every step is a fresh process that imports this file again.

The catalog comes from $BENCH_CATALOG (expanded by assetpipe, so the requests are the same ones
`assetpipe build` sends); outputs go to $BENCH_NAIVE_OUT.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import dagster as dg
import httpx

from pipelines.plan.project import Project

CATALOG = Path(os.environ["BENCH_CATALOG"])
OUT = Path(os.environ["BENCH_NAIVE_OUT"])


def _asset(v, base_url: str, key_env: str, by_key: dict):
    upstream = [by_key[k] for k in v.upstream_keys]

    @dg.asset(key=dg.AssetKey(["naive", *v.key_path]), deps=[dg.AssetKey(["naive", *u.key_path]) for u in upstream],
              group_name=v.campaign)
    def _variant():
        headers = {"Authorization": f"Bearer {os.environ[key_env]}"}
        fields = {"model": "gpt-image-2", "prompt": v.prompt, "size": v.params["size"],
                  "quality": v.params.get("quality") or "auto", "output_format": v.output_format}
        if v.operation == "edit":
            src = OUT / f"{upstream[0].key.replace('/', '__')}.png"
            r = httpx.post(f"{base_url}/images/edits", headers=headers, data=fields,
                           files={"image": (src.name, src.read_bytes(), "image/png")}, timeout=600)
        else:
            r = httpx.post(f"{base_url}/images/generations", headers=headers, json=fields, timeout=600)
        r.raise_for_status()
        data = base64.b64decode(r.json()["data"][0]["b64_json"])
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{v.key.replace('/', '__')}.png").write_bytes(data)
        return dg.MaterializeResult(metadata={"bytes": len(data)})

    return _variant


def _definitions() -> dg.Definitions:
    project = Project.load(CATALOG)
    conf = project.catalog.settings.providers["openai"]
    by_key = {v.key: v for v in project.variants}
    return dg.Definitions(assets=[_asset(v, conf.base_url, conf.api_key_env, by_key) for v in project.variants])


defs = _definitions()
