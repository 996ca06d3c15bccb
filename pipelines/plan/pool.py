"""Provider instances for one catalog: built lazily, one per configured name, sharing limits.

Each provider's Limiter holds the shared slots of its vendor key, named by the key's fingerprint
(never the key): with the default coordination, slot files under the catalog's state dir (every
assetpipe process on this machine: CLI build, UI run, schedule); with `coordination:` in
PostgreSQL (every machine, every catalog using that key). Two provider entries with one key share
its slots; the largest `max_concurrency` configured for a key is then the bound of them all.
A provider without a key (draft) does local work: its slots are this machine's, by provider name.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from pipelines.catalog.loader import Catalog
from pipelines.coordination import Coordinator, LocalCoordinator
from providers.base import ImageProvider, ImageRequest, ProviderConfig
from providers.limits import FileSlots, Limiter, SharedSlots, key_fingerprint
from providers.pricing import lane_factor
from providers.registry import provider_class


class ProviderPool:
    def __init__(self, catalog: Catalog, lock_dir: Path | None = None, client: httpx.AsyncClient | None = None,
                 coordinator: Coordinator | None = None):
        self.catalog = catalog
        self.lock_dir = lock_dir if lock_dir is not None else catalog.state_dir / "locks" / "slots"
        self.coordinator = coordinator or LocalCoordinator(self.lock_dir.parent)
        self.client = client
        self._providers: dict[str, ImageProvider] = {}
        self._uploader = None

    def uploader(self):
        up = self.catalog.settings.uploads
        if up is None:
            return None
        if self._uploader is None:
            from providers.uploads import Uploader

            target = up.target if "://" in up.target else str(self.catalog.resolve(up.target))
            self._uploader = Uploader(target, up.public_url)
        return self._uploader

    def get(self, name: str) -> ImageProvider:
        p = self._providers.get(name)
        if p is None:
            cfg = self.catalog.settings.providers[name]
            if cfg.type == "pool":  # its members are this catalog's own instances, limits and all
                from pipelines.plan.pools import PoolProvider

                p = PoolProvider(name, cfg, [self.get(m) for m in cfg.members or []], self.estimate)
                self._providers[name] = p
                return p
            cls = provider_class(cfg.type)
            limiter = Limiter(name, cfg.max_concurrency, cfg.requests_per_minute, shared=self._slots(name, cfg))
            p = cls(name, cfg, client=self.client, uploader=self.uploader(), limiter=limiter)
            self._providers[name] = p
        return p

    def _slots(self, name: str, cfg: ProviderConfig) -> SharedSlots:
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        if not key:
            return FileSlots(self.lock_dir / f"local-{_safe(name)}", cfg.max_concurrency)
        return self.coordinator.slots(key_fingerprint(cfg.type, cfg.base_url, key), cfg.max_concurrency)

    def estimate(self, name: str, req: ImageRequest, lane: str = "sync") -> float:
        """USD for one call of entry `name`: catalog.yaml's `pricing:` override (the synchronous
        price) or the price table, times the lane's share (the Batch API: half)."""
        cfg = self.catalog.settings.providers[name]
        factor = 1.0 if cfg.type == "pool" else lane_factor(cfg.type, lane)
        override = self.catalog.settings.pricing.get(name)
        if override is not None:
            return float(override) * factor
        return float(self.get(name).estimate_cost(req)) * factor

    def estimate_for(self, maker: str, configured: str, req: ImageRequest) -> float | None:
        """The estimate for the provider entry that made an image (a pool's member), else for the
        entry the variant names; None when neither prices (the maker is not in this catalog)."""
        for name in (maker, configured):
            if name in self.catalog.settings.providers:
                try:
                    return self.estimate(name, req)
                except ValueError:
                    return None
        return None

    def in_flight(self) -> dict[str, int]:
        """Calls in flight now per provider name, as its limiter counts them (read by the CLI's
        progress display from another thread: plain int reads)."""
        counts = {name: getattr(getattr(p, "limiter", None), "in_flight", None)
                  for name, p in list(self._providers.items())}
        return {name: n for name, n in counts.items() if isinstance(n, int)}

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()

    def members(self, name: str) -> list[str]:
        """The entries that may make an image for `name`: a pool's members, else the entry itself."""
        cfg = self.catalog.settings.providers[name]
        return list(cfg.members or []) if cfg.type == "pool" else [name]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
