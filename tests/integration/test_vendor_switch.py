"""Paid builds through loopback vendors, counted: a cache hit calls nobody, moving the example
between gpt-image-2 vendors rebuilds nothing, --max-cost refuses before spending, --refresh pays
again and marks dependants changed, a failed variant keeps every other one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.emulators.eachlabs import EachLabsEmulator
from tests.emulators.runapi import RunApiEmulator
from tests.helpers.catalogs import add_provider, blobs, copy_built, manifest, outputs_state, set_setting
from tests.helpers.cli import assert_clean_failure, plan_json, run_cli
from tests.helpers.vendors import TEST_KEY, use_openai

PUBLIC = "https://cdn.example.com/refs"  # the example's uploads.public_url
PAID = 13  # generate + edit variants of the example; the other 7 are local renders


@pytest.fixture
def paid(openai_example_built, tmp_path):
    """A private copy of the example built through the (session) OpenAI emulator: (catalog, env)."""
    src, env = openai_example_built
    return copy_built(src, tmp_path / "catalog"), env


def images(catalog: Path) -> dict:
    return {k: v for k, v in outputs_state(catalog).items() if not k.endswith((".json", ".html"))
            and not k.startswith("_thumbs/")}


def test_the_paid_build_called_once_per_generated_variant(openai_example_built):
    cat, _ = openai_example_built
    doc = manifest(cat)
    paid = [e for e in doc["variants"] if e["provider"] == "openai"]
    assert len(paid) == PAID and all(e["model"] == "gpt-image-2" and e["cost_usd"] > 0 for e in paid)
    assert all(e["request_id"] and e["request_id"].startswith("req_") for e in paid)


def test_a_second_build_calls_no_provider(paid, session_openai):
    cat, env = paid
    calls, before_blobs, before_images = session_openai.calls(), blobs(cat), images(cat)
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert (code, err) == (0, ""), err
    assert "nothing to do" in out
    assert session_openai.calls() == calls
    assert blobs(cat) == before_blobs and images(cat) == before_images


@pytest.mark.parametrize("vendor", ["runapi", "eachlabs"])
def test_switching_gpt_image_2_vendor_rebuilds_nothing(paid, session_openai, vendor):
    cat, env = paid
    emulator = {"runapi": RunApiEmulator, "eachlabs": EachLabsEmulator}[vendor]
    with emulator(public_url=PUBLIC) as emu:
        add_provider(cat, vendor, {"type": vendor, "base_url": emu.base_url, "api_key_env": "ASSETPIPE_TEST_VENDOR_KEY",
                                    "download_hosts": emu.download_hosts})
        set_setting(cat, "default_provider", vendor)
        env = {**env, "ASSETPIPE_TEST_VENDOR_KEY": "vendor-test-key-0b9e"}
        calls, before_blobs, before_images = session_openai.calls(), blobs(cat), images(cat)

        plan = plan_json(cat, env=env)
        assert all(row["status"] == "fresh" for row in plan.values()), [r for r in plan.values() if r["status"] != "fresh"]
        assert {row["provider"] for row in plan.values()} == {vendor, None}  # None: local renders

        code, out, err = run_cli("build", catalog=cat, env=env)
        assert (code, err) == (0, ""), err
        assert "nothing to do" in out
        assert emu.log == []  # not even a schema lookup
        assert session_openai.calls() == calls
        assert blobs(cat) == before_blobs and images(cat) == before_images


def test_draft_to_a_hosted_model_rebuilds_everything(draft_example_built, session_openai, tmp_path):
    """The draft proof is another model: paying for gpt-image-2 after reviewing drafts is a rebuild."""
    cat = copy_built(draft_example_built[0], tmp_path / "catalog")
    env = use_openai(cat, session_openai)
    plan = plan_json(cat, env=env)
    assert all(row["status"] == "changed" for row in plan.values())
    for row in plan.values():
        if row["operation"] != "render":
            assert "model draft -> gpt-image-2" in row["reasons"], row
        else:
            assert any(r.startswith("upstream ") for r in row["reasons"]), row


def test_max_cost_below_the_estimate_spends_nothing(example_catalog, openai_emu):
    env = use_openai(example_catalog, openai_emu)
    estimate = plan_json(example_catalog, env=env)
    total = sum(row["estimated_cost_usd"] for row in estimate.values())
    assert total > 0.1
    code, out, err = run_cli("build", "--max-cost", "0.10", catalog=example_catalog, env=env)
    assert_clean_failure(code, out, err)
    assert re.search(r"refused: estimated cost \$\d+\.\d\d exceeds --max-cost \$0\.10; nothing was built", err), err
    assert openai_emu.log == []
    assert not blobs(example_catalog)
    assert not (example_catalog / "out").exists()


def test_dry_run_with_a_paid_vendor_calls_nobody(example_catalog, openai_emu):
    env = use_openai(example_catalog, openai_emu)
    code, out, err = run_cli("build", "--dry-run", catalog=example_catalog, env=env)
    assert code == 0, out + err
    assert re.search(r"dry run: 20 variant\(s\), estimated \$[1-9]?\d\.\d\d; nothing was built", out), out
    assert openai_emu.log == [] and not blobs(example_catalog)


def test_refresh_pays_again_and_marks_dependants_changed(paid, session_openai):
    cat, env = paid
    hero = "brewlab_launch/mug_hero/default"
    old = {e["key"]: e for e in manifest(cat)["variants"]}
    calls = session_openai.calls()

    code, out, err = run_cli("build", "--refresh", "--select", hero, catalog=cat, env=env)
    assert code == 0, out + err
    assert session_openai.calls() == calls + 1
    new = {e["key"]: e for e in manifest(cat)["variants"]}
    assert new[hero]["sha256"] != old[hero]["sha256"] and new[hero]["cached"] is False

    stale = {k: row for k, row in plan_json(cat, env=env).items() if row["status"] != "fresh"}
    assert set(stale) == {"brewlab_launch/mug_loft/default"}
    assert stale["brewlab_launch/mug_loft/default"]["reasons"] == [f"upstream {hero} (rebuilt)"]
    assert stale["brewlab_launch/mug_loft/default"]["estimated_cost_usd"] > 0


def test_a_failing_variant_fails_the_build_and_keeps_every_other_one(paid, session_openai):
    cat, env = paid
    de = cat / "locales" / "de.yaml"
    de.write_text(de.read_text(encoding="utf-8").replace("Gebrüht für Macher", "Gebrüht für Tüftler"), encoding="utf-8")
    portrait, landscape = "brewlab_launch/launch_poster/de/1024x1536", "brewlab_launch/launch_poster/de/1536x1024"
    story = "brewlab_launch/poster_story/de"  # a render of the portrait poster
    before = {e["key"]: e for e in manifest(cat)["variants"]}
    session_openai.refuse = ["1536x1024 A minimalist poster reading \"Gebrüht für Tüftler\""]
    calls = session_openai.calls()
    try:
        code, out, err = run_cli("build", catalog=cat, env=env)
    finally:
        session_openai.refuse = []
    assert_clean_failure(code, out, err)
    assert session_openai.calls() == calls + 2
    assert re.search(rf"^\s+FAILED\s+{landscape}\s+.*safety system", out, re.M), out
    assert re.search(rf"^\s+built\s+{portrait}\s", out, re.M) and re.search(rf"^\s+rendered\s+{story}\s", out, re.M), out

    entries = {e["key"]: e for e in manifest(cat)["variants"]}
    assert len(entries) == 20
    bad = entries[landscape]
    assert bad["status"] == "failed" and "safety system" in bad["error"] and bad["path"] is None
    for key, e in entries.items():
        if key != landscape:
            assert e["status"] == "fresh" and (cat / "out" / e["path"]).is_file(), key
            assert e["cached"] is (key not in (portrait, story)), key
    assert entries[portrait]["sha256"] != before[portrait]["sha256"]

    # nothing of the failure was recorded: the next build pays for exactly the one that failed
    stale = {k: row for k, row in plan_json(cat, env=env).items() if row["status"] != "fresh"}
    # (and the plan says why it is still stale: #15 item 8)
    assert set(stale) == {landscape} and stale[landscape]["reasons"][0] == "prompt"
    assert stale[landscape]["reasons"][1:] == [f"last attempt failed: {bad['error']}"]


def test_the_vendor_key_is_never_written_or_printed(openai_example_built, session_openai):
    cat, env = openai_example_built
    code, out, err = run_cli("plan", catalog=cat, env=env)
    assert TEST_KEY not in out + err
    needle = TEST_KEY.encode()
    for p in cat.rglob("*"):
        if p.is_file():
            assert needle not in p.read_bytes(), p
    assert TEST_KEY not in session_openai.log_text()


def test_a_rejected_key_fails_without_showing_the_key(example_catalog, tmp_path):
    from tests.emulators.openai import TakesOpenAI

    with TakesOpenAI(latency=0.01, keys={"sk-the-right-one"}) as emu:
        env = use_openai(example_catalog, emu)
        code, out, err = run_cli("build", "--select", "brewlab_launch/mug_hero/default", catalog=example_catalog,
                                 env=env)
        assert_clean_failure(code, out, err)
        assert emu.calls() == 1
    assert re.search(r"FAILED\s+brewlab_launch/mug_hero/default\s+.*(401|key)", out, re.I), out
    assert TEST_KEY not in out + err
    for p in example_catalog.rglob("*"):
        if p.is_file():
            assert TEST_KEY.encode() not in p.read_bytes(), p
    assert manifest(example_catalog)["totals"]["failed"] == 1


def test_a_reverted_edit_is_rematerialized_from_the_cache_for_free(paid, session_openai):
    # edit -> build (pays) -> revert -> the cached first take is this variant's again: the plan says
    # changed (free), the build re-materializes it with no vendor call, and then all is fresh, so the
    # plan, the output file and the Dagster UI (which saw the edited take last) agree.
    cat, env = paid
    hero = "brewlab_launch/mug_hero/default"
    spec = cat / "campaigns" / "brewlab_launch.yaml"
    original = spec.read_text()
    first = {e["key"]: e for e in manifest(cat)["variants"]}[hero]["sha256"]
    spec.write_text(original.replace("Product photo of a ceramic mug", "Studio photo of a ceramic mug"))
    code, out, err = run_cli("build", "--select", hero, catalog=cat, env=env)
    assert code == 0, out + err
    spec.write_text(original)
    rows = plan_json(cat, env=env)
    assert rows[hero]["status"] == "changed" and "in the cache (free)" in rows[hero]["reasons"]
    assert rows[hero]["estimated_cost_usd"] == 0
    calls = session_openai.calls()
    code, out, err = run_cli("build", "--select", hero, catalog=cat, env=env)
    assert code == 0, out + err
    assert session_openai.calls() == calls
    assert {e["key"]: e for e in manifest(cat)["variants"]}[hero]["sha256"] == first
    assert plan_json(cat, env=env)[hero]["status"] == "fresh"
