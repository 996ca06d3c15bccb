"""Whole-call deadlines: a vendor that answers one byte every 0.7 s never trips a read timeout
(timeout_s bounds the gap between bytes), so `deadline_s` bounds the whole call: create, polls and
download, sync or async. When it fires the slot is released and the message says what may have
been billed."""

from __future__ import annotations

import asyncio
import time

import pytest

from providers.base import ImageRequest, ProviderConfig
from providers.eachlabs import EachLabsProvider
from providers.errors import AmbiguousError
from providers.openai_compat import OpenAIProvider
from tests.emulators.eachlabs import EachLabsEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paid import ENV, paid_catalog, prompts_of

KEY = "sk-deadline-test-0a9b8c7d"


def _provider(cls, emu, **cfg):
    config = ProviderConfig(type=cls.type_name, base_url=emu.base_url, api_key_env="K", max_retries=0,
                            download_hosts=emu.download_hosts, poll_interval_s=0.05, **cfg)
    return cls(cls.type_name, config, env={"K": KEY})


def _request(key: str = "k1") -> ImageRequest:
    return ImageRequest(cache_key=key, operation="generate", prompt="A poster", width=1024, height=1024)


async def _run_twice(p):
    """The first call meets the slow vendor; the second must get the one slot right after."""
    t0 = time.monotonic()
    try:
        with pytest.raises(AmbiguousError) as info:
            await p.run(_request("k1"))
        first = time.monotonic() - t0
        assert p.limiter.in_flight == 0  # the slot was released when the deadline fired
        await p.run(_request("k2"))
        return info.value, first
    finally:
        await p.aclose()


def test_a_slow_loris_synchronous_answer_ends_at_deadline_s_and_frees_the_slot():
    with OpenAIEmulator() as emu:
        emu.inject("slow_loris", method="POST", interval=0.7)
        p = _provider(OpenAIProvider, emu, timeout_s=3, deadline_s=4, max_concurrency=1)
        err, took = asyncio.run(_run_twice(p))
    assert 4 <= took < 6, took
    assert "deadline_s 4" in str(err) and "may have been billed" in str(err) and err.maybe_billed


def test_a_slow_loris_result_download_ends_at_deadline_s_keeping_the_job_id():
    with EachLabsEmulator() as emu:
        emu.inject("slow_loris", on="/files/", interval=0.7)
        p = _provider(EachLabsProvider, emu, timeout_s=3, deadline_s=4, max_concurrency=1)
        err, took = asyncio.run(_run_twice(p))
    assert 4 <= took < 6, took
    assert err.request_id in emu.predictions and err.request_id in str(err)
    assert "kept in the journal" in str(err) and "deadline_s 4" in str(err)


@pytest.mark.slow
def test_a_build_against_a_slow_loris_vendor_ends_within_deadline_s_and_says_it_may_have_been_billed(tmp_path):
    with OpenAIEmulator(latency=0.05) as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "openai", 2, timeout_s=3, deadline_s=15, max_concurrency=1,
                           max_retries=0)
        emu.inject("slow_loris", method="POST", interval=0.7)
        code, out, err = run_cli("build", catalog=cat, env=ENV, timeout=120)
        ended = time.time()
        [first, second] = sorted(emu.requests("POST"), key=lambda r: r.at)
        assert first.fault == "slow_loris" and second.fault is None
        # the whole build, from the slow call's start: its 15 s deadline, then the other variant
        assert ended - first.at < 15 + 8, (ended - first.at, out, err)
        assert code == 1 and "Traceback" not in out + err
        assert "deadline_s 15" in out and "may have been billed" in out, out
        assert "may have been billed by the vendor" in err
    rows = plan_json(cat, env=ENV)
    assert sorted(row["status"] == "fresh" for row in rows.values()) == [False, True]
    [held] = [row for row in rows.values() if row["status"] != "fresh"]
    assert held["maybe_billed"] and "may have been billed once already" in held["reason"]
    assert set(prompts_of(emu.requests("POST")).values()) == {1}
