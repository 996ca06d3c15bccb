"""The last failed attempt at a variant, so `plan` says "last attempt failed: <reason>" instead of
"never built" after a failed build.

A build that fails (or skips) a variant writes a small note in the store, keyed by the cache key it
tried (`notes/failed/`): what happened, the build and when. The plan reads it only for a variant
that still has no result under that key, so a later success, or an edit that changes the key,
makes it disappear from the plan by itself. The journal of paid calls (pipelines.cache.journal)
is not enough: it knows only calls that were sent, not a refused request, a failed render or a
variant skipped for its upstream.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pipelines.cache.store import Store
from pipelines.plan.plan import Plan

NOTE = "failed"
MAX_REASON = 200  # one line of a plan row; the manifest of that build has the whole error


def note_failure(store: Store, cache_key: str, status: str, error: str | None, build: str) -> None:
    """Remember that building `cache_key` ended `status` (failed | skipped) with `error`."""
    store.put_note(NOTE, cache_key, {"status": status, "error": (error or "")[:2000], "build": build,
                                     "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def last_failure(store: Store, cache_key: str) -> dict[str, Any] | None:
    return store.get_note(NOTE, cache_key)


def reason_of(note: dict[str, Any]) -> str:
    first = " ".join(str(note.get("error") or "no reason recorded").split("\n", 1)[0].split())
    if len(first) > MAX_REASON:
        first = first[: MAX_REASON - 3] + "..."
    word = "was skipped" if note.get("status") == "skipped" else "failed"
    return f"last attempt {word}: {first}"


def annotate_failures(plan: Plan, store: Store) -> None:
    """Add the last failed attempt to each variant that has no result yet under its key:
    "never built" becomes "last attempt failed: <reason>"; other reasons keep it beside them."""
    for p in plan.items:
        if p.status == "fresh" or p.record is not None:
            continue
        note = last_failure(store, p.cache_key)
        if note is None:
            continue
        reasons = [r for r in p.reasons if r != "never built"]
        p.reasons = reasons + [reason_of(note)]
