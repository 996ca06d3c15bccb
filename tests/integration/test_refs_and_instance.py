"""Reference images as observable sources, and the catalog's own Dagster instance config."""

from __future__ import annotations

import hashlib
import warnings

import dagster as dg
import pytest

from pipelines.orchestration.instance import DAGSTER_YAML, ensure_home
from pipelines.orchestration.refs import observe_refs, ref_key, ref_sources
from pipelines.plan.project import Project
from tests.helpers.catalogs import copy_example


@pytest.fixture
def project(tmp_path):
    return Project.load(copy_example(tmp_path / "catalog"))


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _last_version(instance, key: dg.AssetKey) -> str | None:
    record = instance.get_latest_data_version_record(key, is_source=True)
    return record.asset_observation.tags["dagster/data_version"] if record else None


def test_ref_keys():
    assert ref_key("refs/product.png") == dg.AssetKey(["refs", "product.png"])
    assert ref_key("refs/masks/bg.png") == dg.AssetKey(["refs", "masks", "bg.png"])
    assert ref_key("photos/bottle.png") == dg.AssetKey(["refs", "photos", "bottle.png"])


def test_the_observe_button_reports_the_file_hash(project):
    # what the UI's "Observe" runs: the source's own function
    instance = dg.DagsterInstance.ephemeral()
    from dagster._core.definitions.observe import (
        observe,  # runs source assets' observe functions
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = observe(ref_sources(project), instance=instance)
    assert result.success
    product = project.catalog.root / "refs" / "product.png"
    assert _last_version(instance, ref_key("refs/product.png")) == _sha(product)


def test_a_build_records_an_observation_only_when_a_ref_changed(project):
    instance = dg.DagsterInstance.ephemeral()
    assert observe_refs(project, instance) == ["refs/bg_mask.png", "refs/product.png"]  # never observed
    assert observe_refs(project, instance) == []  # same hashes: nothing new in the event log
    product = project.catalog.root / "refs" / "product.png"
    product.write_bytes(product.read_bytes() + b"\0")
    assert observe_refs(project, instance) == ["refs/product.png"]
    assert _last_version(instance, ref_key("refs/product.png")) == _sha(product)
    assert len(instance.fetch_observations(ref_key("refs/product.png"), limit=10).records) == 2


def test_the_instance_config_is_ours_until_a_user_takes_it_over(project, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # ensure_home sets it; restored after the test
    home = ensure_home(project.catalog)
    cfg = home / "dagster.yaml"
    assert cfg.read_text() == DAGSTER_YAML and "nux:\n  enabled: false" in DAGSTER_YAML
    cfg.write_text("# Written by assetpipe. an older default\ntelemetry:\n  enabled: false\n")
    ensure_home(project.catalog)
    assert cfg.read_text() == DAGSTER_YAML  # ours, outdated: brought up to date
    cfg.write_text("telemetry:\n  enabled: true\n")  # the marker line removed: the user's now
    ensure_home(project.catalog)
    assert cfg.read_text() == "telemetry:\n  enabled: true\n"
    cfg.write_text(DAGSTER_YAML)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # Dagster accepts ours as written
        assert instance.run_storage is not None and not instance.telemetry_enabled
