"""A campaign's `schedule:` as a Dagster schedule: a tick asks for a run of its campaign's assets
that builds exactly the missing or changed variants, skips (saying why) when all are fresh, and
skips rather than build from a stale reading of the catalog after a spec edit until the code
location is reloaded. Its job holds its campaign's assets (and their upstreams) only, so the UI
lists the schedule on those alone."""

from __future__ import annotations

import warnings

import dagster as dg
import pytest

from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.keys import CAMPAIGN_TAG, ESTIMATE_TAG, asset_key, job_name, schedule_name
from pipelines.plan.project import Project
from tests.helpers.catalogs import copy_example

BREWLAB = "brewlab_launch"


def _defs(catalog) -> tuple[dg.Definitions, Project]:
    project = Project.load(catalog)  # what a code location does when it (re)loads
    return build_definitions(project), project


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance):
    with dg.build_schedule_context(instance=instance) as ctx:
        return defs.get_schedule_def(schedule_name(BREWLAB)).evaluate_tick(ctx)


def _run(defs: dg.Definitions, request: dg.RunRequest, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """What the daemon does with a tick's request: a run of the campaign's job on its asset selection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return defs.resolve_job_def(job_name(BREWLAB)).execute_in_process(
            instance=instance, asset_selection=request.asset_selection, tags=request.tags, raise_on_error=False)


def _assets(project: Project, campaign: str | None = None, assets: tuple[str, ...] = ()) -> set[dg.AssetKey]:
    return {asset_key(v) for v in project.variants
            if (campaign is None or v.campaign == campaign) and (not assets or v.asset in assets)}


def _variants(project: Project, campaign: str | None = None, assets: tuple[str, ...] = ()) -> set[tuple]:
    return {(asset_key(v), v.vid) for v in project.variants
            if (campaign is None or v.campaign == campaign) and (not assets or v.asset in assets)}


def _built(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> set[tuple]:
    """The run's materializations as the instance holds them (the body writes them to the event
    log in batches, not through the step's own event stream)."""
    records = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                           limit=100_000).records
    return {(r.asset_key, r.partition_key) for r in records}


@pytest.fixture
def catalog(tmp_path):
    return copy_example(tmp_path / "catalog")


def test_only_campaigns_with_a_schedule_get_one_and_it_targets_only_that_campaign(catalog):
    defs, project = _defs(catalog)
    schedules = list(defs.schedules)
    assert [s.name for s in schedules] == [schedule_name(BREWLAB)]  # cold_brew_summer has no schedule:
    assert schedules[0].cron_schedule == "0 6 * * 1" and schedules[0].job_name == job_name(BREWLAB)
    assert schedules[0].default_status == dg.DefaultScheduleStatus.RUNNING  # `schedule:` is the switch
    # the UI lists a schedule on the assets of the job it targets: this campaign's, nobody else's
    from dagster._core.remote_representation.external_data import RepositorySnap

    snap = RepositorySnap.from_def(defs.get_repository_def())
    in_job = {n.asset_key for n in snap.asset_nodes if job_name(BREWLAB) in n.job_names}
    assert in_job == _assets(project, BREWLAB)


def test_a_tick_builds_only_what_is_missing_then_skips(catalog):
    defs, project = _defs(catalog)
    instance = dg.DagsterInstance.ephemeral()

    tick = _tick(defs, instance)
    [request] = tick.run_requests
    assert set(request.asset_selection) == _assets(project, BREWLAB)  # its 4 assets, none of the other campaign
    assert request.tags[CAMPAIGN_TAG] == BREWLAB and request.tags[ESTIMATE_TAG] == "0.00"  # draft is free

    result = _run(defs, request, instance)
    assert result.success
    assert _built(result, instance) == _variants(project, BREWLAB)  # all 11 variants
    statuses = {p.key: p.status for p in project.plan().items}
    assert {s for k, s in statuses.items() if k.startswith(BREWLAB + "/")} == {"fresh"}
    assert {s for k, s in statuses.items() if not k.startswith(BREWLAB + "/")} == {"missing"}

    tick = _tick(defs, instance)
    assert not tick.run_requests
    assert tick.skip_message == f"{BREWLAB}: all 11 variants are fresh"


def test_after_a_spec_edit_the_tick_waits_for_a_reload_then_builds_what_changed(catalog):
    defs, project = _defs(catalog)
    instance = dg.DagsterInstance.ephemeral()
    assert _run(defs, _tick(defs, instance).run_requests[0], instance).success

    spec = catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("Product photo of a ceramic mug", "Product photo of a tall mug", 1))
    tick = _tick(defs, instance)  # the code location still holds the old reading of the YAML
    assert not tick.run_requests
    assert "changed on disk" in tick.skip_message and "reload" in tick.skip_message

    defs, project = _defs(catalog)  # reloaded
    [request] = _tick(defs, instance).run_requests
    assert set(request.asset_selection) == _assets(project, BREWLAB, ("mug_hero", "mug_loft"))
    result = _run(defs, request, instance)
    assert result.success
    assert _built(result, instance) == _variants(project, BREWLAB, ("mug_hero", "mug_loft"))  # the run planned again
    assert not _tick(defs, instance).run_requests


def test_a_broken_catalog_on_disk_skips_the_tick_with_its_first_problem(catalog):
    defs, _ = _defs(catalog)
    spec = catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("  - name: mug_hero", "  - name: mug_hero\n    colour: blue", 1))
    tick = _tick(defs, dg.DagsterInstance.ephemeral())
    assert not tick.run_requests
    assert "problem" in tick.skip_message and "brewlab_launch.yaml" in tick.skip_message
    assert "colour" in tick.skip_message


def test_a_ref_file_edit_is_no_reason_to_reload_only_the_yaml_is(catalog):
    # the plan hashes ref files at tick time; only the YAML is read once per load
    from pipelines.orchestration.schedules import reload_needed, spec_fingerprint

    project = Project.load(catalog)
    loaded = spec_fingerprint(project)
    ref = catalog / "refs" / "product.png"
    ref.write_bytes(ref.read_bytes() + b"\0")  # trailing bytes: another file, still a PNG
    assert reload_needed(project, loaded) is None
    strings = catalog / "locales" / "de.yaml"
    strings.write_text(strings.read_text().replace("Cold-Brew-Saison", "Cold-Brew-Sommer"))
    assert "reload" in reload_needed(project, loaded)
