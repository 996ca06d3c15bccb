"""Asset checks as the UI records them: the OCR text check is blocking, ERROR severity, and a poster
whose in-image text is wrong keeps its story rendition from being made in the same run; without
the OCR language data the check is *not run* (a WARN failure, never passed) with the command that
installs it, in the UI, the manifest and the build summary.

The builds run through the real CLI (its Dagster run lands in the catalog's instance, which the
tests then read as the webserver would). The OpenAI emulator paints plain images: a poster with
none of its expected text, as a model that misspelled the headline would deliver.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterEventType

from tests.helpers.catalogs import copy_example, manifest, set_setting
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.vendors import use_openai
from tests.text_samples import needs_ocr

pytestmark = [pytest.mark.slow, needs_ocr("en", "de", "zh-CN")]

# (catalog asset, variant): a variant is a partition of its asset
POSTER = (dg.AssetKey(["brewlab_launch", "launch_poster"]), "en/1024x1536")
STORY = (dg.AssetKey(["brewlab_launch", "poster_story"]), "en")
SELECT = "+brewlab_launch/poster_story/en"  # the English story and the poster it is cut from


def _last_run(catalog: Path, monkeypatch) -> tuple[set[tuple], dict[tuple, object], object]:
    """(materialized (key, partition)s, {((key, partition), check name): evaluation}, the run) of
    the latest run in the catalog's instance."""
    home = catalog / ".assetpipe" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # as `assetpipe ui` sets it for the webserver
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        logs = instance.all_logs(run.run_id)
    mats = {(e.dagster_event.asset_key, e.dagster_event.partition) for e in logs
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION}
    evals = {}
    for e in logs:
        if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = e.dagster_event.event_specific_data
            evals[((ev.asset_key, ev.partition), ev.check_name)] = ev
    return mats, evals, run


@pytest.fixture
def catalog(tmp_path):
    cat = copy_example(tmp_path / "catalog")
    set_setting(cat, "check_text", '"auto"')  # on, as a catalog has it by default
    return cat


def test_a_wrong_text_fails_the_blocking_check_and_holds_back_the_rendition(catalog, openai_emu, monkeypatch):
    env = use_openai(catalog, openai_emu)
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog, env=env)
    assert code == 1, out + err  # a variant of the run was not made
    assert "CHECK FAILED: text_ok" in out and "brewlab_launch/launch_poster/en/1024x1536" in out
    assert openai_emu.calls() == 3 and "(3 takes)" in out  # retakes: 2 in the example, all spent
    assert "upstream not usable: brewlab_launch/launch_poster/en/1024x1536 (failed text check)" in out
    assert "the Dagster run failed" not in out + err  # every variant's fate is told, none invented

    mats, evals, run = _last_run(catalog, monkeypatch)
    assert mats == {POSTER}  # the poster exists (to be looked at); its rendition was never cut
    text = evals[(POSTER, "text_ok")]
    assert not text.passed and text.severity == dg.AssetCheckSeverity.ERROR and text.blocking
    assert "failed on all 3 takes" in text.description and "expected text not found" in text.description
    assert evals[(POSTER, "image_ok")].passed
    assert (STORY, "image_ok") not in evals
    assert run.status == dg.DagsterRunStatus.FAILURE  # the UI's runs list shows it red


def test_the_right_text_passes_and_the_rendition_is_made(catalog, monkeypatch):
    # the draft provider draws the expected text: OCR reads it back
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog)
    assert code == 0, out + err
    mats, evals, run = _last_run(catalog, monkeypatch)
    assert mats == {POSTER, STORY}
    assert evals[(POSTER, "text_ok")].passed and evals[(POSTER, "text_ok")].severity == dg.AssetCheckSeverity.ERROR
    assert evals[(STORY, "text_ok")].passed  # the rendition's crop keeps the poster's text
    assert run.status == dg.DagsterRunStatus.SUCCESS


@pytest.fixture
def no_ocr_data(tmp_path) -> dict[str, str]:
    """A machine without the OCR language data: Tesseract looks in an empty directory."""
    empty = tmp_path / "no_tessdata"
    empty.mkdir()
    return {"TESSDATA_PREFIX": str(empty)}


def test_without_ocr_data_the_text_check_is_not_run_never_passed(catalog, openai_emu, no_ocr_data, monkeypatch):
    env = use_openai(catalog, openai_emu) | no_ocr_data
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog, env=env)
    assert code == 0, out + err
    assert "text not checked on 2 variant(s): brewlab_launch/launch_poster/en/1024x1536" in err
    assert "apt-get install tesseract-ocr-eng" in err
    assert openai_emu.calls() == 1  # a check that did not run never triggers a retake
    mats, evals, _ = _last_run(catalog, monkeypatch)
    assert mats == {POSTER, STORY}  # nothing to block on
    text = evals[(POSTER, "text_ok")]
    assert not text.passed and text.severity == dg.AssetCheckSeverity.WARN
    assert text.description.startswith("NOT RUN: ") and "apt-get install tesseract-ocr-eng" in text.description
    assert text.metadata["skipped"].value is True
    entries = {e["key"]: e for e in manifest(catalog)["variants"]}
    check = entries["brewlab_launch/launch_poster/en/1024x1536"]["checks"]["text_ok"]
    assert check["status"] == "not_run" and check["passed"] is None and "tesseract-ocr-eng" in check["fix"]
    assert "text not checked" in (catalog / "out" / "index.html").read_text()

    # once the data is there, the plan knows the check never ran, and a build runs it (free)
    plan = plan_json(catalog)
    assert plan["brewlab_launch/launch_poster/en/1024x1536"]["status"] == "changed"
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog, env=use_openai(catalog, openai_emu))
    assert openai_emu.calls() >= 2  # the emulator's picture has no text: now the check runs, fails, retakes
    assert "CHECK FAILED: text_ok" in out


def test_without_ocr_data_a_required_text_check_fails_and_blocks(catalog, openai_emu, no_ocr_data, monkeypatch):
    set_setting(catalog, "check_text", '"required"')
    env = use_openai(catalog, openai_emu) | no_ocr_data
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog, env=env)
    assert code == 1, out + err
    mats, evals, _ = _last_run(catalog, monkeypatch)
    assert mats == {POSTER}
    text = evals[(POSTER, "text_ok")]
    assert not text.passed and "apt-get install tesseract-ocr-eng" in text.description


def test_a_failed_text_check_with_nothing_downstream_is_reported_as_itself(catalog, openai_emu, monkeypatch):
    # The blocking check fails the Dagster step (and run) even when it blocks nothing; the CLI
    # must still say what happened rather than call the whole run failed.
    env = use_openai(catalog, openai_emu)
    code, out, err = run_cli("build", "--select", "brewlab_launch/launch_poster/en/1536x1024", catalog=catalog, env=env)
    assert "built    brewlab_launch/launch_poster/en/1536x1024" in out and "CHECK FAILED: text_ok" in out
    assert "the Dagster run failed" not in out + err and "FAILED brewlab_launch" not in out
    assert code == 1 and "check failed: brewlab_launch/launch_poster/en/1536x1024: text_ok" in err
    mats, evals, run = _last_run(catalog, monkeypatch)
    wide = (dg.AssetKey(["brewlab_launch", "launch_poster"]), "en/1536x1024")
    assert mats == {wide} and not evals[(wide, "text_ok")].passed
