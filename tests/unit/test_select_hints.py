"""`--select` that matches nothing suggests what was meant (issue #15, item 14): the closest
campaign, asset, variant key, matrix key or value; else what there is to select."""

from __future__ import annotations

import pytest

from pipelines.catalog.loader import load_catalog
from pipelines.catalog.select import select
from pipelines.catalog.variants import expand
from pipelines.errors import SelectionError
from tests.helpers.catalogs import write_catalog
from tests.helpers.cli import run_cli_inprocess

SALE = """\
campaign: winter_sale
locales: [en, de]
assets:
  - name: sale_poster
    matrix: {locale: "{{ locales }}", size: [1024x1536, 1536x1024]}
    prompt: A poster
"""


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    root = write_catalog(tmp_path_factory.mktemp("sel") / "cat", {"campaigns/winter_sale.yaml": SALE,
                                                                  "locales/en.yaml": "x: 1\n", "locales/de.yaml": "x: 1\n"})
    return root, expand(load_catalog(root))


@pytest.mark.parametrize("term, hint", [
    ("winter_sael", " (did you mean 'winter_sale'?)"),
    ("sale_postr", " (did you mean 'sale_poster'?)"),
    ("winter_sale/sale_postr", " (did you mean 'winter_sale/sale_poster'?)"),
    ("lcale=de", " (did you mean locale=de?)"),
    ("locale=dee", " (did you mean locale=de?)"),
    ("locale=fr", "; locale is one of: de, en"),
    ("colour=red", "; no variant has a value for 'colour'"),
    ("qqq", " (a selector is a campaign, an asset, campaign/asset, a glob over keys such as '*/poster/de/*', or "
            "locale=de); campaigns: winter_sale; `assetpipe plan` lists every variant key"),
])
def test_a_selector_that_matches_nothing_says_what_was_meant(variants, term, hint):
    with pytest.raises(SelectionError) as err:
        select(variants[1], [term])
    assert str(err.value) == f"{term!r} matches no variant{hint}"


def test_the_cli_prints_it_as_a_usage_error(variants):
    code, out, err = run_cli_inprocess("plan", "--select", "winter_sael", catalog=variants[0])
    assert code == 2 and err.strip() == "error: 'winter_sael' matches no variant (did you mean 'winter_sale'?)"
