"""`assetpipe verify`: the whole store checked the way a build checks what it reads.

    blobs     every blob is hashed (its sha256 must be its name) and fully decoded
    records   every action record must parse, name its own cache key and point at a sound blob of
              the size it records
    heads     every head (a variant's last build) should point at a stored blob; one that does not
              only means the variant is rebuilt by the next build

With `repair`, a damaged blob is restored from a good copy when one exists (a file whose sha256 is
right, e.g. the variant's exported file in out/), else moved to quarantine with every record that
points at it; a record that points at a missing or wrong image is moved to quarantine. Nothing is
ever deleted: quarantine/ keeps every entry with a note saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pipelines.cache.integrity import HEX64, blob_hash_problem, quarantine, record_problem, restore
from pipelines.cache.store import Store
from providers.errors import ProtocolError
from providers.sizes import decode


@dataclass
class Tally:
    ok: int = 0
    damaged: int = 0
    missing: int = 0
    quarantined: int = 0
    repaired: int = 0


@dataclass
class VerifyReport:
    blobs: Tally = field(default_factory=Tally)
    records: Tally = field(default_factory=Tally)
    heads: Tally = field(default_factory=Tally)
    problems: list[str] = field(default_factory=list)  # one line per problem found
    in_quarantine: int = 0  # entries already in quarantine/ before this run

    @property
    def damage_remains(self) -> bool:
        left = lambda t: t.damaged + t.missing - t.quarantined - t.repaired  # noqa: E731
        return left(self.blobs) > 0 or left(self.records) > 0


def verify_store(store: Store, *, repair: bool = False,
                 copies: Callable[[str], Iterable[Path]] = lambda digest: ()) -> VerifyReport:
    """Check every blob, record and head of `store`; `copies(digest)` names files that may hold a
    good copy of a blob (used by `repair`)."""
    report = VerifyReport(in_quarantine=len([e for e in store.list_entries("quarantine") if e.endswith("REASON.txt")]))
    bad_blobs, rels = _check_blobs(store, report)
    users: dict[str, list[str]] = {}  # blob -> keys of the records that point at it
    bad_records = _check_records(store, report, bad_blobs, users)
    if repair:
        _repair(store, report, bad_blobs, rels, bad_records, users, copies)
    _check_heads(store, report)
    return report


def _check_blobs(store: Store, report: VerifyReport) -> tuple[dict[str, str], dict[str, str]]:
    """(damaged blob -> problem, blob -> its path in the store)."""
    bad: dict[str, str] = {}
    rels: dict[str, str] = {}
    for rel in store.list_entries("blobs"):
        digest = rel.rsplit("/", 1)[-1]
        rels[digest] = rel
        problem = "is not named by a sha256" if not HEX64.match(digest) else blob_hash_problem(store, digest) \
            or _decode_problem(store, digest)
        if problem:
            bad[digest] = problem
            report.blobs.damaged += 1
            report.problems.append(f"damaged blob {digest[:12]}: {problem}")
        else:
            report.blobs.ok += 1
    return bad, rels


def _decode_problem(store: Store, digest: str) -> str | None:
    try:
        decode(store.read_blob(digest))
    except ProtocolError:
        return "is not a valid image (it does not decode)"
    return None  # a storage failure (StoreError) stops verify: it is never taken for damage


def _check_records(store: Store, report: VerifyReport, bad_blobs: dict[str, str],
                   users: dict[str, list[str]]) -> dict[str, str]:
    bad: dict[str, str] = {}
    for rel in store.list_entries("actions"):
        key = rel.rsplit("/", 1)[-1].removesuffix(".json")
        data = store._read(rel)
        try:
            record = json.loads(data) if data is not None else None
        except ValueError:
            record = None
        problem = record_problem(store, key, record) if HEX64.match(key) else "is not named by a cache key"
        if problem is None and record["blob"] in bad_blobs:
            problem = f"points at damaged blob {record['blob'][:12]}"
        if problem is None:
            report.records.ok += 1
            users.setdefault(record["blob"], []).append(key)
            continue
        bad[key] = problem
        if not HEX64.match(key):
            bad[key] = f"{problem}\t{rel}"  # a stray file: moved by its path
        if isinstance(record, dict) and isinstance(record.get("blob"), str):
            users.setdefault(record["blob"], []).append(key)
        if "missing from the store" in problem:
            report.records.missing += 1
        else:
            report.records.damaged += 1
        report.problems.append(f"action record {key[:12]}: {problem}")
    return bad


def _repair(store: Store, report: VerifyReport, bad_blobs: dict[str, str], rels: dict[str, str],
            bad_records: dict[str, str], users: dict[str, list[str]], copies: Callable[[str], Iterable[Path]]) -> None:
    for digest, problem in bad_blobs.items():
        good = restore(store, digest, copies(digest)) if HEX64.match(digest) else None
        if good is not None:
            report.blobs.repaired += 1
            report.problems.append(f"repaired blob {digest[:12]} from {good}")
            for key in users.get(digest, []):
                if bad_records.pop(key, None) is not None:
                    report.records.repaired += 1
            continue
        keys = users.get(digest, [])  # every record of a damaged blob goes with it: those variants are rebuilt
        if HEX64.match(digest):
            quarantine(store, digest=digest, keys=keys, reason=f"blob {digest}: {problem}")
        else:  # a stray file among the blobs
            store.move_aside(rels[digest], f"quarantine/stray-{rels[digest].replace('/', '_')}")
        report.blobs.quarantined += 1
        for key in keys:
            if bad_records.pop(key, None) is not None:
                report.records.quarantined += 1
    for key, problem in bad_records.items():
        if HEX64.match(key):
            quarantine(store, key=key, reason=f"action record {key}: {problem}")
        else:
            rel = problem.rsplit("\t", 1)[-1]
            store.move_aside(rel, f"quarantine/stray-{rel.replace('/', '_')}")
        report.records.quarantined += 1


def _check_heads(store: Store, report: VerifyReport) -> None:
    for rel in store.list_entries("heads"):
        data = store._read(rel)
        try:
            head = json.loads(data) if data is not None else None
        except ValueError:
            head = None
        blob = head.get("blob") if isinstance(head, dict) else None
        if isinstance(blob, str) and HEX64.match(blob) and store.blob_size(blob) is not None:
            report.heads.ok += 1
        else:
            report.heads.missing += 1
