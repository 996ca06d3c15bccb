"""The write-ahead journal of paid calls: what was sent to a vendor, before the answer is known.

A paid result must never be lost or paid twice, even when the process dies (kill -9, OOM, a node
gone) while calls are in flight. So every create is written down *before* it is sent:

    intent     cache key, variant, provider and vendor, request fingerprint, take, the build that
               sends it, when, host and pid: written before the create leaves
    job id     the vendor's id (EachLabs predictionID, RunAPI task id): written the moment the
               create's answer is read
    outcome    the result stored, or the vendor's clear refusal: the entry is closed

An entry that is still open when no build holds its key is *unsettled*: the next build, in any
process that shares the store, finds it. A job it can pick up (`resumable`: a journaled job id, or
a take RunAPI replays through its Idempotency-Key) is collected instead of paid for again; a
synchronous call, or an EachLabs create whose answer was never read, cannot be picked up: it may
have been billed once already, and it is *held* (not re-sent) until a build is told to
(`--retry-maybe-billed`).

Layout, in the store (so the journal is shared wherever the store is):

    journal/open/<cache_key>.<entry id>.json                 unsettled entries (one listing finds all)
    journal/closed/<cache_key[:2]>/<cache_key>/<id>.json      entries whose outcome landed

`Journal` is the interface (a database-backed one can sit beside this one); `StoreJournal` keeps it
with the store's own atomic writes, on any fsspec URL.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from pipelines.cache.store import Store
from providers.calls import ResumeBy

REDACTED = "***"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Entry:
    cache_key: str
    variant: str
    provider: str  # the catalog's provider name
    vendor: str  # its type: openai, eachlabs, runapi ...
    resume_by: ResumeBy
    fingerprint: str  # sha256 of what the create sends
    take: int
    build: str  # the build (Dagster run id) that sent it
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    sent_at: str = field(default_factory=now_iso)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    job_id: str | None = None
    note: str | None = None  # why it is still open, when a build saw it end badly
    outcome: dict[str, Any] | None = None
    closed_at: str | None = None

    @property
    def resumable(self) -> bool:
        """Whether a build can pick this call up without paying again."""
        if self.resume_by == "take":
            return True
        return self.resume_by == "job" and bool(self.job_id) and REDACTED not in str(self.job_id)

    @property
    def short_build(self) -> str:
        return self.build[:8]

    def describe(self) -> str:
        """What this unsettled entry means, for plan rows, build lines and summaries."""
        if self.resumable:
            job = f"job {self.job_id}" if self.job_id else f"take {self.take}"
            return f"{job} sent by build {self.short_build} is collected (no new charge)"
        why = f" ({self.note})" if self.note else ""
        return f"in flight when build {self.short_build} stopped: may have been billed once already{why}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Entry | None":
        try:
            raw = json.loads(data)
            known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
            return cls(**known)
        except (ValueError, TypeError, KeyError):
            return None  # a damaged entry is not a crash (it is reported by `entries` callers)


class Journal(ABC):
    @abstractmethod
    def write(self, entry: Entry) -> None:
        """Create or update an open entry (atomically: readers see the old or the new one)."""

    @abstractmethod
    def close(self, entry: Entry, outcome: dict[str, Any]) -> None:
        """Record `entry`'s outcome and take it out of the open set."""

    @abstractmethod
    def open_entries(self) -> list[Entry]:
        """Every entry whose outcome has not landed."""

    @abstractmethod
    def open_for(self, cache_key: str) -> list[Entry]:
        """The open entries of one cache key, oldest first."""

    @abstractmethod
    def takes(self, cache_key: str) -> list[int]:
        """Every take ever journaled for `cache_key`, open or closed."""


class StoreJournal(Journal):
    OPEN = "journal/open"
    CLOSED = "journal/closed"

    def __init__(self, store: Store):
        self.store = store

    def _open_rel(self, e: Entry) -> str:
        return f"{self.OPEN}/{e.cache_key}.{e.id}.json"

    def _closed_dir(self, cache_key: str) -> str:
        return f"{self.CLOSED}/{cache_key[:2]}/{cache_key}"

    def write(self, entry: Entry) -> None:
        self.store.write_file(self._open_rel(entry), entry.to_json())

    def close(self, entry: Entry, outcome: dict[str, Any]) -> None:
        entry.outcome, entry.closed_at = outcome, now_iso()
        # closed copy first: a crash between the two leaves both, and `open_entries` skips it then
        self.store.write_file(f"{self._closed_dir(entry.cache_key)}/{entry.id}.json", entry.to_json())
        self.store.delete_file(self._open_rel(entry))

    def _read_open(self, names: list[str]) -> list[Entry]:
        out = []
        for name in names:
            if not name.endswith(".json"):
                continue
            data = self.store.read_file(f"{self.OPEN}/{name}")
            entry = Entry.from_json(data) if data is not None else None
            if entry is None:
                continue
            if self.store.read_file(f"{self._closed_dir(entry.cache_key)}/{entry.id}.json") is not None:
                self.store.delete_file(f"{self.OPEN}/{name}")  # closed, then the process died
                continue
            out.append(entry)
        return sorted(out, key=lambda e: e.sent_at)

    def open_entries(self) -> list[Entry]:
        return self._read_open(self.store.list_files(self.OPEN))

    def open_for(self, cache_key: str) -> list[Entry]:
        return self._read_open([n for n in self.store.list_files(self.OPEN) if n.startswith(cache_key + ".")])

    def closed_for(self, cache_key: str) -> list[Entry]:
        d = self._closed_dir(cache_key)
        entries = [Entry.from_json(self.store.read_file(f"{d}/{n}") or b"") for n in self.store.list_files(d)]
        return sorted((e for e in entries if e is not None), key=lambda e: e.sent_at)

    def takes(self, cache_key: str) -> list[int]:
        return sorted({e.take for e in self.open_for(cache_key) + self.closed_for(cache_key)})
