"""After a failed build the plan says what the last attempt met, not "never built" (issue #15,
item 8): the engine leaves a note under the cache key it tried; a later success or an edit of the
spec (a new key) makes it disappear."""

from __future__ import annotations

from pathlib import Path

from pipelines.engine.engine import Engine
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog

SETTINGS = """
    check_text: "off"
    providers:
      draft: {type: draft}
      vendor: {type: openai, base_url: "https://api.example.invalid/v1", api_key_env: FH_KEY_NOBODY_SET}
    """


def campaign(hero_provider: str) -> str:
    return f"""
        campaign: c
        assets:
          - name: hero
            prompt: A ceramic mug
            size: 256x256
            provider: {hero_provider}
          - name: loft
            edit: {{image: hero}}
            prompt: In a loft
        """


def build(root: Path) -> dict[str, str]:
    project = Project.load(root)
    plan = project.plan()
    outs = Engine(project.catalog, project.store, project.planner(), project.pool).run(plan.items, plan.by_key)
    return {o.planned.variant.asset: o.status for o in outs}


def reasons(root: Path) -> dict[str, str]:
    return {p.variant.asset: p.reason for p in Project.load(root).plan().items}


def test_plan_says_the_last_attempt_failed_and_why(tmp_path, monkeypatch):
    monkeypatch.delenv("FH_KEY_NOBODY_SET", raising=False)
    root = write_catalog(tmp_path / "cat", {"catalog.yaml": SETTINGS, "campaigns/c.yaml": campaign("vendor")})
    assert reasons(root) == {"hero": "never built", "loft": "never built"}

    assert build(root) == {"hero": "failed", "loft": "skipped"}
    after = reasons(root)
    assert after["hero"].startswith("last attempt failed: ") and "FH_KEY_NOBODY_SET" in after["hero"], after
    assert "never built" not in after["hero"]
    assert after["loft"] == "last attempt was skipped: upstream not usable: c/hero/default (failed)", after


def test_the_note_goes_once_the_variant_builds_or_its_spec_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("FH_KEY_NOBODY_SET", raising=False)
    files = {"catalog.yaml": SETTINGS, "campaigns/c.yaml": campaign("vendor")}
    root = write_catalog(tmp_path / "cat", files)
    build(root)
    write_catalog(root, {"campaigns/c.yaml": campaign("draft")})  # another model: another key
    assert reasons(root) == {"hero": "never built", "loft": "never built"}
    assert build(root) == {"hero": "built", "loft": "built"}
    assert all(p.status == "fresh" for p in Project.load(root).plan().items)


def test_a_long_multiline_error_is_one_short_line(tmp_path):
    from pipelines.plan.failures import reason_of

    text = reason_of({"status": "failed", "error": "vendor said:   no\nsecond line " + "x" * 500})
    assert text == "last attempt failed: vendor said: no"
    assert len(reason_of({"status": "failed", "error": "y" * 900})) < 240
