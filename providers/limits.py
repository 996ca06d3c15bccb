"""Concurrency and request-rate limits for one vendor key.

`Limiter.slot()` bounds the jobs in flight (a job lasts from the create request to its last poll,
which is what vendors count). Within one process an asyncio semaphore does it; a `SharedSlots`
object extends the bound to other processes: `FileSlots` (flock'ed files under a directory, every
process on one machine) or one injected from above (pipelines.coordination: slots held in
PostgreSQL, every machine). The layer that knows where processes meet decides; providers only
take the object, so they import nothing from pipelines.

Shared slots are named by `key_fingerprint(...)`: a salted hash of the vendor, its base URL and
the API key, never the key itself, so two provider entries (or two catalogs) that use one key
share its limit.

`Limiter.pace()` spaces create requests to `requests_per_minute` (within the process).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import time
from pathlib import Path
from typing import AsyncContextManager, AsyncIterator, Protocol

FINGERPRINT_SALT = "assetpipe-vendor-key-v1"


def key_fingerprint(vendor_type: str, base_url: str | None, api_key: str) -> str:
    """Names a vendor key without revealing it (32 hex digits of a salted sha256)."""
    text = "\0".join((FINGERPRINT_SALT, vendor_type, (base_url or "").rstrip("/"), api_key))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SharedSlots(Protocol):
    """Slots other processes see: `hold()` waits for one of `limit` slots and keeps it."""

    limit: int

    def hold(self) -> AsyncContextManager[None]: ...


class FileSlots:
    """`limit` slot files under `lock_dir`, each held with flock: shared by every process on the
    machine, and released by the kernel when a holder dies."""

    def __init__(self, lock_dir: str | os.PathLike, limit: int, poll_s: float = 0.05):
        self.lock_dir = Path(lock_dir)
        self.limit = limit
        self.poll_s = poll_s

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        fd = await self._acquire()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def _acquire(self) -> int:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        while True:
            for i in range(self.limit):
                fd = os.open(self.lock_dir / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    os.close(fd)
            await asyncio.sleep(self.poll_s)


class Limiter:
    def __init__(
        self,
        name: str,
        max_concurrency: int,
        requests_per_minute: float | None = None,
        lock_dir: str | os.PathLike | None = None,
        poll_s: float = 0.05,
        shared: SharedSlots | None = None,
    ):
        """`shared` (or, short for FileSlots, `lock_dir`) makes the slots visible to other processes."""
        self.name = name
        self.max_concurrency = max_concurrency
        self.rpm = requests_per_minute
        if shared is None and lock_dir:
            shared = FileSlots(Path(lock_dir) / _safe(name), max_concurrency, poll_s)
        self.shared = shared
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
        async with self._local():  # this process first: only its winners wait on the shared slots
            async with self.shared.hold() if self.shared else contextlib.nullcontext():
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    yield
                finally:
                    self.in_flight -= 1

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
