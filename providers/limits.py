"""Concurrency and request-rate limits for one vendor key.

`Limiter.slot()` bounds the jobs in flight (a job lasts from the create request to its last poll,
which is what vendors count). Within one process an asyncio semaphore does it; with `lock_dir`
each slot is also an flock'ed file, so every assetpipe process on the machine (a CLI build and a
scheduled run, say) shares the same N slots and together never exceeds the vendor's limit.

`Limiter.pace()` spaces create requests to `requests_per_minute` (within the process).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import AsyncIterator


class Limiter:
    def __init__(
        self,
        name: str,
        max_concurrency: int,
        requests_per_minute: float | None = None,
        lock_dir: str | os.PathLike | None = None,
        poll_s: float = 0.05,
    ):
        self.name = name
        self.max_concurrency = max_concurrency
        self.rpm = requests_per_minute
        self.lock_dir = Path(lock_dir) / _safe(name) if lock_dir else None
        self.poll_s = poll_s
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_start = 0.0
        self._pace_lock: asyncio.Lock | None = None
        self.in_flight = 0
        self.peak_in_flight = 0

    def _local(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:
            self._loop = loop
            self._sem = asyncio.Semaphore(self.max_concurrency)
            self._pace_lock = asyncio.Lock()
        return self._sem

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        sem = self._local()
        async with sem:
            fd = await self._acquire_file_slot() if self.lock_dir else None
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)

    async def _acquire_file_slot(self) -> int:
        assert self.lock_dir is not None
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        while True:
            for i in range(self.max_concurrency):
                fd = os.open(self.lock_dir / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
            await asyncio.sleep(self.poll_s)

    async def pace(self) -> None:
        """Wait until another create request is allowed under requests_per_minute."""
        if not self.rpm:
            return
        self._local()
        assert self._pace_lock is not None
        async with self._pace_lock:
            now = time.monotonic()
            wait = self._next_start - now
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_start = max(now, self._next_start) + 60.0 / self.rpm


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
