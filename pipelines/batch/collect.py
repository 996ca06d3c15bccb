"""Collecting open batches into the store: every build, plan and schedule tick does it first.

For each open record (pipelines.cache.batches): a record still `submitting` is resolved (its
batch is found by the metadata token, or, when its process is gone and no such batch exists, it
is abandoned: nothing was submitted). An open batch is asked for its status; a finished one
(completed, expired, failed, cancelled) has its output and error files streamed to disk and read
line by line. A result is verified like every result (decoded, brought to the exact size and
format, stored by its sha256) and recorded under its cache key; a failure is that variant's own
error, with whether the vendor billed it. Then the record moves to closed/. Unbilled failures
(expired or cancelled before they ran, a timeout, an HTTP error) are missing again and go into the
next batch; a billed one is remembered and not paid for again by the lane on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.cache import batches as records
from pipelines.cache import calibration
from pipelines.errors import AssetpipeError
from pipelines.plan.billing import bill_fields, bill_of
from pipelines.plan.project import Project
from providers import batch as api
from providers.errors import ProviderError
from providers.pricing import PRICE_TABLE_VERSION
from providers.sizes import conform

SUBMIT_GRACE_S = 600.0  # a `submitting` record of another host younger than this may still be in flight


@dataclass
class Collected:
    stored: dict[str, dict] = field(default_factory=dict)  # variant key -> action record
    failed: dict[str, dict] = field(default_factory=dict)  # variant key -> {error, billed, batch_id}
    pending: list[dict] = field(default_factory=list)  # open records still running
    closed: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # batches that could not be checked now

    @property
    def billed_usd(self) -> float:
        return round(sum(float(r.get("cost_usd") or 0) for r in self.stored.values()), 6)


async def collect(project: Project, only: set[str] | None = None) -> Collected:
    """Bring every open batch up to date (those of the records in `only` when given)."""
    out = Collected()
    for rec in records.load_open(project.store):
        if only is not None and rec["id"] not in only:
            continue
        try:
            await _one(project, rec, out)
        except (ProviderError, AssetpipeError) as exc:
            out.problems.append(f"batch {rec.get('batch_id') or rec['id']} ({rec['provider']}): not checked: {exc}")
            out.pending.append(rec)
    bills = [bill_of(r) for r in out.stored.values()]
    try:
        calibration.record(project.store, bills, PRICE_TABLE_VERSION)
    except AssetpipeError as exc:
        out.problems.append(f"could not record estimates vs bills: {exc}")
    return out


async def _one(project: Project, rec: dict, out: Collected) -> None:
    if rec["provider"] not in project.catalog.settings.providers:
        raise AssetpipeError(f"provider {rec['provider']!r} is no longer in catalog.yaml: put it back to collect")
    provider = project.pool.get(rec["provider"])
    if rec["state"] == "submitting" and not await _resolve(project, provider, rec, out):
        return
    batch = await api.retrieve(provider, rec["batch_id"])
    rec["status"], rec["counts"] = batch["status"], batch.get("request_counts")
    if batch["status"] not in api.TERMINAL:
        out.pending.append(rec)
        return
    await _read_results(project, provider, rec, batch, out)
    records.close(project.store, rec)
    out.closed.append(rec)


async def _resolve(project: Project, provider: Any, rec: dict, out: Collected) -> bool:
    """A record left `submitting`: find its batch by token. True when it is now open."""
    found = await api.find(provider, rec["token"], created_after=float(rec.get("created_ts") or 0) - 3600)
    if found is not None:
        rec.update(batch_id=found["id"], state="open", status=found["status"])
        records.save(project.store, rec)
        return True
    if _may_still_be_submitting(rec):
        out.pending.append(rec)
        return False
    rec["results"] = {k: {"state": "failed", "billed": False, "error": "the submitting build stopped before its "
                          "batch was created: nothing was submitted"} for k in rec["items"]}
    for key, item in rec["items"].items():
        out.failed[item["variant"]] = {**rec["results"][key], "batch_id": None}
    records.close(project.store, rec)
    out.closed.append(rec)
    return False


def _may_still_be_submitting(rec: dict) -> bool:
    if rec.get("host") == socket.gethostname():
        try:
            os.kill(int(rec.get("pid") or 0), 0)
            return int(rec.get("pid") or 0) != os.getpid()
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
    return time.time() - float(rec.get("created_ts") or 0) < SUBMIT_GRACE_S


async def _read_results(project: Project, provider: Any, rec: dict, batch: dict, out: Collected) -> None:
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="assetpipe-batch-") as tmp:
        for kind in ("output_file_id", "error_file_id"):
            fid = batch.get(kind)
            if not fid:
                continue
            path = await api.download(provider, fid, Path(tmp) / f"{kind}.jsonl")
            for line in _lines(path):
                key = str(line.get("custom_id") or "")
                if key in rec["items"] and key not in seen:
                    seen.add(key)
                    await _land(project, provider, rec, batch, key, api.read_line(provider, line), out)
    why = _batch_error(batch)
    for key in rec["items"]:
        if key not in seen:  # a failed batch (or a line the vendor never wrote): nothing was billed
            _failed(project, rec, key, why, billed=False, out=out)


def _lines(path: Path):
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                try:
                    item = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(item, dict):
                    yield item


def _batch_error(batch: dict) -> str:
    errors = ((batch.get("errors") or {}).get("data") or []) if isinstance(batch.get("errors"), dict) else []
    detail = "; ".join(f"{e.get('code')}: {e.get('message')}" + (f" (line {e['line']})" if e.get("line") else "")
                       for e in errors[:3] if isinstance(e, dict))
    return f"batch {batch['id']} {batch['status']}" + (f": {detail}" if detail else " with no result for it")


async def _land(project: Project, provider: Any, rec: dict, batch: dict, key: str, line: api.LineResult,
                out: Collected) -> None:
    item = rec["items"][key]
    if line.error is not None or line.raw is None:
        _failed(project, rec, key, str(line.error), billed=line.billed, out=out)
        return
    try:
        data, w, h = await asyncio.to_thread(conform, line.raw.data, item["width"], item["height"], item["format"],
                                             item.get("compression"), provider=provider.name)
    except ProviderError as exc:
        _failed(project, rec, key, str(exc), billed=True, out=out)
        return
    store = project.store
    existing = await asyncio.to_thread(store.get_action, key)
    if existing is not None:  # a sync build made it meanwhile: its record stands
        rec["results"][key] = {"state": "stored", "note": "already in the store"}
        return
    blob = await asyncio.to_thread(store.put_blob, data)
    est = item.get("estimate_usd")
    cost = line.raw.cost_usd if line.raw.cost_usd is not None else est
    record = {"cache_key": key, "blob": blob, "bytes": len(data), "width": w, "height": h, "format": item["format"],
              "created_at": _stamp(batch.get("completed_at") or batch.get("expired_at")), "variant": item["variant"],
              "doc": item.get("doc"), "provider": provider.name, "model": item.get("model"),
              "request_id": line.raw.request_id, "cost_usd": round(float(cost or 0), 6),
              "latency_s": _duration(batch), "usage": line.raw.usage, "vendor_size": line.raw.vendor_size,
              "batch_id": batch["id"], **bill_fields(est, line.raw.cost_usd, line.raw.billed_basis, lane="batch",
                                                    pool=rec.get("pool"))}
    await asyncio.to_thread(store.put_action, key, record)
    rec["results"][key] = {"state": "stored", "blob": blob}
    out.stored[item["variant"]] = record


def _failed(project: Project, rec: dict, key: str, error: str, *, billed: bool, out: Collected) -> None:
    item = rec["items"][key]
    rec["results"][key] = {"state": "failed", "error": error, "billed": billed}
    out.failed[item["variant"]] = {"error": error, "billed": billed, "batch_id": rec.get("batch_id")}
    if billed:
        records.note_billed_failure(project.store, key, {"batch_id": rec.get("batch_id"), "error": error,
                                                         "variant": item["variant"]})


def _stamp(ts: Any) -> str:
    t = float(ts) if isinstance(ts, (int, float)) else time.time()
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def _duration(batch: dict) -> float:
    end = batch.get("completed_at") or batch.get("expired_at") or batch.get("cancelled_at") or batch.get("failed_at")
    start = batch.get("created_at")
    return float(end - start) if isinstance(end, (int, float)) and isinstance(start, (int, float)) else 0.0

