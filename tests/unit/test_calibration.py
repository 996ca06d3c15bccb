"""The calibration history: one file per build, summed over the recent ones, damaged files skipped,
estimates without a bill left out."""

from __future__ import annotations

import pytest

from pipelines.cache import calibration
from pipelines.cache.store import Store


def calls(*pairs, provider="openai", lane="sync"):
    return [{"provider": provider, "lane": lane, "estimate_usd": e, "billed_usd": b} for e, b in pairs]


def test_history_sums_builds_and_says_how_far_off(tmp_path):
    store = Store(str(tmp_path / "cache"))
    assert calibration.summary(store) is None
    assert calibration.record(store, calls((0.05, None)), "t") is None  # no bill: nothing to learn
    calibration.record(store, calls((0.05, 0.04), (0.10, 0.12)), "2026-12")
    calibration.record(store, calls((0.06, 0.06), provider="runapi", lane="batch"), "2026-12")
    s = calibration.summary(store)
    assert (s["builds"], s["calls"]) == (2, 3)
    assert s["estimated_usd"] == pytest.approx(0.21) and s["billed_usd"] == pytest.approx(0.22)
    assert s["billed_over_estimate"] == round(0.22 / 0.21, 3)
    assert s["providers"]["openai"]["mean_abs_error_usd"] == pytest.approx(0.015)
    assert s["providers"]["runapi"]["billed_over_estimate"] == 1.0
    line = calibration.describe(s)
    assert "last 2 build(s), 3 billed call(s)" in line and "runapi 1.0x over 1 call(s)" in line


def test_only_recent_builds_count_and_damage_is_skipped(tmp_path):
    store = Store(str(tmp_path / "cache"))
    for i in range(5):
        calibration.record(store, calls((1.0, 1.0 + i)), "t")
    store.write_file("calibration/99999999T999999999999-zzzz.json", b"{not json")
    s = calibration.summary(store, recent=3)
    assert s["builds"] == 2  # the newest three files, one of them damaged
    assert s["billed_usd"] == pytest.approx(4.0 + 5.0)
