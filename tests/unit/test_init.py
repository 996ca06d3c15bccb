"""`assetpipe init [DIR]` (issue #15, item 17): a new, minimal, commented catalog that validates and
plans at once on the offline draft provider, and never overwrites anything. (That it builds is
tests/integration/test_init_build.py.)"""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.init import FILES
from pipelines.plan.project import Project
from tests.helpers.cli import run_cli_inprocess


def test_init_writes_a_catalog_that_validates_and_plans_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = run_cli_inprocess("init", str(tmp_path / "starter"), cwd=tmp_path)
    assert code == 0, err
    root = tmp_path / "starter"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(FILES)
    assert "assetpipe --catalog starter build" in out  # the next step, with the directory given
    code, out, err = run_cli_inprocess("validate", catalog=root)
    assert (code, out.strip(), err) == (0, "ok: 1 campaign, 2 variants", "")  # no key warning: all draft
    project = Project.load(root)
    project.validate()
    plan = {p.key: p for p in project.plan().items}
    assert set(plan) == {"first_campaign/hero/en", "first_campaign/hero_square/en"}
    hero = plan["first_campaign/hero/en"]
    assert hero.variant.provider == "draft" and hero.est_cost == 0
    assert '"Fresh Every Morning"' in hero.variant.prompt and "soft daylight" in hero.variant.prompt  # locale, partial
    assert plan["first_campaign/hero_square/en"].variant.provider is None  # a local rendition


def test_every_file_says_what_it_is_for():
    for rel, text in FILES.items():
        if rel.endswith((".yaml", ".j2", ".gitignore")):
            assert text.lstrip().startswith(("#", "{#")), rel


def test_the_default_directory_is_the_catalog_and_needs_no_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSETPIPE_CATALOG", raising=False)
    code, out, err = run_cli_inprocess("init", cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "assets_spec" / "catalog.yaml").is_file()
    assert "  assetpipe build" in out and "--catalog" not in out


def test_a_directory_with_files_is_refused_and_left_alone(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "catalog.yaml").write_text("default_provider: openai\n")
    code, out, err = run_cli_inprocess("init", str(root), cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    assert "mine is not empty" in err and "nothing was written" in err
    assert [p.name for p in root.iterdir()] == ["catalog.yaml"]
    assert (root / "catalog.yaml").read_text() == "default_provider: openai\n"


def test_an_empty_directory_is_fine_and_a_file_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    assert run_cli_inprocess("init", str(tmp_path / "empty"), cwd=tmp_path)[0] == 0
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli_inprocess("init", str(tmp_path / "afile"), cwd=tmp_path)
    assert code == 1 and "afile is a file" in err
