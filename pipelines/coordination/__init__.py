"""Where builds meet: single flight per cache key and the vendors' shared slots.

Two backends behind one interface (`Coordinator`):

    local (default)            flock'ed files under <catalog>/.assetpipe/locks: every process on
                               one machine; the kernel drops a dead holder's locks at once
    coordination: postgresql://user@host:port/db   in catalog.yaml (`${VAR}` for secrets):
                               session advisory locks in PostgreSQL, every machine; the server drops
                               a dead holder's locks when its connection ends (pipelines.coordination
                               .postgres says how fast)

The store's `lease(key)` and the providers' Limiters take their objects from here, so the engine
does not know which backend runs. This layer sits below the store (it knows neither catalogs nor
the store) and above the error tree.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.coordination.base import Coordinator, Leases
from pipelines.coordination.local import FileLeases, LocalCoordinator

__all__ = ["Coordinator", "FileLeases", "Leases", "LocalCoordinator", "coordinator_for"]


def coordinator_for(setting: str | None, lock_root: Path, source: str = "catalog.yaml") -> Coordinator:
    """The coordinator for `coordination:` (None: the local files under `lock_root`). `source` is
    where the setting was written (`catalog.yaml:7`), for error messages. Nothing connects yet."""
    if not setting:
        return LocalCoordinator(lock_root)
    from pipelines.coordination.postgres import PgCoordinator

    return PgCoordinator(setting, source, local_root=lock_root)
