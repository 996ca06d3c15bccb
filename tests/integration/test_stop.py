"""Graceful stop: SIGTERM/SIGINT mid-build stop new creates, let the calls in flight land within
the grace period (stored, never re-sent), journal the rest, and exit non-zero with a summary; a
second signal stops at once. Real builds (the `assetpipe` script) against vendor emulators."""

from __future__ import annotations

import signal
import time

import pytest

from tests.emulators.eachlabs import EachLabsEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paid import ENV, paid_catalog, prompts_of, start_build, wait_until

pytestmark = pytest.mark.slow


def test_sigterm_mid_build_stores_what_is_in_flight_sends_nothing_new_and_the_next_build_resends_nothing(tmp_path):
    with OpenAIEmulator(latency=3.0) as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "openai", 6, max_concurrency=3)
        proc = start_build(cat)
        wait_until(lambda: emu.stats().current == 3, what="3 calls in flight", proc=proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, out + err
        assert time.monotonic() - t0 < 25, "the calls in flight take 3 s: the stop waits for them, no longer"
        assert "Traceback" not in out + err
        assert "stopped by SIGTERM:" in err and "3 result(s) landed and were stored" in err and "3 not sent" in err, err
        assert len(emu.requests("POST")) == 3  # nothing new was sent after the signal
        plan = plan_json(cat, env=ENV)
        assert sum(row["status"] == "fresh" for row in plan.values()) == 3  # the 3 in flight were stored

        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 0, out + err
        posts = emu.requests("POST")
        assert len(posts) == 6 and set(prompts_of(posts).values()) == {1}  # the other 3, once each
        assert all(row["status"] == "fresh" for row in plan_json(cat, env=ENV).values())


def test_a_second_signal_stops_at_once_and_the_calls_it_cut_off_are_held_as_maybe_billed(tmp_path):
    with OpenAIEmulator(latency=20.0) as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "openai", 2)
        proc = start_build(cat)
        wait_until(lambda: emu.stats().current == 2, what="2 calls in flight", proc=proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 12, "a second signal does not wait for the 20 s calls"
        assert proc.returncode == 128 + signal.SIGTERM, out + err
        assert "Traceback" not in out + err
        assert "2 call(s) still in flight were journaled" in err, err
        plan = plan_json(cat, env=ENV)
        for row in plan.values():  # a synchronous call cut off may have been billed: held, not re-sent
            assert row["maybe_billed"] is True and row["estimated_cost_usd"] == 0, row
            assert "in flight when build" in row["reason"] and "may have been billed once already" in row["reason"]


def test_calls_still_in_flight_after_the_grace_period_are_collected_by_the_next_build(tmp_path):
    with EachLabsEmulator(latency=8.0) as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "eachlabs", 3, settings={"stop_grace_s": 1})
        proc = start_build(cat)
        wait_until(lambda: len(emu.creates) == 3, what="3 predictions created", proc=proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 10, "the grace period is 1 s"
        assert proc.returncode == 128 + signal.SIGINT, out + err
        assert "Traceback" not in out + err
        rows = plan_json(cat, env=ENV)
        assert all(not row["maybe_billed"] and "is collected (no new charge)" in row["reason"] for row in rows.values())

        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 0, out + err
        assert len(emu.creates) == 3 and len(emu.predictions) == 3  # collected, not created again
        assert "built 3 (3 collected from earlier builds, paid then)" in out and "paid $0" not in out, out
        assert all(row["status"] == "fresh" for row in plan_json(cat, env=ENV).values())
