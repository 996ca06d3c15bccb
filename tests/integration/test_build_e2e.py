"""The example catalog end to end through the `assetpipe` CLI, offline (draft provider): it builds,
a second build does nothing, an edited locale string rebuilds exactly what uses it, --select,
--dry-run. Builds through Dagster cost seconds: the built example is shared (and copied before
any test changes it)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.catalogs import blobs, copy_built, manifest, outputs_state
from tests.helpers.cli import plan_json, run_cli

MANIFEST_FIELDS = ("key", "campaign", "asset", "variant", "path", "sha256", "width", "height", "cache_key", "model",
                   "provider", "prompt", "cost_usd", "cached", "built_at")
EXT = {"png": ("png", "PNG"), "jpeg": ("jpg", "JPEG"), "webp": ("webp", "WEBP")}
DE_POSTERS = {"brewlab_launch/launch_poster/de/1024x1536", "brewlab_launch/launch_poster/de/1536x1024"}


@pytest.fixture
def built(draft_example_built, tmp_path) -> Path:
    return copy_built(draft_example_built[0], tmp_path / "catalog")


def images(catalog: Path) -> dict[str, tuple[int, int]]:
    """The variant files (not the manifest, the gallery or its thumbnails)."""
    return {k: v for k, v in outputs_state(catalog).items()
            if not k.endswith((".json", ".html")) and not k.startswith("_thumbs/")}


def built_keys(stdout: str) -> set[str]:
    """Variants the build output says it produced (`  built    <key> ...`, `  rendered <key> ...`)."""
    return set(re.findall(r"^\s+(?:built|rendered)\s+(\S+/\S+)", stdout, re.M))


def test_the_example_builds_every_variant_at_its_exact_size_and_format(draft_example_built):
    cat, _ = draft_example_built
    plan = plan_json(cat)
    assert len(plan) == 20 and all(row["status"] == "fresh" for row in plan.values())
    doc = manifest(cat)
    entries = {e["key"]: e for e in doc["variants"]}
    assert set(entries) == set(plan)
    for key, row in plan.items():
        e = entries[key]
        for f in MANIFEST_FIELDS:
            assert f in e, (key, f)
        ext, pil_format = EXT[e["format"]]
        campaign, asset, *rest = key.split("/")
        assert (e["campaign"], e["asset"], e["variant"]) == (campaign, asset, "/".join(rest))
        assert e["path"] == f"{key}.{ext}"  # output_dir/<campaign>/<asset>/<variant>.<ext>
        path = cat / "out" / e["path"]
        data = path.read_bytes()
        assert e["sha256"] == hashlib.sha256(data).hexdigest()
        with Image.open(path) as img:
            assert (img.format, f"{img.width}x{img.height}") == (pil_format, row["size"]), key
        assert (e["width"], e["height"]) == tuple(int(x) for x in row["size"].split("x"))
        assert e["cache_key"] == row["cache_key"]
        assert e["built_at"] and e["cached"] is False and e["cost_usd"] == 0.0
        if row["operation"] == "render":
            assert (e["provider"], e["model"], e["prompt"]) == ("local", "render", None)
        else:
            assert (e["provider"], e["model"]) == ("draft", "draft") and e["prompt"]
    # what the catalog says, spot-checked without trusting the plan
    assert entries["brewlab_launch/poster_story/zh-CN"]["path"] == "brewlab_launch/poster_story/zh-CN.jpg"
    assert plan["brewlab_launch/poster_story/zh-CN"]["size"] == "1080x1920"
    assert plan["cold_brew_summer/banner_thumb/en/1024x1024"]["size"] == "600x400"
    assert entries["cold_brew_summer/banner_thumb/en/1024x1024"]["format"] == "webp"
    assert "BREW LAB" in entries["brewlab_launch/mug_hero/default"]["prompt"]
    html = (cat / "out" / "index.html").read_text()
    for e in entries.values():
        assert e["asset"] in html


def test_a_second_build_calls_nothing_and_writes_nothing(built):
    before_blobs, before_images = blobs(built), images(built)
    code, out, err = run_cli("build", catalog=built)
    assert (code, err) == (0, ""), err
    assert "nothing to do: all 20 variants are fresh" in out
    assert not built_keys(out)
    assert blobs(built) == before_blobs
    assert images(built) == before_images  # same inode and mtime: not even rewritten
    assert all(e["cached"] and e["cost_usd"] == 0 for e in manifest(built)["variants"])


def test_a_deleted_output_comes_back_from_the_cache_without_a_build(built):
    target = built / "out" / "brewlab_launch" / "mug_hero" / "default.png"
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    target.unlink()
    before = blobs(built)
    code, out, err = run_cli("build", catalog=built)
    assert code == 0 and "nothing to do" in out, out + err
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert blobs(built) == before


def test_editing_one_locale_string_rebuilds_exactly_its_users_and_their_dependants(built):
    de = built / "locales" / "de.yaml"
    de.write_text(de.read_text(encoding="utf-8").replace("Gebrüht für Macher", "Gebrüht für Tüftler"), encoding="utf-8")
    expected = DE_POSTERS | {"brewlab_launch/poster_story/de"}

    plan = plan_json(built)
    stale = {k: row for k, row in plan.items() if row["status"] != "fresh"}
    assert set(stale) == expected
    assert all(row["status"] == "changed" for row in stale.values())
    for k in DE_POSTERS:
        assert "prompt" in stale[k]["reasons"]
    assert any(r.startswith("upstream brewlab_launch/launch_poster/de/1024x1536") for r in
               stale["brewlab_launch/poster_story/de"]["reasons"])

    before_blobs, before_images = blobs(built), images(built)
    code, out, err = run_cli("build", catalog=built)
    assert code == 0, out + err
    assert built_keys(out) == expected
    assert len(blobs(built) - before_blobs) == 3
    after = images(built)
    rewritten = {k for k in after if after[k] != before_images.get(k)}
    assert rewritten == {f"{k}.{'jpg' if 'poster_story' in k else 'png'}" for k in expected}
    doc = manifest(built)
    assert {e["key"] for e in doc["variants"] if not e["cached"]} == expected
    assert all(row["status"] == "fresh" for row in plan_json(built).values())


def test_a_locale_string_nothing_uses_rebuilds_nothing(built):
    de = built / "locales" / "de.yaml"
    de.write_text(de.read_text(encoding="utf-8") + "footer: Nur solange der Vorrat reicht\n", encoding="utf-8")
    assert all(row["status"] == "fresh" for row in plan_json(built).values())


def test_select_builds_only_the_chosen_variants(built):
    for name in ("de.yaml", "en.yaml"):
        p = built / "locales" / name
        p.write_text(re.sub(r"(?m)^headline: ", "headline: NEW ", p.read_text(encoding="utf-8")), encoding="utf-8")
    stale = {k for k, row in plan_json(built).items() if row["status"] != "fresh"}
    assert len(stale) == 6  # 4 posters + 2 stories
    code, out, err = run_cli("build", "--select", "brewlab_launch/launch_poster/de/*", catalog=built)
    assert code == 0, out + err
    assert built_keys(out) == DE_POSTERS
    after = {k for k, row in plan_json(built).items() if row["status"] != "fresh"}
    assert after == stale - DE_POSTERS
    # `locale=en` with `+` pulls in dependants: en posters and their story
    assert set(plan_json(built, "--select", "locale=en+")) >= {"brewlab_launch/poster_story/en"}


def test_select_that_matches_nothing_is_a_usage_error(built):
    code, out, err = run_cli("build", "--select", "no_such_asset", catalog=built)
    assert code == 2 and "matches no variant" in err and "Traceback" not in err


def test_dry_run_spends_nothing(example_catalog):
    code, out, err = run_cli("build", "--dry-run", catalog=example_catalog)
    assert code == 0, out + err
    assert "dry run: 20 variant(s)" in out and "nothing was built" in out
    assert len(re.findall(r"would build", out)) == 20
    assert not blobs(example_catalog)
    assert not (example_catalog / "out").exists()
    assert all(row["status"] == "missing" for row in plan_json(example_catalog).values())


def test_plan_json_has_the_documented_shape(example_catalog):
    code, out, err = run_cli("plan", "--json", catalog=example_catalog)
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"variants", "totals"}  # the documented top level; additions live under totals
    assert {"review", "review_problems", "calibration", "batches"} <= set(doc["totals"])
    for row in doc["variants"]:
        assert {"key", "status", "reason", "provider", "estimated_cost_usd"} <= set(row)
        assert row["status"] == "missing" and row["reason"] == "never built"
    assert doc["totals"]["variants"] == doc["totals"]["to_build"] == 20
