"""The names assetpipe gives things in Dagster: asset keys, partitions, jobs, tags, schedules.

A catalog asset (`brewlab_launch/launch_poster`) is one Dagster asset, keyed `[campaign, asset]`;
each of its variants is a partition of it, named by the variant id (`de/1024x1536`, or `default`
for an asset without a matrix), so the CLI's variant key `brewlab_launch/launch_poster/de/1024x1536`
is the asset key and the partition key joined by `/`.

One small module that every other Dagster module imports, so none of them imports another for a
name (the asset factory, the schedules and the CLI's run all agree on keys without a cycle).
"""

from __future__ import annotations

import dagster as dg

from pipelines.catalog.variant import Variant

LOCATION = "assetpipe"  # the code location, under `assetpipe ui` and in workspace.yaml alike
MULTI_ASSET = "assetpipe_variants"
ASSET_JOB = "__ASSET_JOB"  # Dagster's implicit job of every asset: the CLI's runs and UI launches
BUILD_JOB = "assetpipe_build"  # the code location's job of every step (`dagster job execute -j`, celery workers)
REFRESH_TAG = "assetpipe/refresh"
RETRY_TAG = "assetpipe/retry_maybe_billed"  # re-send variants held as maybe billed
SELECT_TAG = "assetpipe/select"  # a run of selection terms: the body plans them at run time
SOURCE_TAG = "assetpipe/source"
CAMPAIGN_TAG = "assetpipe/campaign"
ESTIMATE_TAG = "assetpipe/estimated_cost_usd"


def asset_key(v: Variant) -> dg.AssetKey:
    """The Dagster asset of a variant: its catalog asset, `[campaign, asset]`."""
    return dg.AssetKey([v.campaign, v.asset])


def asset_key_of(asset_id: str) -> dg.AssetKey:
    """`campaign/asset` -> its asset key."""
    campaign, asset = asset_id.split("/", 1)
    return dg.AssetKey([campaign, asset])


def partition_key(v: Variant) -> str:
    """The variant's partition of its asset: the variant id (`de/1024x1536`, `default`)."""
    return v.vid


def variant_of(key: dg.AssetKey, partition: str) -> str:
    """An asset key and a partition -> the CLI's variant key."""
    return "/".join([*key.path, partition])


def job_name(campaign: str) -> str:
    """A campaign's own job: its assets and their upstreams (what its schedule can build)."""
    return f"{campaign}_build"


def schedule_name(campaign: str) -> str:
    return f"{campaign}_schedule"
