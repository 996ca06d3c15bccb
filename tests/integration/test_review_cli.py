"""Review and publish through the CLI, as a team uses it: `approve`, `reject`, `explain`, `plan`,
`build` in subprocesses on copies of the example, with the draft provider or a loopback vendor;
the decisions as observations in the catalog's Dagster instance."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers.catalogs import copy_built, copy_example, set_setting
from tests.helpers.cli import assert_clean_failure, plan_json, run_cli
from tests.helpers.paths import ASSETPIPE
from tests.helpers.vendors import use_openai

ANA = {"ASSETPIPE_REVIEWER": "ana"}
POSTER_DE = ("brewlab_launch/launch_poster/de/1024x1536", "brewlab_launch/launch_poster/de/1536x1024")
STORY_DE = "brewlab_launch/poster_story/de"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def published(cat: Path) -> dict[str, str]:
    root = cat / "published"
    return {str(p.relative_to(root)): sha(p) for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"}


def review_states(cat: Path, env: dict | None = None) -> dict[str, str]:
    return {k: row["review"]["state"] for k, row in plan_json(cat, env=env).items()}


def ok(*args: str, catalog: Path, env: dict | None = None) -> str:
    code, out, err = run_cli(*args, catalog=catalog, env={**ANA, **(env or {})})
    assert code == 0, out + err
    assert "Traceback" not in out + err
    return out


@pytest.fixture
def draft(draft_example_built, tmp_path):
    cat = copy_built(draft_example_built[0], tmp_path / "catalog")
    set_setting(cat, "publish", "{dir: published}")
    return cat


def dagster_instance(cat: Path, monkeypatch):
    from dagster import DagsterInstance

    home = cat / ".assetpipe" / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the catalog's event log storage finds its files by it
    return DagsterInstance.from_config(str(home))


def observations(cat: Path, key_path: list[str], partition: str, monkeypatch) -> list[dict]:
    """The observations of one variant: its asset's partition."""
    from dagster import AssetKey

    with dagster_instance(cat, monkeypatch) as inst:
        records = inst.fetch_observations(AssetKey(key_path), limit=200).records
        return [{k: v.value for k, v in r.asset_observation.metadata.items()} for r in records
                if r.partition_key == partition]


def test_approve_edit_a_locale_string_build_keeps_the_approved_bytes_published(draft, monkeypatch):
    cat = draft
    ok("approve", "brewlab_launch", "cold_brew_summer", "--note", "launch set", catalog=cat)
    lines = [x for x in (cat / "approvals.yaml").read_text().splitlines() if not x.startswith("#")]
    assert len(lines) == 20 and lines == sorted(lines)
    approved = published(cat)
    assert len(approved) == 20 and all(sha(cat / "out" / rel) == h for rel, h in approved.items())
    assert set(review_states(cat).values()) == {"approved"}

    locale = cat / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht für Macher", "Gebraut für Macher"))
    touched = {*POSTER_DE, STORY_DE}
    plan = plan_json(cat)
    assert {k for k, r in plan.items() if r["status"] != "fresh"} == touched
    assert {k: r["review"]["state"] for k, r in plan.items()} == {k: "changed" if k in touched else "approved" for k in plan}

    text = ok("explain", "brewlab_launch/launch_poster/de/1024x1536", STORY_DE, catalog=cat)
    assert 'prompt: A minimalist poster reading [-"Gebrüht-] {+"Gebraut+} für Macher"' in text
    assert f"upstream {POSTER_DE[0]} (image): sha256:" in text and "-> not built yet" in text

    ok("build", catalog=cat)
    assert {k: s for k, s in review_states(cat).items()} == {k: "changed" if k in touched else "approved" for k in plan}
    assert published(cat) == approved  # byte for byte: the build published nothing new
    assert sha(cat / "out" / "brewlab_launch/launch_poster/de/1024x1536.png") != approved["brewlab_launch/launch_poster/de/1024x1536.png"]

    doc = json.loads(ok("explain", STORY_DE, "--json", catalog=cat))["variants"][0]
    built, against_approved = doc["takes"]
    assert built["changes"] == [] and against_approved["take"] == "approved"
    (change,) = against_approved["changes"]
    new_poster = sha(cat / "out" / "brewlab_launch/launch_poster/de/1024x1536.png")
    assert (change["ref"], change["old"], change["new"]) == (
        POSTER_DE[0], "sha256:" + approved["brewlab_launch/launch_poster/de/1024x1536.png"], "sha256:" + new_poster)

    ok("approve", "locale=de", "--note", "new headline", catalog=cat, env={"ASSETPIPE_REVIEWER": "bo"})
    now = published(cat)
    assert {rel for rel in now if now[rel] != approved[rel]} == {
        "brewlab_launch/launch_poster/de/1024x1536.png", "brewlab_launch/launch_poster/de/1536x1024.png",
        "brewlab_launch/poster_story/de.jpg"}
    assert all(sha(cat / "out" / rel) == h for rel, h in now.items())
    assert set(review_states(cat).values()) == {"approved"}
    manifest = {e["key"]: e for e in json.loads((cat / "published" / "manifest.json").read_text())["variants"]}
    assert manifest[POSTER_DE[0]]["review"]["by"] == "bo" and manifest["brewlab_launch/mug_hero/default"]["review"]["by"] == "ana"
    out_manifest = {e["key"]: e for e in json.loads((cat / "out" / "manifest.json").read_text())["variants"]}
    assert out_manifest[POSTER_DE[0]]["review"]["state"] == "approved"

    # the asset's Dagster timeline shows who approved which take
    seen = observations(cat, ["brewlab_launch", "launch_poster"], "de/1024x1536", monkeypatch)
    assert [(o["review_state"], o["reviewer"], o["sha256"]) for o in seen[:2]] == [
        ("approved", "bo", now["brewlab_launch/launch_poster/de/1024x1536.png"]),
        ("approved", "ana", approved["brewlab_launch/launch_poster/de/1024x1536.png"])]


def test_the_build_run_reports_how_many_variants_await_review(draft, monkeypatch):
    cat = draft
    locale = cat / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht für Macher", "Gebraut für Macher"))
    out = ok("build", catalog=cat)
    assert "review: 20 variant(s) await review (20 pending, 0 changed)" in out
    from dagster import RunsFilter

    with dagster_instance(cat, monkeypatch) as inst:
        run = inst.get_runs(RunsFilter(), limit=1)[0]
        assert run.tags["assetpipe/awaiting_review"] == "11"  # the run's campaign: brewlab_launch


def test_a_rejected_take_is_withdrawn_and_the_next_build_pays_for_exactly_a_new_take(openai_example_built, tmp_path):
    src, env = openai_example_built
    cat = copy_built(src, tmp_path / "catalog")
    set_setting(cat, "publish", "{dir: published}")
    ok("approve", "brewlab_launch", catalog=cat, env=env)
    old = published(cat)["brewlab_launch/mug_hero/default.png"]
    out = ok("reject", "mug_hero", "--note", "the label is blurry", catalog=cat, env=env)
    assert "the next build makes take 1" in out
    assert "brewlab_launch/mug_hero/default.png" not in published(cat)  # the approved take was the rejected one

    plan = plan_json(cat, env=env)
    hero, loft = plan["brewlab_launch/mug_hero/default"], plan["brewlab_launch/mug_loft/default"]
    assert (hero["status"], hero["reasons"], hero["review"]["state"]) == ("changed", ["rejected: the label is blurry"], "rejected")
    assert hero["estimated_cost_usd"] > 0
    assert loft["status"] == "changed" and loft["review"]["state"] == "changed"  # its input will change
    assert [k for k, r in plan.items() if r["status"] != "fresh"] == ["brewlab_launch/mug_hero/default",
                                                                      "brewlab_launch/mug_loft/default"]

    out = ok("build", catalog=cat, env=env)
    paid = sorted(line.split()[1] for line in out.splitlines() if line.startswith("  built"))
    assert paid == ["brewlab_launch/mug_hero/default", "brewlab_launch/mug_loft/default"]
    assert sha(cat / "out" / "brewlab_launch/mug_hero/default.png") != old
    states = review_states(cat, env)
    assert (states["brewlab_launch/mug_hero/default"], states["brewlab_launch/mug_loft/default"]) == ("pending", "changed")
    assert "brewlab_launch/mug_hero/default.png" not in published(cat)
    assert "nothing to do" in ok("build", catalog=cat, env=env)  # the new take is kept, never paid again


def test_a_vendor_swap_keeps_every_approval_valid(openai_example_built, openai_emu, tmp_path):
    src, env = openai_example_built
    cat = copy_built(src, tmp_path / "catalog")
    set_setting(cat, "publish", "{dir: published}")
    ok("approve", "brewlab_launch", "cold_brew_summer", catalog=cat, env=env)
    before = published(cat)
    env = use_openai(cat, openai_emu, name="another_vendor")  # same model, another vendor
    plan = plan_json(cat, env=env)
    assert {r["status"] for r in plan.values()} == {"fresh"}
    assert {r["review"]["state"] for r in plan.values()} == {"approved"}
    assert "nothing to do" in ok("build", catalog=cat, env=env)
    assert openai_emu.calls() == 0 and published(cat) == before


def test_approving_an_unbuilt_variant_is_an_error_that_names_it(tmp_path):
    cat = copy_example(tmp_path / "catalog")
    code, out, err = run_cli("approve", "mug_hero", "mug_loft", catalog=cat, env=ANA)
    assert_clean_failure(code, out, err)
    assert "brewlab_launch/mug_hero/default: never built" in err and "brewlab_launch/mug_loft/default: never built" in err
    assert not (cat / "approvals.yaml").exists()
    code, out, err = run_cli("reject", "mug_hero", catalog=cat, env=ANA)
    assert code == 2 and "--note" in err  # a rejection says why


BROKEN = """\
# Review decisions
brewlab_launch/mug_hero/default: {status: approved, sha256: %s, by: ana, at: 2026-12-01T10:00:00Z}
<<<<<<< HEAD
brewlab_launch/mug_loft/default: {status: approved, sha256: %s, by: ana, at: 2026-12-01T10:00:00Z}
=======
brewlab_launch/mug_loft/default: {status: rejected, sha256: %s, by: bo, at: 2026-12-02T10:00:00Z, take: 1}
>>>>>>> review-bo
""" % ("a" * 64, "b" * 64, "b" * 64)


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["build"], ["approve", "mug_hero"],
                                     ["explain", "mug_hero"]])
def test_a_merge_conflicted_approvals_file_is_a_path_line_error_and_is_kept(tmp_path, command):
    cat = copy_example(tmp_path / "catalog")
    (cat / "approvals.yaml").write_text(BROKEN)
    code, out, err = run_cli(*command, catalog=cat, env=ANA)
    assert_clean_failure(code, out, err)
    assert err.startswith("catalog/approvals.yaml:3: an unresolved merge conflict marker"), err
    assert "catalog/approvals.yaml:5:" in err and "catalog/approvals.yaml:7:" in err
    assert (cat / "approvals.yaml").read_text() == BROKEN


def test_a_hand_edited_typo_is_a_path_line_error(tmp_path):
    cat = copy_example(tmp_path / "catalog")
    (cat / "approvals.yaml").write_text(BROKEN.split("<<<", 1)[0].replace("status:", "stauts:"))
    code, out, err = run_cli("plan", catalog=cat)
    assert_clean_failure(code, out, err)
    assert "catalog/approvals.yaml:2: brewlab_launch/mug_hero/default: unknown field 'stauts' (did you mean 'status'?)" in err



def test_an_approved_hash_the_cache_does_not_hold_is_a_warning_at_its_line_and_is_kept(draft):
    cat = draft
    ok("approve", "mug_hero", "mug_loft", catalog=cat)
    text = (cat / "approvals.yaml").read_text()
    real = sha(cat / "out" / "brewlab_launch" / "mug_loft" / "default.png")
    edited = text.replace(real, "c" * 64) + ("brewlab_launch/mug_gone/default: {status: approved, sha256: %s, by: ana, "
                                             "at: 2026-12-01T10:00:00Z}\n" % ("d" * 64))
    (cat / "approvals.yaml").write_text(edited)
    line = next(n for n, row in enumerate(edited.splitlines(), 1) if row.startswith("brewlab_launch/mug_loft/"))
    for command in (["plan"], ["build"], ["explain", "mug_loft"]):
        code, out, err = run_cli(*command, catalog=cat, env=ANA)
        assert code == 0 and "Traceback" not in out + err, out + err
        assert f"catalog/approvals.yaml:{line}: brewlab_launch/mug_loft/default: the approved sha256 cccccccccccc" in out + err
        gone = "catalog/approvals.yaml:5: brewlab_launch/mug_gone/default is not a variant of this catalog"
        assert (gone in err) == (command[0] != "explain")  # explain speaks of what it was asked about
    assert review_states(cat)["brewlab_launch/mug_loft/default"] == "changed"
    assert (cat / "approvals.yaml").read_text() == edited  # kept as written: the fix is the reviewer's
    assert "brewlab_launch/mug_loft/default.png" not in published(cat)  # published/ holds only what the file approves
    assert "brewlab_launch/mug_hero/default.png" in published(cat)

def test_two_processes_approving_at_once_lose_no_entry(draft):
    cat = draft
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    procs = [subprocess.Popen([str(ASSETPIPE), "--catalog", str(cat), "approve", sel], env={**env, **ANA},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for sel in ("brewlab_launch", "cold_brew_summer")]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, out + err
    assert set(review_states(cat).values()) == {"approved"}
    assert len(published(cat)) == 20


def _writer(path: str, state_dir: str, n: int, start) -> None:
    from pipelines.review import approvals
    from pipelines.review.approvals import Entry

    catalog = SimpleNamespace(approvals_path=Path(path), state_dir=Path(state_dir), rel=str)
    start.wait()
    for i in range(25):
        entry = Entry(status="approved", sha256="c" * 64, by=f"p{n}", at="2026-12-01T10:00:00Z")
        approvals.update(catalog, lambda entries, i=i: entries.update({f"c/a{n}/v{i}": entry}))


def test_writers_in_two_processes_hammering_the_file_lose_no_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "approvals.yaml"), str(tmp_path / "state"), n, start))
             for n in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    from pipelines.review import approvals

    entries = approvals.read(tmp_path / "approvals.yaml")
    assert len(entries) == 50 and {e.by for e in entries.values()} == {"p0", "p1"}


def test_the_reviewer_is_git_user_name_without_the_variable(draft):
    subprocess.run(["git", "init", "-q", str(draft)], check=True)
    subprocess.run(["git", "-C", str(draft), "config", "user.name", "Git Person"], check=True)
    code, out, err = run_cli("approve", "mug_hero", catalog=draft)
    assert code == 0, err
    assert "by: \"Git Person\"" in (draft / "approvals.yaml").read_text()
