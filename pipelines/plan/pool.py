"""Provider instances for one catalog: built lazily, one per configured name, sharing limits.

Each provider's Limiter keeps its slot files under the catalog's state dir, so every assetpipe
process on this machine (CLI build, UI run, schedule) shares one set of N slots per vendor key.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from pipelines.catalog.loader import Catalog
from providers.base import ImageProvider, ImageRequest
from providers.limits import Limiter
from providers.registry import provider_class


class ProviderPool:
    def __init__(self, catalog: Catalog, lock_dir: Path | None = None, client: httpx.AsyncClient | None = None):
        self.catalog = catalog
        self.lock_dir = lock_dir if lock_dir is not None else catalog.state_dir / "locks" / "slots"
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
            cls = provider_class(cfg.type)
            limiter = Limiter(name, cfg.max_concurrency, cfg.requests_per_minute, lock_dir=self.lock_dir)
            p = cls(name, cfg, client=self.client, uploader=self.uploader(), limiter=limiter)
            self._providers[name] = p
        return p

    def estimate(self, name: str, req: ImageRequest) -> float:
        override = self.catalog.settings.pricing.get(name)
        if override is not None:
            return float(override)
        return float(self.get(name).estimate_cost(req))

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()
