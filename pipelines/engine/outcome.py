"""What building one variant came to: the unit the engine streams to Dagster, the CLI and the
manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelines.engine.checks import CheckOutcome
from pipelines.plan.plan import Planned

# built: paid (or rendered) now; cached: a cache hit; failed; skipped: an upstream was not usable
OutcomeStatus = Literal["built", "cached", "failed", "skipped"]


@dataclass
class Outcome:
    planned: Planned  # re-planned at run time: the final cache key
    status: OutcomeStatus
    record: dict[str, Any] | None = None
    error: str | None = None
    output_path: Path | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    maybe_billed: bool = False

    @property
    def key(self) -> str:
        return self.planned.key

    @property
    def ok(self) -> bool:
        return self.status in ("built", "cached")

    @property
    def blocks_dependants(self) -> bool:
        return not self.ok or any(c.blocks for c in self.checks)
