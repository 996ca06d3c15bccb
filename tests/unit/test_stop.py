"""The stop switch: a first request stops new creates and cancels what is still in flight after
the grace period; a second one (or `force`) cancels at once; a request made before the engine's
loop is attached takes effect when it is."""

from __future__ import annotations

import asyncio
import threading

from pipelines.engine.stop import Stop, last_stop


async def _in_flight(stop: Stop, seconds: float) -> tuple[bool, float]:
    """One long call; returns (cancelled?, when it ended)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    task = asyncio.create_task(asyncio.sleep(seconds))
    stop.attach(loop, task.cancel)
    try:
        await task
        return False, loop.time() - t0
    except asyncio.CancelledError:
        return True, loop.time() - t0
    finally:
        stop.detach()


def _request_from_another_thread(stop: Stop, after: float, times: int = 1) -> None:
    def go():
        for _ in range(times):
            stop.request()

    threading.Timer(after, go).start()


def test_the_grace_period_lets_a_short_call_finish():
    stop = Stop(grace_s=2.0)
    _request_from_another_thread(stop, 0.1)
    cancelled, took = asyncio.run(_in_flight(stop, 0.5))
    assert not cancelled and stop.requested and not stop.forced
    assert last_stop() is stop


def test_a_call_longer_than_the_grace_period_is_cancelled_when_it_runs_out():
    stop = Stop(grace_s=0.3)
    _request_from_another_thread(stop, 0.1)
    cancelled, took = asyncio.run(_in_flight(stop, 10))
    assert cancelled and 0.35 <= took < 2 and stop.forced and "grace period" in stop.reason


def test_a_second_request_cancels_at_once():
    stop = Stop(grace_s=30)
    _request_from_another_thread(stop, 0.1, times=2)
    cancelled, took = asyncio.run(_in_flight(stop, 10))
    assert cancelled and took < 2 and stop.reason == "a second stop signal"


def test_a_request_before_the_loop_is_attached_still_counts():
    stop = Stop(grace_s=0.2)
    stop.request()
    cancelled, took = asyncio.run(_in_flight(stop, 10))
    assert cancelled and took < 2
