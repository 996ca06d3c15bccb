"""A loaded catalog with everything needed to plan it: variants, store, hasher, providers.

Used by the CLI, the Dagster definitions and the schedules alike, so all three agree on keys.
`first_takes` says which take each variant's next build starts from (a rejected take is retaken):
the review layer supplies it from approvals.yaml (`pipelines.review.project.load_project`, which every
entry point uses); a bare `Project.load` starts every variant at take 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from pipelines.cache.hashing import FileHasher
from pipelines.cache.journal import StoreJournal
from pipelines.cache.store import Store
from pipelines.catalog.loader import Catalog, load_catalog
from pipelines.catalog.variant import Variant
from pipelines.catalog.variants import expand
from pipelines.coordination import Coordinator, coordinator_for
from pipelines.errors import CatalogError, CatalogIssue
from pipelines.plan.failures import annotate_failures
from pipelines.plan.plan import FirstTake, Plan, Planner
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
    first_takes: Callable[[], Mapping[str, FirstTake]] = dict  # read at every plan: a rejection needs no reload

    @classmethod
    def load(cls, root: Path | str) -> "Project":
        catalog = load_catalog(root, partial=True)  # expand() reports loading problems with its own
        variants = expand(catalog)
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
        return Planner(self.catalog, self.store, self.hasher, self.estimate, self.first_takes())

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
        annotate_failures(plan, self.store)
        return plan

    def provider_issues(self) -> list[CatalogIssue]:
        """What the configured vendors cannot do, found before anything is spent."""
        issues = []
        for v in self.variants:
            if v.provider is None:
                continue
            try:
                provider = self.pool.get(v.provider)
            except Exception as exc:  # unknown type, bad options
                issues.append(_at(v.source, f"provider {v.provider!r}: {exc}"))
                continue
            dummy = InputImage(Path("x.png"), "0" * 64, "x.png")
            images = tuple(dummy for i in v.inputs if i.role == "image")
            mask = dummy if any(i.role == "mask" for i in v.inputs) else None
            for problem in provider.problems(request_for(v, "", images, mask)):
                issues.append(_at(v.source, f"{v.key}: {problem}"))
        return issues

    def validate(self) -> None:
        issues = self.provider_issues()
        if issues:
            raise CatalogError(issues)


def _at(source: str, message: str) -> CatalogIssue:
    path, _, line = source.rpartition(":")
    return CatalogIssue(path, int(line) if line.isdigit() else 0, message)
