"""A missing vendor key is found before the build that needs it (issue #15, item 12): `validate`,
`plan` and `build --dry-run` warn (exit 0) with the variable and how many variants need it."""

from __future__ import annotations

import pytest

from tests.helpers.catalogs import write_catalog
from tests.helpers.cli import run_cli_inprocess

FILES = {
    "catalog.yaml": """
        check_text: "off"
        default_provider: vendor
        providers:
          draft: {type: draft}
          vendor: {type: openai, base_url: "https://api.example.invalid/v1", api_key_env: FH_VENDOR_KEY}
        """,
    "campaigns/a.yaml": """
        campaign: a
        assets:
          - name: mug
            matrix: {tone: [warm, cool]}
            prompt: A mug, {{ tone }} light
          - name: sketch
            prompt: A sketch
            provider: draft
          - name: thumb
            render: {from: mug, size: 64x64}
        """,
}
COMMANDS = [("validate",), ("plan",), ("build", "--dry-run")]


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_a_missing_key_is_a_warning_naming_it_and_the_variants_that_need_it(tmp_path, monkeypatch, cmd):
    monkeypatch.delenv("FH_VENDOR_KEY", raising=False)
    root = write_catalog(tmp_path / "cat", FILES)
    code, out, err = run_cli_inprocess(*cmd, catalog=root)
    assert code == 0, err
    [line] = [x for x in err.splitlines() if "FH_VENDOR_KEY" in x]
    assert line.startswith("warning: FH_VENDOR_KEY is not set") and "2 variant(s) of provider vendor" in line, line
    assert "draft" not in line  # the offline provider needs no key; renditions call nobody


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_no_warning_once_the_key_is_exported(tmp_path, monkeypatch, cmd):
    monkeypatch.setenv("FH_VENDOR_KEY", "sk-test")
    root = write_catalog(tmp_path / "cat", FILES)
    code, out, err = run_cli_inprocess(*cmd, catalog=root)
    assert code == 0 and "warning" not in err, err
