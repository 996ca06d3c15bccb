"""The coordination interface: what the store's single flight and the vendor limiters need."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import AsyncContextManager, Protocol

from providers.limits import SharedSlots


class Leases(Protocol):
    """Single flight per cache key: `lease(key)` is held while a key is produced."""

    def lease(self, key: str) -> AsyncContextManager[None]: ...

    def held(self, key: str) -> bool: ...


class Coordinator(ABC):
    description: str  # for messages: never a secret

    @abstractmethod
    def lease(self, key: str) -> AsyncContextManager[None]:
        """Hold the right to produce `key`; every other holder of this coordinator waits."""

    @abstractmethod
    def held(self, key: str) -> bool:
        """Whether some build holds `key`'s lease right now (a peek: never waits)."""

    @abstractmethod
    def slots(self, fingerprint: str, limit: int) -> SharedSlots:
        """The shared slots of one vendor key (`providers.limits.key_fingerprint`)."""

    def check(self) -> None:
        """Raise CoordinationError now, before anything is paid, when the backend is unusable."""

    def close(self) -> None:
        """Release what this process holds (process exit does it too)."""
