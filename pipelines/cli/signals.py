"""Signals around `assetpipe build`: which ones arrived (for the exit code), and SIGTERM before
the run as an interrupt.

During the run Dagster owns SIGINT/SIGTERM (it turns them into an interrupt exception that the
engine handles as a graceful stop: pipelines.engine.stop), so the signal number is read from
Python's wakeup fd, which records every signal that reaches a Python handler, whoever's it is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the run: stop like Ctrl-C does, with SIGTERM's exit code."""

    exit_code = 128 + signal.SIGTERM


class SignalLog:
    """`with SignalLog() as log: ...; log.received()` -> the signal numbers that arrived."""

    def __init__(self) -> None:
        self._r = self._w = -1
        self._old_fd = -1
        self._old_term = None
        self._seen: list[int] = []

    def __enter__(self) -> "SignalLog":
        if threading.current_thread() is not threading.main_thread():
            return self
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        self._old_term = signal.signal(signal.SIGTERM, _terminated)
        return self

    def received(self) -> list[int]:
        if self._r >= 0:
            with contextlib.suppress(BlockingIOError):
                self._seen.extend(os.read(self._r, 256))
        return [s for s in self._seen if s in (signal.SIGINT, signal.SIGTERM)]

    def exit_code(self) -> int:
        """128 + the first stop signal (130 for SIGINT, 143 for SIGTERM); 130 when none was seen."""
        got = self.received()
        return 128 + (got[0] if got else signal.SIGINT)

    def __exit__(self, *exc) -> None:
        if self._w < 0:
            return
        self.received()
        signal.set_wakeup_fd(self._old_fd)
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
        for fd in (self._r, self._w):
            os.close(fd)
        self._r = self._w = -1


def _terminated(signum, frame) -> None:
    raise Terminated()

