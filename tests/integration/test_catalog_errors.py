"""Catalog mistakes through the installed `assetpipe` script: every problem of several files at
once, paths relative to where the command runs, plan and build refusing a bad catalog as validate
does (and spending nothing), a good catalog validating."""

from __future__ import annotations

from tests.helpers.catalogs import blobs, one_campaign, write_catalog
from tests.helpers.cli import assert_clean_failure, run_cli, validate_catalog


def test_all_problems_at_once_across_files_and_stages(tmp_path):
    """A broken file, a broken asset and template problems elsewhere: one run reports them all."""
    files = {
        "campaigns/a.yaml": """
            campaign: a
            assets:
              - name: mug
                prompt: A mug
                qualty: high
              - name: poster
                prompt: "{{ headlin }}"
              - name: mug_loft
                edit: mug
                prompt: loft
            """,
        "campaigns/b.yaml": """
            campaign: b
            vars: {brand: B}
            assets:
              - name: hero
                prompt: "{{ brnd }}"
                size: 9000x9000
              - name: bottle
                edit: {image: refs/product.pgn}
                prompt: terrace
            """,
        "campaigns/c.yaml": "campaign: c\nassets: [\n",
        "refs/product.png": b"",
    }
    found = validate_catalog(tmp_path, files, subprocess=True)
    want = [("campaigns/a.yaml", 5, "unknown key 'qualty'"), ("campaigns/a.yaml", 7, "undefined variable 'headlin'"),
            ("campaigns/b.yaml", 5, "undefined variable 'brnd'"), ("campaigns/b.yaml", 6, "larger than gpt-image-2"),
            ("campaigns/b.yaml", 8, "did you mean 'refs/product.png'"), ("campaigns/c.yaml", 2, "YAML syntax error")]
    assert len(found) == len(want), "\n".join(map(str, found))
    for rel, line, part in want:
        assert any(f[0].endswith(rel) and f[1] == line and part in f[2] for f in found), (rel, line, part, found)
    # mug_loft edits `mug`, whose own entry is broken: that is one problem, not also "unknown upstream"
    assert not any("unknown upstream" in f[2] for f in found)


def test_paths_are_relative_to_where_the_command_runs(tmp_path):
    files = one_campaign("campaign: a\nassets:\n  - {name: x, prompt: hi, qualty: low}\n")
    root = write_catalog(tmp_path / "brand" / "cat", files)
    code, out, err = run_cli("validate", catalog=root, cwd=tmp_path)
    assert_clean_failure(code, out, err)
    assert err.startswith("brand/cat/campaigns/a.yaml:3: asset 'x': unknown key 'qualty'"), err


def test_plan_and_build_refuse_a_bad_catalog_the_same_way(tmp_path):
    files = one_campaign("""
        campaign: a
        assets:
          - name: mug
            prompt: "{{ nope }}"
        """)
    root = write_catalog(tmp_path / "cat", files)
    for cmd in (["plan"], ["plan", "--json"], ["build"]):
        code, out, err = run_cli(*cmd, catalog=root)
        assert_clean_failure(code, out, err)
        assert "campaigns/a.yaml:4: asset 'mug': in prompt: undefined variable 'nope'" in err, (cmd, err)
    assert not blobs(root)
    assert not (root / "out").exists()


def test_a_good_catalog_validates(tmp_path, example_catalog):
    code, out, err = run_cli("validate", catalog=example_catalog)
    assert (code, err) == (0, ""), err
    assert out.strip() == "ok: 2 campaigns, 20 variants"
