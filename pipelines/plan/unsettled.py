"""What the journal of paid calls adds to a plan: calls an earlier build sent whose outcome never
landed (pipelines.cache.journal).

For each variant that is not fresh, its cache key's open entries say one of

    "job <id> sent by build X is collected (no new charge)"      the vendor can hand it over:
        an EachLabs prediction with a journaled id, any RunAPI take; estimated at $0
    "in flight when build X stopped: may have been billed once already"   a synchronous call (or
        an EachLabs create whose answer was never read): held, so a plain build does not send it
        again; its price is counted apart (`maybe_billed_usd`), as possibly spent already and as
        what `build --retry-maybe-billed` would pay
    "in flight now in build X"                                    a build on this machine holds the
        key's lease right now

An entry whose key is in the cache was settled by its result (the process died between storing the
result and closing the entry): it is ignored. An entry whose key no variant has any more (its spec
was edited since) is listed apart, in `plan.elsewhere`: it may have been billed, and nothing sends
it again.
"""

from __future__ import annotations

from collections import defaultdict

from pipelines.cache.journal import Entry, Journal
from pipelines.cache.store import Store
from pipelines.plan.plan import Plan, Planned


def annotate(plan: Plan, journal: Journal, store: Store, vendor_of) -> None:
    """Mark every planned variant with its unsettled calls. `vendor_of(provider name)` gives the
    provider's type (an entry made by another vendor cannot be collected by this one)."""
    entries = journal.open_entries()
    if not entries:
        return
    by_key: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_key[e.cache_key].append(e)
    for p in plan.items:
        found = by_key.pop(p.cache_key, None)
        if found and p.record is None:
            _mark(p, found, store.leased(p.cache_key), vendor_of(p.variant.provider))
    plan.elsewhere = [e for key, es in by_key.items() if store.get_action(key) is None for e in es]


def _mark(p: Planned, entries: list[Entry], running: bool, vendor: str | None) -> None:
    p.unsettled = entries
    if running:
        p.reasons.append(f"in flight now in build {entries[-1].short_build}")
        return
    collectable = [e for e in entries if e.resumable and e.vendor == vendor]
    if collectable:
        p.reasons.append(collectable[-1].describe())
        p.est_cost = 0.0  # paid by the build that sent it
        return
    p.held = True
    e = entries[-1]
    other = f" at {e.vendor}" if vendor is not None and e.vendor != vendor else ""
    p.reasons.append(f"{e.describe()}{other}; held (build --retry-maybe-billed re-sends it)")
