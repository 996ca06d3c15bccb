"""A loaded catalog with everything needed to plan it: variants, store, hasher, providers.

Used by the CLI, the Dagster definitions and the schedules alike, so all three agree on keys.
`first_takes` says which take each variant's next build starts from (a rejected take is retaken):
the review layer supplies it from approvals.yaml (`pipelines.review.project.load_project`, which every
entry point uses); a bare `Project.load` starts every variant at take 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from pipelines.cache.batches import open_keys
from pipelines.cache.hashing import FileHasher
from pipelines.cache.journal import StoreJournal
from pipelines.cache.store import Store
from pipelines.catalog.expanded import expanded
from pipelines.catalog.loader import Catalog, load_catalog
from pipelines.catalog.variant import Variant
from pipelines.catalog.variants import expand
from pipelines.coordination import Coordinator, coordinator_for
from pipelines.errors import CatalogError, CatalogIssue
from pipelines.plan import lanes
from pipelines.plan.failures import annotate_failures
from pipelines.plan.plan import FirstTake, Plan, Planner
from pipelines.plan.pool import ProviderPool
from pipelines.plan.requests import estimate_request
from pipelines.plan.unsettled import annotate


@dataclass
class Project:
    catalog: Catalog
    variants: list[Variant]
    store: Store
    hasher: FileHasher
    pool: ProviderPool = field(default=None)  # type: ignore[assignment]
    coordinator: Coordinator = field(default=None)  # type: ignore[assignment]
    first_takes: Callable[[], Mapping[str, FirstTake]] = dict  # read at every plan: a rejection needs no reload
    lane: str | None = None  # `--lane`: overrides the catalog's and the campaigns' `lane:`

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
        """The price of building `v` in its lane (the batch lane at the batch price)."""
        if v.provider is None:
            return 0.0
        if lanes.lane_of(self, v) == "batch":
            return self.pool.estimate(lanes.batch_entry(self, v.provider), estimate_request(v), lane="batch")
        return self.pool.estimate(v.provider, estimate_request(v))

    def sync_estimate(self, v: Variant) -> float:
        """The price of one synchronous take of `v` (a retake always is one)."""
        return 0.0 if v.provider is None else self.pool.estimate(v.provider, estimate_request(v))

    def planner(self) -> Planner:
        return Planner(self.catalog, self.store, self.hasher, self.estimate, self.sync_estimate,
                       first_takes=self.first_takes())

    @property
    def journal(self) -> StoreJournal:
        return StoreJournal(self.store)

    def plan(self, only: Iterable[str] | None = None) -> Plan:
        """Every variant, or (`only`) these variant keys and everything upstream of them: a step of
        a split build plans its own variants, not the whole catalog (each plan reads the store)."""
        variants = self.variants if only is None else self.upstream_closure(only)
        try:
            plan = self.planner().plan(variants)
        finally:
            self.hasher.save()
        providers = self.catalog.settings.providers
        annotate(plan, self.journal, self.store, lambda name: providers[name].type if name in providers else None)
        lanes.price_unsettled(self, plan)
        lanes.annotate_pending(plan, open_keys(self.store), self.sync_estimate)
        annotate_failures(plan, self.store)
        return plan

    def upstream_closure(self, keys: Iterable[str]) -> list[Variant]:
        """The variants named by `keys` and all their upstream variants, in the catalog's
        dependency order."""
        by_key = {v.key: v for v in self.variants}
        wanted: set[str] = set()
        stack = [k for k in keys if k in by_key]
        while stack:
            k = stack.pop()
            if k not in wanted:
                wanted.add(k)
                stack.extend(u for u in by_key[k].upstream_keys if u in by_key)
        return [v for v in self.variants if v.key in wanted]

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
        issues += [_at(v.source, f"{v.key}: {problem}") for v, problem in lanes.lane_problems(self)]
        return issues

    def _problems(self, v: Variant, n_images: int, has_mask: bool) -> list[tuple[str, bool]]:
        """(message, about the provider as a whole rather than this variant's request)."""
        try:
            provider = self.pool.get(v.provider)
        except Exception as exc:  # unknown type, bad options
            return [(f"provider {v.provider!r}: {exc}", True)]
        return [(p, False) for p in provider.problems(estimate_request(v))]

    def validate(self) -> None:
        issues = self.provider_issues()
        if issues:
            raise CatalogError(issues)


def _at(source: str, message: str) -> CatalogIssue:
    path, _, line = source.rpartition(":")
    return CatalogIssue(path, int(line) if line.isdigit() else 0, message)
