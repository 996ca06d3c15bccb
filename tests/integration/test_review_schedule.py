"""Review in a scheduled run: a tick pays for the retake of a rejected variant without a reload of
the code location, its run publishes the approved takes and reports how many variants of its
campaign await review."""

from __future__ import annotations

import warnings

import dagster as dg
import pytest

from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.keys import BUILD_JOB, schedule_name
from pipelines.orchestration.review import AWAITING_TAG
from pipelines.review import actions
from pipelines.review.project import approvals_of, load_project
from pipelines.review.states import review_infos
from tests.helpers.catalogs import copy_example, set_setting

BREWLAB = "brewlab_launch"


def _tick_and_run(defs: dg.Definitions, instance: dg.DagsterInstance):
    with dg.build_schedule_context(instance=instance) as ctx:
        tick = defs.get_schedule_def(schedule_name(BREWLAB)).evaluate_tick(ctx)
    [request] = tick.run_requests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = defs.resolve_job_def(BUILD_JOB).execute_in_process(
            instance=instance, asset_selection=request.asset_selection, tags=request.tags, raise_on_error=False)
    assert result.success
    return request, instance.get_run_by_id(result.run_id)


@pytest.fixture
def catalog(tmp_path):
    cat = copy_example(tmp_path / "catalog")
    set_setting(cat, "publish", "{dir: published}")
    return cat


def test_a_scheduled_run_retakes_a_rejection_publishes_and_counts_what_awaits_review(catalog):
    project = load_project(catalog)  # what the code location does when it loads
    defs = build_definitions(project)
    instance = dg.DagsterInstance.ephemeral()
    _, run = _tick_and_run(defs, instance)
    assert run.tags[AWAITING_TAG] == "11"  # every variant of the campaign is new

    actions.approve(project, [BREWLAB], reviewer="ana")
    actions.reject(project, ["mug_hero"], reviewer="ana", note="label is blurry")
    request, run = _tick_and_run(defs, instance)  # the same loaded definitions: no reload needed
    assert sorted(k.path[1] for k in request.asset_selection) == ["mug_hero", "mug_loft"]
    states = {k: i.state for k, i in review_infos(project.plan(), approvals_of(project)).items() if k.startswith(BREWLAB)}
    assert states["brewlab_launch/mug_hero/default"] == "pending"  # the retake, never reviewed
    assert states["brewlab_launch/mug_loft/default"] == "changed"  # approved, and its input changed
    assert run.tags[AWAITING_TAG] == "2"
    published = {p.relative_to(catalog / "published").as_posix() for p in (catalog / "published").rglob("*.*")}
    assert "brewlab_launch/mug_hero/default.png" not in published  # the rejected take was withdrawn by the run
    assert "brewlab_launch/mug_loft/default.png" in published and len(published) == 10 + 1  # + manifest.json


def test_a_tick_skips_with_the_path_line_of_a_broken_approvals_file(catalog):
    defs = build_definitions(load_project(catalog))
    (catalog / "approvals.yaml").write_text("brewlab_launch/mug_hero/default: {status: approved\n")
    with dg.build_schedule_context(instance=dg.DagsterInstance.ephemeral()) as ctx:
        tick = defs.get_schedule_def(schedule_name(BREWLAB)).evaluate_tick(ctx)
    assert not tick.run_requests
    assert "approvals.yaml:1: YAML syntax error" in tick.skip_message and tick.skip_message.endswith("fix it")
