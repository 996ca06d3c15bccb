"""A loaded catalog with everything needed to plan it: variants, store, hasher, providers.

Used by the CLI, the Dagster definitions and the schedules alike, so all three agree on keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.cache.hashing import FileHasher
from pipelines.cache.journal import StoreJournal
from pipelines.cache.store import Store
from pipelines.catalog.expanded import expanded
from pipelines.catalog.loader import Catalog, load_catalog
from pipelines.catalog.variant import Variant
from pipelines.catalog.variants import expand
from pipelines.coordination import Coordinator, coordinator_for
from pipelines.errors import CatalogError, CatalogIssue
from pipelines.plan.plan import Plan, Planner
from pipelines.plan.pool import ProviderPool
from pipelines.plan.requests import request_for
from pipelines.plan.unsettled import annotate
from providers.base import InputImage


@dataclass
class Project:
    catalog: Catalog
    variants: list[Variant]
    store: Store
    hasher: FileHasher
    pool: ProviderPool = field(default=None)  # type: ignore[assignment]
    coordinator: Coordinator = field(default=None)  # type: ignore[assignment]

    @classmethod
    def load(cls, root: Path | str) -> "Project":
        catalog = load_catalog(root, partial=True)  # expand() reports loading problems with its own
        variants = expanded(catalog, expand)  # remembered while the catalog's files are unchanged
        coordinator = coordinator_for(catalog.settings.coordination, catalog.state_dir / "locks",
                                      source=f"{catalog.settings_lines.path}:{catalog.settings_lines.line(('coordination',))}")
        store = Store(catalog.cache_url, leases=coordinator)
        hasher = FileHasher(catalog.state_dir)
        return cls(catalog, variants, store, hasher, ProviderPool(catalog, coordinator=coordinator), coordinator)

    def check_shared(self) -> None:
        """Before anything is paid: the cache can be written and the coordination reached
        (StoreError / CoordinationError otherwise)."""
        self.store.check()
        self.coordinator.check()

    def estimate(self, v: Variant) -> float:
        if v.provider is None:
            return 0.0
        return self.pool.estimate(v.provider, request_for(v, ""))

    def planner(self) -> Planner:
        return Planner(self.catalog, self.store, self.hasher, self.estimate)

    @property
    def journal(self) -> StoreJournal:
        return StoreJournal(self.store)

    def plan(self) -> Plan:
        try:
            plan = self.planner().plan(self.variants)
        finally:
            self.hasher.save()
        providers = self.catalog.settings.providers
        annotate(plan, self.journal, self.store, lambda name: providers[name].type if name in providers else None)
        return plan

    def provider_issues(self) -> list[CatalogIssue]:
        """What the configured vendors cannot do, found before anything is spent."""
        issues = []
        # a vendor's answer depends on the operation and the number of inputs, not on the variant:
        # asked once per kind of request (100,000 variants are a handful of kinds)
        seen: dict[tuple, list[str]] = {}
        for v in self.variants:
            if v.provider is None:
                continue
            n_images = sum(i.role == "image" for i in v.inputs)
            has_mask = any(i.role == "mask" for i in v.inputs)
            kind = (v.provider, v.operation, n_images, has_mask)
            if kind not in seen:
                seen[kind] = self._problems(v, n_images, has_mask)
            issues.extend(_at(v.source, message if whole else f"{v.key}: {message}") for message, whole in seen[kind])
        return issues

    def _problems(self, v: Variant, n_images: int, has_mask: bool) -> list[tuple[str, bool]]:
        """(message, about the provider as a whole rather than this variant's request)."""
        try:
            provider = self.pool.get(v.provider)
        except Exception as exc:  # unknown type, bad options
            return [(f"provider {v.provider!r}: {exc}", True)]
        dummy = InputImage(Path("x.png"), "0" * 64, "x.png")
        return [(p, False) for p in provider.problems(request_for(v, "", (dummy,) * n_images, dummy if has_mask else None))]

    def validate(self) -> None:
        issues = self.provider_issues()
        if issues:
            raise CatalogError(issues)


def _at(source: str, message: str) -> CatalogIssue:
    path, _, line = source.rpartition(":")
    return CatalogIssue(path, int(line) if line.isdigit() else 0, message)
