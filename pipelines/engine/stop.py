"""Stopping a build gracefully: what SIGTERM and SIGINT mean to the engine.

Kubernetes, systemd, a Dagster run's cancel and Ctrl-C all say "stop" with SIGTERM or SIGINT. The
first one `request`s a stop: no new create is sent (a call that has not left fails with
NotSentError: nothing billed), the calls in flight get `grace_s` (catalog.yaml `stop_grace_s`,
default 30 s) to land and be stored, then whatever is still in flight is cancelled. A second
signal `force`s that at once. Either way every create was journaled before it left
(pipelines.cache.journal), so the next build collects the jobs it can and holds the synchronous
calls that may have been billed.

Inside a Dagster run the signal arrives as Dagster's interrupt exception in the thread that
consumes the engine's results (or closes the asset's generator): `Engine.stream` turns either
into a `request`, and `forcing_signals` makes a second signal `force` while it drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Callable, Iterator

DEFAULT_GRACE_S = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """One build's stop switch, safe to flip from any thread (a signal handler included)."""

    def __init__(self, grace_s: float = DEFAULT_GRACE_S):
        self.grace_s = float(grace_s)
        self.requested = False
        self.forced = False
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel: Callable[[], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, cancel: Callable[[], None]) -> None:
        """The engine's loop and how to cancel its calls in flight (called in that loop)."""
        with self._lock:
            self._loop, self._cancel = loop, cancel
            requested, forced = self.requested, self.forced
        if forced:
            cancel()
        elif requested:
            loop.call_later(self.grace_s, self._grace_over)

    def detach(self) -> None:
        with self._lock:
            self._loop = self._cancel = None

    def request(self, reason: str = "a stop signal") -> None:
        """Stop sending creates; cancel what is still in flight after the grace period. A second
        request forces the stop."""
        with self._lock:
            if self.requested:
                again = True
            else:
                again = False
                self.requested, self.reason = True, reason
                loop = self._loop
        if again:
            self.force("a second stop signal")
            return
        _note(self)
        if loop is not None:
            loop.call_soon_threadsafe(loop.call_later, self.grace_s, self._grace_over)

    def force(self, reason: str = "a second stop signal") -> None:
        """Cancel every call in flight now (their journal entries stay open)."""
        with self._lock:
            if self.forced:
                return
            self.requested = self.forced = True
            self.reason = reason
            loop, cancel = self._loop, self._cancel
        _note(self)
        if loop is not None and cancel is not None and not loop.is_closed():
            loop.call_soon_threadsafe(cancel)

    def _grace_over(self) -> None:
        if not self.forced:
            self.force(f"still in flight after the {self.grace_s:g} s grace period")


_last: list[Stop] = []


def _note(stop: Stop) -> None:
    if not _last or _last[-1] is not stop:
        _last.append(stop)


def last_stop() -> Stop | None:
    """The most recent stop requested in this process (the CLI reads it after a build)."""
    return _last[-1] if _last else None


def forget_stops() -> None:
    _last.clear()


@contextlib.contextmanager
def forcing_signals(stop: Stop) -> Iterator[None]:
    """While the engine drains after a stop: SIGINT/SIGTERM force it (main thread only; elsewhere
    signals cannot be handled and this does nothing). The previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, lambda signum, frame: stop.force(f"a second stop signal ({signal.Signals(signum).name})"))
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
