"""Reference images (`refs/...` inputs of edits) as Dagster observable source assets.

A ref's data version is the sha256 of the file. Dagster records the data version of every input
in a materialization's provenance and shows a dependant stale once its input's version moves on,
so the UI learns that a ref changed from an observation. Two things record one: the source's own
observe function (the UI's "Observe" button) and `assetpipe build`, which calls `observe_refs`
before its run so that run's provenance names the hashes it built from.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import (
        DATA_VERSION_IS_USER_PROVIDED_TAG,
        DATA_VERSION_TAG,
        extract_data_version_from_entry,
    )

from pipelines.plan.project import Project

GROUP = "refs"


def ref_key(ref: str) -> dg.AssetKey:
    parts = Path(ref).parts
    return dg.AssetKey(["refs", *(parts[1:] if parts[0] == "refs" else parts)])


def ref_files(project: Project) -> dict[str, Path]:
    """Catalog-relative ref path -> file, for every ref some variant reads."""
    refs = {i.ref: i.path for v in project.variants for i in v.inputs if i.kind == "file"}
    return dict(sorted(refs.items()))


def ref_sources(project: Project) -> list:
    with warnings.catch_warnings():  # observable_source_asset is "beta" in 1.13; it is what we need
        warnings.simplefilter("ignore", dg.BetaWarning)
        return [_observable(project, ref, path) for ref, path in ref_files(project).items()]


def _observable(project: Project, ref: str, path: Path):
    kind = path.suffix.lstrip(".").lower() or "file"

    @dg.observable_source_asset(key=ref_key(ref), group_name=GROUP, tags={f"dagster/kind/{kind}": ""},
                                description=f"Reference image `{ref}`; its data version is the file's sha256",
                                metadata={"path": dg.MetadataValue.path(ref)})
    def _observe():
        return dg.DataVersion(project.hasher.digest(path))

    return _observe


def observe_refs(project: Project, instance) -> list[str]:
    """Record an observation of each ref whose hash differs from the last one recorded; returns
    those refs. Runless: it needs no code location, so the CLI can do it before its own run."""
    changed = []
    for ref, path in ref_files(project).items():
        key = ref_key(ref)
        digest = project.hasher.digest(path)
        last = instance.fetch_observations(key, limit=1).records
        seen = extract_data_version_from_entry(last[0].event_log_entry) if last else None
        if seen is not None and seen.value == digest:
            continue
        instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=key, description="recorded by assetpipe build",
            tags={DATA_VERSION_TAG: digest, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"},
        ))
        changed.append(ref)
    project.hasher.save()
    return changed
