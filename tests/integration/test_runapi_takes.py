"""RunAPI takes: the Idempotency-Key includes the take, and the journal of paid calls says which
take comes next, so `--refresh` and a result that proved unusable pay for a new task instead of
replaying the old one; the cost reported is what was paid (a task collected from an earlier build
costs this one nothing, and says so)."""

from __future__ import annotations

import pytest

from providers.runapi import idempotency_key
from tests.emulators.runapi import RunApiEmulator
from tests.helpers.catalogs import manifest
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paid import ENV, paid_catalog

pytestmark = pytest.mark.slow


def _keys(emu) -> list[str]:
    return [r.headers["idempotency-key"] for r in emu.creates]


def test_refresh_starts_a_new_take_and_reports_what_it_paid(tmp_path):
    with RunApiEmulator() as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "runapi", 1)
        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 0, out + err
        [row] = plan_json(cat, env=ENV).values()
        code, out, err = run_cli("build", "--refresh", catalog=cat, env=ENV)
        assert code == 0, out + err
        assert len(emu.tasks) == 2  # a new task, not a replay of the first one
        assert _keys(emu) == [idempotency_key(row["cache_key"], 0), idempotency_key(row["cache_key"], 1)]
        assert "built 1 (paid $0.06)" in out
        [entry] = manifest(cat)["variants"]
        assert entry["cost_usd"] == 0.06 and entry["request_id"] != next(iter(emu.tasks))


def test_an_unusable_result_makes_the_next_build_pay_for_a_new_take_not_replay_it(tmp_path):
    with RunApiEmulator() as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "runapi", 1)
        emu.inject("truncated_image", on="/api/v1/gpt_image_2", method="POST")
        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 1 and "Traceback" not in out + err
        assert "may have been billed" in err  # the vendor made (and billed) an image that does not decode
        [row] = plan_json(cat, env=ENV).values()
        assert row["status"] == "missing" and not row["maybe_billed"]  # settled: the next build re-sends it

        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 0, out + err
        assert _keys(emu) == [idempotency_key(row["cache_key"], 0), idempotency_key(row["cache_key"], 1)]
        assert len(emu.tasks) == 2 and all(r["status"] == "fresh" for r in plan_json(cat, env=ENV).values())
