"""Coordination on one machine: flock'ed files. A holder that dies loses its locks at once (the
kernel closes its files), so nothing is ever left locked."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path
from typing import AsyncIterator

from pipelines.coordination.base import Coordinator
from providers.limits import FileSlots, SharedSlots


class FileLeases:
    """One lock file per cache key under `lock_dir`."""

    def __init__(self, lock_dir: Path, poll_s: float = 0.05):
        self.lock_dir = Path(lock_dir)
        self.poll_s = poll_s

    def _path(self, key: str) -> Path:
        return self.lock_dir / key[:2] / f"{key}.lock"

    @contextlib.asynccontextmanager
    async def lease(self, key: str) -> AsyncIterator[None]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self.poll_s)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def held(self, key: str) -> bool:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock we took
        return False


class LocalCoordinator(Coordinator):
    """`<lock_root>/keys/` for leases, `<lock_root>/slots/<fingerprint>/` for vendor slots."""

    def __init__(self, lock_root: Path):
        self.root = Path(lock_root)
        self.description = f"lock files under {self.root}"
        self._leases = FileLeases(self.root / "keys")

    def lease(self, key: str):
        return self._leases.lease(key)

    def held(self, key: str) -> bool:
        return self._leases.held(key)

    def slots(self, fingerprint: str, limit: int) -> SharedSlots:
        return FileSlots(self.root / "slots" / fingerprint[:16], limit)
