"""The review state of each variant, from its approvals.yaml entry and its plan.

    approved   the approved sha256 is the built take, and a build would keep it
    pending    never reviewed (or its rejected take was retaken and nothing was approved before)
    changed    approved once, but the built or the planned take differs (the approved bytes stay
               published until the new take is approved)
    rejected   the built take is the rejected one: the next build pays for a new take
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipelines.plan.plan import Plan, Planned
from pipelines.review.approvals import Entry

ReviewState = Literal["approved", "pending", "changed", "rejected"]
STATES: tuple[ReviewState, ...] = ("pending", "changed", "rejected", "approved")
AWAITING: tuple[ReviewState, ...] = ("pending", "changed")  # a take someone has to look at


@dataclass(frozen=True)
class ReviewInfo:
    key: str
    state: ReviewState
    entry: Entry | None
    built: str | None  # sha256 of the built take (the file in output_dir)
    next: str | None  # sha256 a build would leave there; None when a build has to pay for it

    @property
    def approved(self):
        return self.entry.approved_take if self.entry else None

    def to_json(self) -> dict[str, Any]:
        """The `review` field of plan --json and manifest.json."""
        e, a = self.entry, self.approved
        out: dict[str, Any] = {"state": self.state, "by": None, "at": None, "note": None,
                               "approved_sha256": a.sha256 if a else None}
        if e is not None:
            out.update(by=e.by, at=e.at, note=e.note)
            if e.status == "rejected":
                out["rejected_sha256"] = e.sha256
        return out


def state_of(entry: Entry | None, built: str | None, next_: str | None) -> ReviewState:
    if entry is None:
        return "pending"
    if entry.status == "rejected" and entry.sha256 in (built, next_):
        return "rejected"
    approved = entry.approved_take
    if approved is None:
        return "pending"  # the rejected take was retaken: the new one awaits its first review
    return "approved" if built == next_ == approved.sha256 else "changed"


def info_of(p: Planned, entry: Entry | None) -> ReviewInfo:
    built = (p.head or {}).get("blob")
    next_ = p.record["blob"] if p.record else None
    return ReviewInfo(p.key, state_of(entry, built, next_), entry, built, next_)


def review_infos(plan: Plan, entries: dict[str, Entry]) -> dict[str, ReviewInfo]:
    return {p.key: info_of(p, entries.get(p.key)) for p in plan.items}


def counts(infos) -> dict[str, int]:
    out = {s: 0 for s in STATES}
    for i in infos:
        out[i.state] += 1
    return out
