"""The build's progress while it runs: done/total, calls in flight per vendor, spend so far against
the estimate, and an ETA (issue #15, item 7: 200 real calls take 15 minutes).

Fed by the engine's outcome stream (`outcome`, from the build's on_outcome hook) and by the
provider pool's limiters, which count the calls in flight (`in_flight`). On a terminal the status
is one line kept under the per-variant lines and redrawn as it changes; anywhere else (CI, a log
file) nothing is redrawn: the per-variant lines are printed as they land, plus a plain progress
line every `every_s` seconds while the build runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import Callable, TextIO

from pipelines.engine.outcome import Outcome

CLEAR = "\r\x1b[K"  # carriage return, erase to the end of the line


def is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    def __init__(self, total: int, estimate_usd: float, *, stream: TextIO | None = None,
                 in_flight: Callable[[], dict[str, int]] = dict, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 30.0,
                 width: Callable[[], int] = lambda: shutil.get_terminal_size((100, 24)).columns):
        self.total, self.estimate_usd = total, estimate_usd
        self.stream = stream or sys.stdout
        self.tty = is_terminal(self.stream) if tty is None else tty
        self.in_flight, self.clock, self.every_s, self.width = in_flight, clock, every_s, width
        self.done = self.cached = self.failed = 0
        self.spent_usd = 0.0
        self.started = clock()
        self._last_plain = self.started
        self._shown = False  # a status line is on screen (terminal only)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what happened ---------------------------------------------------------------------------
    def outcome(self, out: Outcome, line: str) -> None:
        """A variant landed: count it and print its line (above the status, on a terminal)."""
        with self._lock:
            self.done += 1
            self.cached += out.status == "cached"
            self.failed += not out.ok
            self.spent_usd += out.paid_now_usd
            if self.tty:
                self.stream.write(CLEAR + line + "\n" + self._fitted())
                self._shown = True
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def tick(self) -> None:
        """Redraw the status (a terminal), or print it as a plain line every `every_s` seconds."""
        with self._lock:
            if self.tty:
                self.stream.write(CLEAR + self._fitted())
                self._shown = True
            elif self.clock() - self._last_plain >= self.every_s and self.done < self.total:
                self._last_plain = self.clock()
                self.stream.write("progress: " + self.status() + "\n")
            else:
                return
            self.stream.flush()

    # -- the status line -------------------------------------------------------------------------
    def eta_s(self) -> float | None:
        """Time left at the pace of the variants that needed work so far (cache hits land at once
        and say nothing about the pace of the calls still to come)."""
        worked = self.done - self.cached
        left = self.total - self.done
        if left <= 0:
            return 0.0
        if worked <= 0:
            return None
        return (self.clock() - self.started) / worked * left

    def status(self) -> str:
        """Counts, money and time first, the vendors last: on a narrow terminal the line is cut
        at its end, and the per-vendor list is the part that can grow."""
        flying = {k: n for k, n in sorted(self.in_flight().items()) if n}
        parts = [f"[{self.done}/{self.total}]"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"spent ${self.spent_usd:.2f} of ${self.estimate_usd:.2f} estimated")
        eta = self.eta_s()
        parts.append(f"ETA {duration(eta)}" if eta is not None else "ETA -")
        parts.append(f"elapsed {duration(self.clock() - self.started)}")
        parts.append("in flight: " + (", ".join(f"{k} {n}" for k, n in flying.items()) if flying else "none"))
        return " | ".join(parts)

    def _fitted(self) -> str:
        """The status cut to the terminal's width: a wrapped line could not be redrawn in place."""
        width = self.width() - 1
        text = self.status()
        return text if len(text) <= width else text[: max(width - 3, 0)] + "..."

    # -- the ticker ------------------------------------------------------------------------------
    def __enter__(self) -> "Progress":
        self._thread = threading.Thread(target=self._run, name="assetpipe-progress", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        period = 0.5 if self.tty else min(self.every_s, 1.0)
        while not self._stop.wait(period):
            self.tick()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._shown:  # leave the terminal as the summary expects it
                self.stream.write(CLEAR)
                self.stream.flush()
                self._shown = False
