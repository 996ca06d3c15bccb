"""The names assetpipe gives things in Dagster: asset keys, the build job, tags, schedules.

One small module that every other Dagster module imports, so none of them imports another for a
name (the asset factory, the schedules and the CLI's run all agree on keys without a cycle).
"""

from __future__ import annotations

import dagster as dg

from pipelines.catalog.variant import Variant

BUILD_JOB = "assetpipe_build"
MULTI_ASSET = "assetpipe_variants"
REFRESH_TAG = "assetpipe/refresh"
RETRY_TAG = "assetpipe/retry_maybe_billed"  # re-send variants held as maybe billed
SOURCE_TAG = "assetpipe/source"
CAMPAIGN_TAG = "assetpipe/campaign"
ESTIMATE_TAG = "assetpipe/estimated_cost_usd"


def variant_key(v: Variant) -> dg.AssetKey:
    """[campaign, asset] or [campaign, asset, "<asset>_<matrix values>"]: the graph labels a node
    with the last part of its key only, so that part names the whole variant
    ("launch_poster_de_1024x1536", not a bare "1024x1536" beside five others)."""
    if not v.values:
        return dg.AssetKey([v.campaign, v.asset])
    values = [str(x) for x in v.values.values()]
    sep = "__" if any("_" in x for x in values) else "_"  # keeps the name unambiguous
    return dg.AssetKey([v.campaign, v.asset, sep.join([v.asset, *values])])


def schedule_name(campaign: str) -> str:
    return f"{campaign}_schedule"
