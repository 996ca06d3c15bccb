"""`retakes` in the catalog: catalog defaults < campaign defaults < asset, a whole number 0-10,
never on a rendition (it makes no paid call); and what the plan prices for it."""

from __future__ import annotations

from pipelines.catalog.loader import load_catalog
from pipelines.catalog.variants import expand
from tests.helpers.catalogs import write_catalog
from tests.helpers.cli import run_cli_inprocess


def _variants(root, catalog_yaml: str, asset_extra: str = "", campaign_defaults: str = ""):
    cat = write_catalog(root, {
        "catalog.yaml": catalog_yaml,
        "campaigns/c.yaml": f"""
            campaign: c
            {campaign_defaults}
            assets:
              - name: poster
                prompt: A poster reading "SALE"
                {asset_extra}
              - name: crop
                render: {{from: poster, size: 512x512}}
            """,
    })
    return cat, {v.key: v for v in expand(load_catalog(cat))}


def test_retakes_come_from_the_nearest_layer(tmp_path):
    _, vs = _variants(tmp_path / "a", "defaults: {retakes: 1}\n")
    assert vs["c/poster/default"].retakes == 1
    _, vs = _variants(tmp_path / "b", "defaults: {retakes: 1}\n", campaign_defaults="defaults: {retakes: 3}")
    assert vs["c/poster/default"].retakes == 3
    _, vs = _variants(tmp_path / "c", "defaults: {retakes: 1}\n", asset_extra="retakes: 0",
                      campaign_defaults="defaults: {retakes: 3}")
    assert vs["c/poster/default"].retakes == 0
    assert vs["c/crop/default"].retakes == 0  # a rendition makes no paid call to retake
    assert vs["c/crop/default"].text == ("SALE",)  # but it is checked for its upstream's text


def test_a_bad_retakes_is_an_error_on_its_line(tmp_path):
    cat = write_catalog(tmp_path / "b", {
        "campaigns/c.yaml": """
            campaign: c
            assets:
              - name: poster
                prompt: A poster reading "SALE"
                retakes: 11
            """,
    })
    code, out, err = run_cli_inprocess("validate", catalog=cat)
    assert code == 1 and "c.yaml:5:" in err and "retakes" in err and "10" in err, err


def test_the_plan_prices_one_call_per_possible_take(tmp_path):
    cat, _ = _variants(tmp_path / "a", "defaults: {retakes: 2}\npricing: {draft: 0.25}\n")
    code, out, err = run_cli_inprocess("plan", catalog=cat)
    assert code == 0, err
    assert "$0.75" in out and "up to 3 takes" in out and "worst case" in out, out
