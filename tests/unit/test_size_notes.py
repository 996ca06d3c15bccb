"""A size gpt-image-2 cannot make exactly is accepted, and `validate` and `plan` say once per asset
and size that vendors are asked for the nearest valid size and the image is resized (issue #15,
item 13)."""

from __future__ import annotations

from tests.helpers.catalogs import write_catalog
from tests.helpers.cli import run_cli_inprocess

CAMPAIGN = """\
campaign: a
locales: [en, de]
assets:
  - name: square
    matrix: {locale: "{{ locales }}"}
    size: 1000x1000
    prompt: A poster
  - name: fine
    size: 1024x1024
    prompt: A mug
  - name: thumb
    render: {from: square, size: 333x222}
"""


def test_an_inexact_size_is_noted_once_with_the_size_asked_for(tmp_path):
    root = write_catalog(tmp_path / "cat", {"campaigns/a.yaml": CAMPAIGN,
                                            "locales/en.yaml": "x: 1\n", "locales/de.yaml": "x: 1\n"})
    note = ("cat/campaigns/a.yaml:4: note: size 1000x1000 is not one gpt-image-2 makes (both sides must be multiples "
            "of 16): vendors are asked for the nearest valid size, 1008x1008, and the image is resized to 1000x1000 "
            "(2 variants, e.g. a/square/en)")
    for command in ("validate", "plan"):
        code, out, err = run_cli_inprocess(command, catalog=root)
        assert code == 0, err
        lines = [line for line in err.splitlines()]
        assert lines == [note], command  # once for both locales; nothing for the valid size or the rendition


def test_a_valid_size_says_nothing(tmp_path):
    root = write_catalog(tmp_path / "cat", {"campaigns/a.yaml": "campaign: a\nassets:\n  - {name: m, prompt: A mug, size: 1536x1024}\n"})
    code, out, err = run_cli_inprocess("validate", catalog=root)
    assert (code, err) == (0, "")
