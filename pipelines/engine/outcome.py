"""What building one variant came to: the unit the engine streams to Dagster, the CLI and the
manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelines.engine.checks import CheckOutcome
from pipelines.plan.plan import Planned

# built: paid (or rendered) now; cached: a cache hit; failed; skipped: an upstream was not usable;
# held: an earlier call may have been billed, so it is not re-sent (pipelines.engine.calls);
# stopped: the build was stopped before the call was sent, or while it was in flight
OutcomeStatus = Literal["built", "cached", "failed", "skipped", "held", "stopped"]


@dataclass
class Take:
    """One take of a variant in this build (a retake after a failed text check is another)."""

    take: int  # 0 = the first
    cache_key: str
    blob: str
    paid: bool  # paid for in this build (else reused from the store)
    cost_usd: float  # what this build paid for it
    text: str | None  # its text check: passed | failed | not_run, or None without one
    readings: list | None = None  # a failed check's OCR readings


@dataclass
class Outcome:
    planned: Planned  # re-planned at run time: the final cache key
    status: OutcomeStatus
    record: dict[str, Any] | None = None
    error: str | None = None
    output_path: Path | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    maybe_billed: bool = False
    in_flight: bool = False  # stopped while its call was in flight (journaled)
    takes: list[Take] = field(default_factory=list)  # every take this build looked at, in order
    note: str | None = None  # e.g. "its cached image was damaged (quarantined): rebuilt"

    @property
    def key(self) -> str:
        return self.planned.key

    @property
    def billed_by(self) -> str | None:
        """The build that paid for a built result (an earlier one when its job was collected)."""
        return (self.record or {}).get("billed_by_build") if self.status == "built" else None

    @property
    def paid_now_usd(self) -> float:
        """What this build paid for the variant, every take included: nothing for a cache hit or a
        collected job."""
        if self.takes:
            return sum(t.cost_usd for t in self.takes)
        if self.status != "built" or (self.record or {}).get("resumed_from_build"):
            return 0.0
        return float((self.record or {}).get("cost_usd") or 0.0)

    @property
    def ok(self) -> bool:
        return self.status in ("built", "cached")

    @property
    def blocks_dependants(self) -> bool:
        return not self.ok or any(c.blocks for c in self.checks)
