"""`assetpipe verify [--repair]`: check every blob, action record and head of the catalog's cache.

Exit 0 when the store is sound (or was repaired), 1 when damage remains. Never imports Dagster."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.cache.store import Store
from pipelines.cache.verify import VerifyReport, verify_store
from pipelines.catalog.loader import Catalog, load_catalog
from pipelines.cli.paths import shown


def cmd_verify(catalog_dir: Path, args) -> int:
    catalog = load_catalog(catalog_dir, partial=True)  # only settings matter: a broken campaign is no reason not to check
    store = Store(catalog.cache_url, lock_dir=catalog.state_dir / "locks" / "keys")
    where = catalog.cache_url if "://" in catalog.cache_url else shown(Path(catalog.cache_url))
    print(f"verifying the cache at {where} ...")
    report = verify_store(store, repair=args.repair, copies=_exported_copies(store, catalog))
    for line in report.problems:
        print(f"  {line}")
    _print_counts(report, args.repair)
    if report.damage_remains:
        print("damage remains: nothing damaged is ever exported or used (builds refuse it), but run "
              "`assetpipe verify --repair` to move it to the cache's quarantine/ so the next build rebuilds it")
        return 1
    return 0


def _print_counts(r: VerifyReport, repair: bool) -> None:
    print(f"blobs:   {r.blobs.ok} ok, {r.blobs.damaged} damaged, {r.blobs.quarantined} quarantined, "
          f"{r.blobs.repaired} repaired")
    print(f"records: {r.records.ok} ok, {r.records.damaged} damaged, {r.records.missing} missing their image, "
          f"{r.records.quarantined} quarantined, {r.records.repaired} repaired")
    print(f"heads:   {r.heads.ok} ok, {r.heads.missing} point at an image no longer stored "
          "(those variants are rebuilt by the next build)")
    print(f"quarantine/ held {r.in_quarantine} entr{'y' if r.in_quarantine == 1 else 'ies'} before this run"
          + ("" if repair else "; nothing was changed (no --repair)"))


def _exported_copies(store: Store, catalog: Catalog):
    """Where a good copy of a blob may be: the exported file of every variant whose head names it."""
    by_blob: dict[str, list[Path]] = {}
    for rel in store.list_entries("heads"):
        data = store._read(rel)
        try:
            head = json.loads(data) if data is not None else {}
        except ValueError:
            continue
        if not isinstance(head, dict) or not isinstance(head.get("blob"), str):
            continue
        key = rel.removeprefix("heads/").removesuffix(".json")
        by_blob.setdefault(head["blob"], []).extend(
            catalog.output_dir / f"{key}.{ext}" for ext in ("png", "jpg", "webp"))
    return lambda digest: by_blob.get(digest, [])
