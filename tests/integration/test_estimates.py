"""Estimates against bills, through the real CLI and a loopback vendor: every paid image's record
carries the price table's estimate and the vendor's own bill (its `usage` tokens), the build says
how far they were apart, the manifest keeps both, and `plan` reports the running calibration."""

from __future__ import annotations

import json
import re

from providers import pricing
from tests.helpers.catalogs import manifest
from tests.helpers.cli import run_cli
from tests.helpers.vendors import use_openai


def test_build_shows_estimate_against_bill_and_plan_keeps_the_history(example_catalog, openai_emu):
    env = use_openai(example_catalog, openai_emu)
    code, out, err = run_cli("plan", catalog=example_catalog, env=env)
    assert code == 0, err
    assert "estimates vs bills: no vendor-reported bill recorded yet" in out

    code, out, err = run_cli("build", catalog=example_catalog, env=env)
    assert code == 0, out + err
    paid = [e for e in manifest(example_catalog)["variants"] if e["provider"] == "openai"]
    assert len(paid) == 13
    for e in paid:
        assert e["billed_basis"] == "usage tokens" and e["lane"] == "sync"
        assert e["billed_usd"] == e["cost_usd"] > 0 and e["estimate_usd"] > 0
    est = sum(e["estimate_usd"] for e in paid)
    billed = sum(e["billed_usd"] for e in paid)
    totals = manifest(example_catalog)["totals"]["estimate_vs_billed"]
    assert totals["billed_calls"] == 13
    assert totals["estimated_usd"] == round(est, 4) and totals["billed_usd"] == round(billed, 4)
    m = re.search(r"estimate vs bill: 13 call\(s\) estimated \$(\d+\.\d+), vendors billed \$(\d+\.\d+)", out)
    assert m, out
    assert float(m.group(1)) == round(est, 4) and float(m.group(2)) == round(billed, 4)

    files = list((example_catalog / ".assetpipe" / "cache" / "calibration").iterdir())
    assert len(files) == 1
    code, out, err = run_cli("plan", "--json", catalog=example_catalog, env=env)
    history = json.loads(out)["totals"]["calibration"]
    assert history["calls"] == 13 and history["builds"] == 1
    assert history["price_tables"] == [pricing.PRICE_TABLE_VERSION]
    assert history["billed_over_estimate"] == round(billed / est, 3)
    assert history["providers"]["openai"]["calls"] == 13
    code, out, err = run_cli("plan", catalog=example_catalog, env=env)
    assert re.search(r"estimates vs bills \(last 1 build\(s\), 13 billed call\(s\)\): vendors billed \$\d+\.\d\d "
                     r"against \$\d+\.\d\d estimated, \d\.\d+x \(openai \d\.\d+x over 13 call\(s\)\)", out), out
