"""One notion of take for review and text retakes: a rejected take moves the variant's takes past
every take it has had, and text retakes count on from there, each take its own cache key, none
paid twice. The vendor is the OpenAI emulator drawing the requested text, misspelling chosen takes."""

from __future__ import annotations

import pytest

from pipelines.review import approvals
from tests.emulators.openai import TakesOpenAI
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.vendors import TEST_KEY, TEST_KEY_ENV
from tests.text_samples import needs_ocr

pytestmark = [pytest.mark.slow, needs_ocr("en")]
KEY = "shop/poster/default"
ENV = {TEST_KEY_ENV: TEST_KEY, "ASSETPIPE_REVIEWER": "ana"}


@pytest.fixture
def emu():
    with TakesOpenAI(latency=0.01, draw_text=True) as e:
        yield e


def test_a_rejection_after_a_retake_starts_past_it_and_retakes_count_on(tmp_path, emu):
    emu.misspell = [True, False, True, False]  # takes 0 and 2 misspelt, 1 and 3 right
    cat = write_catalog(tmp_path / "c", {
        "catalog.yaml": f"""
            default_provider: vendor
            providers:
              vendor: {{type: openai, base_url: "{emu.base_url}", api_key_env: {TEST_KEY_ENV}, max_retries: 0}}
            check_text: auto
            defaults: {{quality: low, retakes: 1}}
            """,
        "campaigns/shop.yaml": """
            campaign: shop
            assets:
              - name: poster
                prompt: A poster reading "Fresh Roast Daily" above a coffee cup
                size: 1024x1024
            """,
    })
    assert run_cli("build", catalog=cat, env=ENV)[0] == 0
    assert emu.calls() == 2 and manifest(cat)["variants"][0]["take"] == 2  # take 1 (the second) kept

    code, out, err = run_cli("reject", KEY, "--note", "the cup looks like a bowl", catalog=cat, env=ENV)
    assert code == 0, out + err
    assert approvals.read(cat / "approvals.yaml")[KEY].take == 2  # past takes 0 and 1
    row = plan_json(cat, env=ENV)[KEY]
    assert (row["status"], row["reasons"], row["max_takes"]) == ("changed", ["rejected: the cup looks like a bowl"], 2)

    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 0, out + err
    assert emu.calls() == 4  # take 2 misspelt, its one retake (take 3) right: nothing more
    entry = manifest(cat)["variants"][0]
    assert (entry["takes"], entry["take"], entry["review"]["state"]) == (2, 4, "pending")
    assert "nothing to do" in run_cli("build", catalog=cat, env=ENV)[1] and emu.calls() == 4
