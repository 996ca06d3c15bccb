"""Retakes: a paid take whose text check fails is retaken, up to `retakes` times; every take is
cached and none is paid twice; the plan and --max-cost count the worst case; a variant that never
passes fails with its OCR readings. The vendor is the OpenAI emulator drawing the requested text
and misspelling the takes a test chooses."""

from __future__ import annotations

import json

import pytest

from tests.emulators.openai import TakesOpenAI
from tests.helpers.catalogs import blobs, manifest, write_catalog
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.vendors import TEST_KEY, TEST_KEY_ENV
from tests.text_samples import needs_ocr

pytestmark = [pytest.mark.slow, needs_ocr("en")]
KEY = "shop/poster/default"
TEXT = "Fresh Roast Daily"


def _catalog(root, emu: TakesOpenAI, retakes: int = 2, cache: str = ".assetpipe/cache"):
    return write_catalog(root, {
        "catalog.yaml": f"""
            default_provider: vendor
            providers:
              vendor: {{type: openai, base_url: "{emu.base_url}", api_key_env: {TEST_KEY_ENV}, max_retries: 0}}
            cache: {cache}
            check_text: auto
            defaults: {{quality: low, retakes: {retakes}}}
            """,
        "campaigns/shop.yaml": f"""
            campaign: shop
            assets:
              - name: poster
                prompt: A poster reading "{TEXT}" above a coffee cup
                size: 1024x1024
            """,
    })


@pytest.fixture
def emu():
    with TakesOpenAI(latency=0.01, draw_text=True) as e:
        yield e


ENV = {TEST_KEY_ENV: TEST_KEY}


def test_plan_and_max_cost_count_every_take_a_build_may_pay_for(tmp_path, emu):
    cat = _catalog(tmp_path / "c", emu, retakes=2)
    row = plan_json(cat)[KEY]
    assert row["max_takes"] == 3
    one = row["estimated_cost_usd"] / 3
    code, out, err = run_cli("plan", catalog=cat)
    assert "up to 3 takes" in out, out
    code, out, err = run_cli("build", "--max-cost", f"{one * 2:.4f}", catalog=cat, env=ENV)
    assert code == 1 and "exceeds --max-cost" in err and "every retake" in err, err
    assert emu.calls() == 0


def test_a_misspelt_take_is_retaken_and_the_first_good_take_kept(tmp_path, emu, monkeypatch):
    emu.misspell = [True, False]  # the first take misspells the headline, the second is right
    cat = _catalog(tmp_path / "c", emu)
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 0, out + err
    assert emu.calls() == 2 and len(emu.misspelt) == 1  # exactly the takes needed
    entry = next(e for e in manifest(cat)["variants"] if e["key"] == KEY)
    assert entry["takes"] == 2 and entry["take"] == 2
    assert entry["checks"]["text_ok"]["status"] == "passed"
    assert entry["cost_usd"] > 0 and abs(entry["cost_usd"] - 2 * entry["original_cost_usd"]) < 1e-9
    assert len(blobs(cat)) == 2  # both takes are in the store
    meta = _materialization_metadata(cat, monkeypatch)
    assert (meta["takes"].value, meta["take"].value) == (2, 2)  # the UI shows it too
    assert abs(meta["cost_usd"].value - entry["cost_usd"]) < 1e-9
    # nothing left to do, nothing paid again
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 0 and "nothing to do" in out and emu.calls() == 2


def _materialization_metadata(catalog, monkeypatch) -> dict:
    """The metadata of the latest materialization in the catalog's Dagster instance, as the UI shows it."""
    import dagster as dg

    home = catalog / ".assetpipe" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # as `assetpipe ui` sets it for the webserver
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["shop", "poster"]))
    return event.asset_materialization.metadata


def test_every_take_is_cached_and_never_paid_twice(tmp_path, emu):
    emu.misspell = [True, False]
    shared = tmp_path / "shared-cache"
    first = _catalog(tmp_path / "a", emu, cache=str(shared))
    assert run_cli("build", catalog=first, env=ENV)[0] == 0
    assert emu.calls() == 2
    # another checkout on the same cache: take 1 (misspelt) and take 2 (right) are both reused
    second = _catalog(tmp_path / "b", emu, cache=str(shared))
    code, out, err = run_cli("build", catalog=second, env=ENV)
    assert code == 0, out + err
    assert emu.calls() == 2
    entry = next(e for e in manifest(second)["variants"] if e["key"] == KEY)
    assert (entry["take"], entry["cost_usd"]) == (2, 0.0)


def test_a_variant_that_never_passes_stops_at_its_budget_with_its_readings(tmp_path, emu):
    emu.misspell = [True]  # every take misspelt
    cat = _catalog(tmp_path / "c", emu, retakes=2)
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 1
    assert emu.calls() == 3  # 1 + retakes, not one more
    assert "failed on all 3 takes" in err and "closest" in err, err
    entry = next(e for e in manifest(cat)["variants"] if e["key"] == KEY)
    assert entry["takes"] == 3 and entry["checks"]["text_ok"]["status"] == "failed"
    readings = json.dumps(entry["checks"]["text_ok"], ensure_ascii=False)
    assert emu.misspelt[0].split()[1] in readings  # what OCR read is there to see
    # no takes left: a rebuild pays nothing
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert emu.calls() == 3


def test_raising_the_budget_retakes_a_failed_variant(tmp_path, emu):
    emu.misspell = [True, True, False]
    cat = _catalog(tmp_path / "c", emu, retakes=0)
    assert run_cli("build", catalog=cat, env=ENV)[0] == 1
    assert emu.calls() == 1
    cat = _catalog(tmp_path / "c", emu, retakes=2)  # the same catalog, a larger budget
    row = plan_json(cat)[KEY]
    assert row["status"] == "changed" and "text check failed" in row["reason"]
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 0, out + err
    assert emu.calls() == 3
