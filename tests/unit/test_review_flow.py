"""Review end to end in one process (draft images, no Dagster): approve, edit a locale string,
rebuild, publish, reject and retake, explain. The CLI and Dagster paths are in
tests/integration/test_review_cli.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipelines.engine.engine import Engine
from pipelines.errors import ReviewError
from pipelines.outputs.write import write_outputs
from pipelines.review import actions, approvals, publish
from pipelines.review.explain import explain
from pipelines.review.project import approvals_of, load_project
from pipelines.review.states import review_infos
from tests.helpers.catalogs import write_catalog

CATALOG = {
    "catalog.yaml": 'check_text: "off"\npublish: {dir: published}\n',
    "locales/en.yaml": "headline: Brewed for makers\n",
    "locales/de.yaml": "headline: Gebrüht für Macher\n",
    "campaigns/shop.yaml": """
        campaign: shop
        locales: [en, de]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}"}
            prompt: A poster reading "{{ t.headline }}", bold type on a warm background
            size: 1024x1024
          - name: story
            render: {from: poster, size: 256x256}
            matrix: {locale: "{{ locales }}"}
        """,
}
KEYS = ["shop/poster/en", "shop/poster/de", "shop/story/en", "shop/story/de"]


def build(root: Path):
    """What `assetpipe build` does, minus Dagster: the engine, then the outputs (and publishing)."""
    project = load_project(root)
    plan = project.plan()
    todo = [p for p in plan.items if p.status != "fresh"]
    engine = Engine(project.catalog, project.store, project.planner(), project.pool)
    outcomes = {o.key: o for o in engine.run(todo, plan.by_key)}
    assert all(o.ok for o in outcomes.values()), [o.error for o in outcomes.values()]
    write_outputs(project, project.plan(), outcomes)
    return project, engine, outcomes


def states(project) -> dict[str, str]:
    return {k: i.state for k, i in review_infos(project.plan(), approvals_of(project)).items()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def built(tmp_path):
    root = write_catalog(tmp_path / "cat", CATALOG)
    project, _, _ = build(root)
    return root, project


def keys_of(project) -> list[str]:
    return [v.key for v in project.variants]


def test_approve_edit_rebuild_keeps_the_approved_bytes_published_until_approved_again(built):
    root, project = built
    assert sorted(keys_of(project)) == sorted(KEYS)
    assert set(states(project).values()) == {"pending"}
    assert not (root / "published" / "shop").exists()  # nothing approved, nothing published

    actions.approve(project, ["shop"], reviewer="ana", note="launch set")
    publish.sync(project)
    assert set(states(project).values()) == {"approved"}
    out, pub = root / "out", root / "published"
    approved = {rel: sha(out / rel) for rel in ("shop/poster/de.png", "shop/story/de.png",
                                                "shop/poster/en.png", "shop/story/en.png")}
    assert {rel: sha(pub / rel) for rel in approved} == approved

    locale = root / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht", "Gebraut"))
    project, _, outcomes = build(root)
    assert set(outcomes) == {"shop/poster/de", "shop/story/de"}  # only what the edit touched
    assert states(project) == {"shop/poster/en": "approved", "shop/poster/de": "changed",
                               "shop/story/en": "approved", "shop/story/de": "changed"}
    assert {rel: sha(pub / rel) for rel in approved} == approved  # the build published nothing new
    assert sha(out / "shop/poster/de.png") != approved["shop/poster/de.png"]

    manifest = json.loads((pub / "manifest.json").read_text())
    rows = {r["key"]: r for r in manifest["variants"]}
    assert rows["shop/poster/de"]["review"] == {"state": "changed", "by": "ana", "at": rows[
        "shop/poster/de"]["review"]["at"], "note": "launch set"}
    out_manifest = {e["key"]: e for e in json.loads((out / "manifest.json").read_text())["variants"]}
    assert out_manifest["shop/poster/de"]["review"]["state"] == "changed"
    assert 'class="review changed"' in (out / "index.html").read_text()

    actions.approve(project, ["locale=de"], reviewer="bo")
    publish.sync(project)
    assert set(states(project).values()) == {"approved"}
    assert sha(pub / "shop/poster/de.png") == sha(out / "shop/poster/de.png")
    entries = approvals.read(root / "approvals.yaml")
    assert entries["shop/poster/de"].by == "bo" and entries["shop/poster/en"].by == "ana"


def test_a_rejected_take_is_withdrawn_and_the_next_build_makes_a_new_take_pending_review(built):
    root, project = built
    actions.approve(project, ["shop"], reviewer="ana")
    publish.sync(project)
    old = sha(root / "out/shop/poster/en.png")
    actions.reject(project, ["shop/poster/en"], reviewer="bo", note="the mug is upside down")
    report = publish.sync(project)
    assert report.withdrawn == ["shop/poster/en.png"]
    assert not (root / "published/shop/poster/en.png").exists()

    plan = project.plan()
    p = plan.by_key["shop/poster/en"]
    assert (p.status, p.reasons) == ("changed", ["rejected: the mug is upside down"])
    assert plan.by_key["shop/story/en"].status == "changed"  # its upstream will change
    assert states(project)["shop/poster/en"] == "rejected"

    project, engine, outcomes = build(root)
    assert engine.calls == 1 and outcomes["shop/poster/en"].status == "built"
    assert sha(root / "out/shop/poster/en.png") != old
    assert states(project)["shop/poster/en"] == "pending"
    assert project.plan().by_key["shop/poster/en"].status == "fresh"  # the retake is kept, not redone


@pytest.mark.parametrize("note", ["", "   "])
def test_a_rejection_without_a_note_is_refused_and_writes_nothing(built, note):
    root, project = built
    with pytest.raises(ReviewError, match="a rejection needs a note"):
        actions.reject(project, ["shop/poster/en"], reviewer="bo", note=note)
    assert not (root / "approvals.yaml").exists()


def test_approving_what_is_not_built_is_an_error_naming_it(tmp_path):
    root = write_catalog(tmp_path / "cat", CATALOG)
    project = load_project(root)
    with pytest.raises(ReviewError) as exc:
        actions.approve(project, ["shop/poster/*"], reviewer="ana")
    assert "shop/poster/en: never built" in str(exc.value)
    assert "shop/poster/de: never built" in str(exc.value)
    assert not (root / "approvals.yaml").exists()
    with pytest.raises(ReviewError, match="no take to reject"):
        actions.reject(project, ["shop/poster/en"], reviewer="ana", note="no")


def test_an_edited_but_unbuilt_variant_cannot_be_approved(built):
    root, project = built
    locale = root / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht", "Gebraut"))
    with pytest.raises(ReviewError) as exc:
        actions.approve(load_project(root), ["shop"], reviewer="ana")
    assert "shop/poster/de: the built image is not what the catalog asks for now (changed: prompt" in str(exc.value)
    assert not (root / "approvals.yaml").exists()  # all or nothing


def test_explain_names_the_prompt_words_and_the_upstream_that_changed(built):
    root, project = built
    actions.approve(project, ["shop"], reviewer="ana")
    locale = root / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht", "Gebraut"))
    project = load_project(root)
    before = {i["key"]: i for i in explain(project, project.plan(), approvals_of(project), KEYS)}
    poster = before["shop/poster/de"]["takes"][0]
    assert poster["take"] == "built"
    prompt = next(c for c in poster["changes"] if c["what"] == "prompt")
    assert prompt["diff"].startswith('A poster reading [-"Gebrüht-] {+"Gebraut+} für Macher"')
    story = before["shop/story/de"]["takes"][0]["changes"]
    assert story == [{"what": "input", "role": "image", "kind": "upstream", "ref": "shop/poster/de",
                      "old": story[0]["old"], "new": story[0]["new"], "upstream_status": "changed"}]
    assert story[0]["new"].startswith("key:")  # not built yet
    assert before["shop/poster/en"]["takes"][0]["changes"] == []

    project, _, _ = build(root)
    after = explain(project, project.plan(), approvals_of(project), ["shop/story/de"])[0]
    built_take, approved_take = after["takes"]
    assert built_take["changes"] == [] and approved_take["take"] == "approved"
    change = approved_take["changes"][0]
    new_poster = sha(root / "out/shop/poster/de.png")
    assert change["ref"] == "shop/poster/de" and change["new"] == f"sha256:{new_poster}"
    assert change["old"].startswith("sha256:") and change["old"] != change["new"]


def test_the_page_cannot_approve_or_reject_a_take_a_build_replaced_after_it_was_shown(built):
    from pipelines.review.server import ReviewApp

    root, project = built
    app = ReviewApp(project, "ana", reload=lambda: load_project(root))
    shown = {v["key"]: v["built"]["sha256"] for v in app.variants()["variants"]}
    locale = root / "locales" / "de.yaml"
    locale.write_text(locale.read_text().replace("Gebrüht", "Gebraut"))
    build(root)  # a colleague's build lands while the page is open

    for action in ("approve", "reject"):
        with pytest.raises(ReviewError) as err:
            app.decide({"action": action, "keys": ["shop/poster/de", "shop/poster/en"], "note": "x",
                        "seen": {k: shown[k] for k in ("shop/poster/de", "shop/poster/en")}})
        assert "shop/poster/de: the take you looked at" in str(err.value) and "shop/poster/en:" not in str(err.value)
        assert not (root / "approvals.yaml").exists()  # nothing decided, not even the unchanged one

    now = {v["key"]: v["built"]["sha256"] for v in app.variants()["variants"]}
    app.decide({"action": "approve", "keys": ["shop/poster/de"], "seen": {"shop/poster/de": now["shop/poster/de"]}})
    assert approvals.read(root / "approvals.yaml")["shop/poster/de"].sha256 == now["shop/poster/de"] != shown["shop/poster/de"]


def test_an_approved_hash_the_cache_does_not_hold_and_a_removed_variant_are_path_line_warnings(built):
    from pipelines.review.checks import entry_problems

    root, project = built
    actions.approve(project, ["shop/poster"], reviewer="ana")
    path = root / "approvals.yaml"
    real = approvals.read(path)["shop/poster/de"].sha256
    text = path.read_text().replace(real, "f" * 64)  # a hand edit, or a cache cleared since
    path.write_text(text + f"shop/gone/default: {{status: approved, sha256: {real}, by: bo, at: 2026-12-01T10:00:00Z}}\n")
    line = {k: n for n, row in enumerate(path.read_text().splitlines(), 1) for k in ("shop/poster/de", "shop/gone/default")
            if row.startswith(k + ":")}

    plan = project.plan()
    problems = [str(i) for i in entry_problems(project, plan, approvals_of(project))]
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:{line['shop/gone/default']}", f"{path}:{line['shop/poster/de']}"]
    assert "not a variant of this catalog" in problems[0] and "is no image in the cache" in problems[1]
    assert states(project)["shop/poster/de"] == "changed" and states(project)["shop/poster/en"] == "approved"

    report = publish.sync(project, plan)  # nothing was published before: the edited hash cannot be
    assert report.problems == [problems[1]] and not (root / "published/shop/poster/de.png").exists()
    item, = explain(project, plan, approvals_of(project), ["shop/poster/de"])
    assert item["problems"] == [problems[1]]


def test_approving_a_rejected_take_after_all_makes_it_current_again_at_no_cost(built):
    root, project = built
    key = "shop/poster/en"
    shown = sha(root / "out/shop/poster/en.png")
    actions.reject(project, [key], reviewer="bo", note="too dark")
    assert project.plan().by_key[key].status == "changed"

    actions.approve(project, [key], reviewer="bo", note="on second look, fine")
    entry = approvals.read(root / "approvals.yaml")[key]
    assert (entry.status, entry.sha256, entry.take) == ("approved", shown, 0)
    assert project.plan().by_key[key].status == "fresh" and states(project)[key] == "approved"
    publish.sync(project)
    assert sha(root / "published/shop/poster/en.png") == shown
    _, engine, outcomes = build(root)
    assert engine.calls == 0 and not outcomes  # nothing to pay for

    locale = root / "locales" / "en.yaml"  # a rejected take whose recipe moved on cannot be approved
    actions.reject(project, [key], reviewer="bo", note="too dark after all")
    locale.write_text("headline: Brewed for all of us\n")
    with pytest.raises(ReviewError, match=f"{key}: the built image is not what the catalog asks for now"):
        actions.approve(load_project(root), [key], reviewer="bo")
