"""The batch lane's own records, in the store: which batches are open and which cache keys they
hold, so every build on any machine sharing the store collects them and never submits a key that
is in an open batch again.

    <cache>/batches/open/<id>.json     a batch being submitted or running
    <cache>/batches/closed/<id>.json   a batch collected (or abandoned), with each key's outcome
    <cache>/notes/batch_billed_failure/..  keys a batch billed without a usable image: the lane
                                       does not pay for them again on its own (--refresh does)

A record: {v, id, provider, pool, endpoint, state: submitting | open | closed, token, host, pid,
created_at, created_ts, batch_id, input_file_id, status, counts, items: {cache_key: {variant, doc,
width, height, format, compression, model, operation, estimate_usd}}, results: {cache_key:
{state: stored | failed, error, billed}}}. `submitting` is written before anything is sent, so a
process killed between the upload and the create's answer leaves a record the next build
resolves (by the batch's metadata token) instead of a batch nobody knows about.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from pipelines.cache.store import Store

OPEN, CLOSED = "batches/open", "batches/closed"
BILLED_FAILURE = "batch_billed_failure"


def new_record(provider: str, endpoint: str, items: dict[str, dict[str, Any]], *, pool: str | None = None) -> dict:
    now = datetime.now(timezone.utc)
    rid = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:10]}"
    return {"v": 1, "id": rid, "provider": provider, "pool": pool, "endpoint": endpoint, "state": "submitting",
            "token": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid(),
            "created_at": now.isoformat(timespec="seconds"), "created_ts": time.time(), "batch_id": None,
            "input_file_id": None, "status": None, "counts": None, "items": items, "results": {}}


def _dumps(rec: dict) -> bytes:
    return json.dumps(rec, sort_keys=True, ensure_ascii=False).encode()


def save(store: Store, rec: dict) -> None:
    store.write_file(f"{OPEN}/{rec['id']}.json", _dumps(rec))


def close(store: Store, rec: dict) -> None:
    """Move a record to closed/ (written first, then the open one removed: never lost)."""
    rec["state"] = "closed"
    rec["closed_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    store.write_file(f"{CLOSED}/{rec['id']}.json", _dumps(rec))
    store.delete_file(f"{OPEN}/{rec['id']}.json")


def load_open(store: Store) -> list[dict]:
    out = []
    for name in store.list_files(OPEN):
        data = store.read_file(f"{OPEN}/{name}")
        try:
            rec = json.loads(data) if data else None
        except ValueError:
            rec = None
        if isinstance(rec, dict) and isinstance(rec.get("items"), dict):
            out.append(rec)
    return out


def load_closed(store: Store, rid: str) -> dict | None:
    data = store.read_file(f"{CLOSED}/{rid}.json")
    return json.loads(data) if data else None


def open_keys(store: Store) -> dict[str, dict]:
    """cache key -> {batch (record id), batch_id, status, provider} for every key in an open batch."""
    out: dict[str, dict] = {}
    for rec in load_open(store):
        for key in rec["items"]:
            out[key] = {"record": rec["id"], "batch_id": rec.get("batch_id"), "provider": rec.get("provider"),
                        "status": rec.get("status") or rec.get("state"), "created_at": rec.get("created_at")}
    return out


class OpenKeys:
    """Which open batch holds a key, asked right before a synchronous call pays for it: the open
    records are listed afresh on every question (one LIST), and only a record not seen before is
    read, so a build that pays for thousands of keys reads each record once."""

    def __init__(self, store: Store):
        self.store = store
        self._keys: dict[str, set[str]] = {}  # record file name -> its cache keys

    def holder(self, key: str) -> str | None:
        """The batch (or record) id of the open batch holding `key`, or None."""
        names = set(self.store.list_files(OPEN))
        self._keys = {n: ks for n, ks in self._keys.items() if n in names}
        hit = next((n for n, ks in self._keys.items() if key in ks), None)
        for name in sorted(names - set(self._keys)):
            data = self.store.read_file(f"{OPEN}/{name}")
            try:
                rec = json.loads(data) if data else None
            except ValueError:
                rec = None
            items = rec.get("items") if isinstance(rec, dict) else None
            self._keys[name] = set(items) if isinstance(items, dict) else set()
            hit = hit or (name if key in self._keys[name] else None)
        if hit is None:
            return None
        rec = json.loads(self.store.read_file(f"{OPEN}/{hit}") or b"{}")
        return rec.get("batch_id") or rec.get("id") or hit.removesuffix(".json")


def billed_failure(store: Store, key: str) -> dict | None:
    return store.get_note(BILLED_FAILURE, key)


def note_billed_failure(store: Store, key: str, note: dict) -> None:
    store.put_note(BILLED_FAILURE, key, note)
