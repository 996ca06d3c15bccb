"""Estimates against bills: what each build estimated for the calls whose cost the vendor reported,
and what the vendor billed, kept in the store so `plan` can say how far estimates have been off.

    <cache>/calibration/<utc time>-<id>.json   one file per build (or batch collection) that paid
        {"at", "price_table", "providers": {name: {"calls", "estimated_usd", "billed_usd",
                                                  "abs_error_usd", "lanes": {lane: calls}}}}

One immutable file per build, never a shared file rewritten: builds on several machines sharing
an `s3://` store never lose each other's numbers, and no lock is needed. `summary` reads the most
recent `RECENT` files. Only calls with a vendor-reported cost count (usage tokens, `metrics.cost`,
`usage.cost`): an estimate compared with itself says nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from pipelines.cache.store import Store

DIR = "calibration"
RECENT = 50


def tally(calls: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per provider sums over calls `{provider, lane, estimate_usd, billed_usd}` (billed known)."""
    out: dict[str, dict[str, Any]] = {}
    for c in calls:
        est, billed = c.get("estimate_usd"), c.get("billed_usd")
        if est is None or billed is None:
            continue
        t = out.setdefault(str(c.get("provider")), {"calls": 0, "estimated_usd": 0.0, "billed_usd": 0.0,
                                                     "abs_error_usd": 0.0, "lanes": {}})
        t["calls"] += 1
        t["estimated_usd"] += float(est)
        t["billed_usd"] += float(billed)
        t["abs_error_usd"] += abs(float(billed) - float(est))
        lane = str(c.get("lane") or "sync")
        t["lanes"][lane] = t["lanes"].get(lane, 0) + 1
    for t in out.values():
        for k in ("estimated_usd", "billed_usd", "abs_error_usd"):
            t[k] = round(t[k], 6)
    return out


def record(store: Store, calls: Iterable[dict[str, Any]], price_table: str) -> str | None:
    """Add one build's calls to the history; the file name, or None when no call had a bill."""
    providers = tally(calls)
    if not providers:
        return None
    now = datetime.now(timezone.utc)
    name = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
    doc = {"at": now.isoformat(timespec="seconds"), "price_table": price_table, "providers": providers}
    store.write_file(f"{DIR}/{name}", json.dumps(doc, sort_keys=True, indent=1).encode())
    return name


def summary(store: Store, recent: int = RECENT) -> dict[str, Any] | None:
    """Estimates against bills over the last `recent` builds: totals, the ratio billed/estimated
    and the mean absolute error per call, overall and per provider; None before any bill."""
    names = store.list_files(DIR)[-recent:]
    per: dict[str, dict[str, Any]] = {}
    builds = 0
    tables: set[str] = set()
    for name in names:
        try:
            doc = json.loads(store.read_file(f"{DIR}/{name}") or b"")
        except ValueError:
            continue  # a damaged file is skipped, never a crash
        builds += 1
        tables.add(str(doc.get("price_table")))
        for prov, t in (doc.get("providers") or {}).items():
            acc = per.setdefault(prov, {"calls": 0, "estimated_usd": 0.0, "billed_usd": 0.0, "abs_error_usd": 0.0})
            for k in acc:
                acc[k] += t.get(k) or 0
    if not per:
        return None
    total = {k: sum(p[k] for p in per.values()) for k in ("calls", "estimated_usd", "billed_usd", "abs_error_usd")}
    return {"builds": builds, "price_tables": sorted(tables), **_shape(total),
            "providers": {name: _shape(p) for name, p in sorted(per.items())}}


def _shape(t: dict[str, Any]) -> dict[str, Any]:
    est, billed, n = float(t["estimated_usd"]), float(t["billed_usd"]), int(t["calls"])
    return {"calls": n, "estimated_usd": round(est, 4), "billed_usd": round(billed, 4),
            "billed_over_estimate": round(billed / est, 3) if est > 0 else None,
            "mean_abs_error_usd": round(float(t["abs_error_usd"]) / n, 5) if n else None}


def describe(s: dict[str, Any] | None) -> str:
    """One line for `plan`: how far estimates have been from the vendors' bills."""
    if not s:
        return "estimates vs bills: no vendor-reported bill recorded yet"
    parts = [f"{name} {p['billed_over_estimate']}x over {p['calls']} call(s)" for name, p in s["providers"].items()
             if p["billed_over_estimate"] is not None]
    ratio = s["billed_over_estimate"]
    head = (f"estimates vs bills (last {s['builds']} build(s), {s['calls']} billed call(s)): vendors billed "
            f"${s['billed_usd']:.2f} against ${s['estimated_usd']:.2f} estimated")
    return head + (f", {ratio}x" if ratio is not None else "") + (f" ({'; '.join(parts)})" if parts else "")
