"""Verified reads: nothing unverified leaves the store.

A stored image is trusted only as far as it is checked:

    plan      the record is well formed, names this cache key, and its blob exists with the size the
              record says (a stat: cheap enough for every plan)
    export    the blob is hashed as it is copied to out/ (Store.export_blob) and its header must show
              the record's size and format
    input     an edit's input image or a render's source is hashed before it is used

A blob whose bytes no longer match their sha256 is moved with its record to `<cache>/quarantine/`
and the variant is rebuilt, or restored from another copy whose sha256 is right (its exported file
in out/ is one). A record that points at the wrong image is quarantined alone (the image may be
another variant's good one). `assetpipe verify` applies the same checks to the whole store.
"""

from __future__ import annotations

import io
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from pipelines.cache.files import file_sha256
from pipelines.cache.store import Store
from pipelines.errors import BlobDamaged

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def record_problem(store: Store, key: str, record: Any) -> str | None:
    """Why an action record cannot be used as the result of `key` (cheap: fields and a stat)."""
    if not isinstance(record, dict):
        return "is not a valid action record"
    blob = record.get("blob")
    if not isinstance(blob, str) or not HEX64.match(blob):
        return "names no valid image"
    if record.get("cache_key", key) != key:
        return f"belongs to another cache key ({str(record.get('cache_key'))[:12]})"
    size = store.blob_size(blob)
    if size is None:
        return f"points at image {blob[:12]}, which is missing from the store"
    expected = record.get("bytes")
    if isinstance(expected, int) and size != expected:
        return f"points at image {blob[:12]} of {size:,} bytes, but the record says {expected:,} bytes"
    return None


def blob_hash_problem(store: Store, digest: str) -> str | None:
    """Streams the blob through sha256: None when it matches its name. A storage failure (an
    unreachable bucket) is a StoreError, never damage: nothing sound is ever quarantined for it."""
    found = store.sha256_of_blob(digest)
    if found is None:
        return "is missing from the store"
    if found != digest:
        return "no longer matches its sha256 (its bytes were changed or truncated)"
    return None


HEADER_BYTES = 1 << 20  # PNG, WEBP and JPEG headers (after the app segments) come well before this


def header_problem(store: Store, record: dict[str, Any]) -> str | None:
    """The image header must show the record's size and format (a record pointed at another
    variant's image of the same byte count still fails here)."""
    blob = record["blob"]
    head = store.read_blob_head(blob, HEADER_BYTES)
    found = _header(head)
    if found is None and len(head) == HEADER_BYTES:  # a header further in: read it all
        found = _header(b"".join(store.iter_blob(blob)))
    if found is None:
        return f"points at {blob[:12]}, which is not a readable image"
    w, h, fmt = found
    want = (record.get("width"), record.get("height"), _FORMATS.get(str(record.get("format")), fmt))
    if None not in want[:2] and (w, h, fmt) != want:
        return (f"points at a {w}x{h} {fmt} image, but the record says {want[0]}x{want[1]} "
                f"{str(record.get('format')).upper()}")
    return None


def _header(data: bytes) -> tuple[int, int, str] | None:
    """(width, height, format) from an image's first bytes, or None when they are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                return img.width, img.height, img.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None


def check_record(store: Store, key: str, record: Any) -> None:
    """Raise BlobDamaged for a record that must not be used: `record_only` when the image itself is
    sound (the record points at the wrong one), else the image is damaged too. Cheap checks; the
    image is hashed only when they fail (to tell the two apart)."""
    problem = record_problem(store, key, record)
    if problem is None and isinstance(record, dict):
        problem = header_problem(store, record)
    if problem is None:
        return
    blob = record.get("blob") if isinstance(record, dict) else None
    if not isinstance(blob, str) or not HEX64.match(blob):
        raise BlobDamaged("?" * 12, problem, key=key, record_only=True)
    damage = blob_hash_problem(store, blob) if store.blob_size(blob) is not None else None
    if damage is not None:
        raise BlobDamaged(blob, damage, key=key)
    raise BlobDamaged(blob, problem, key=key, record_only=True)


def export_verified(store: Store, key: str, record: dict[str, Any], dest: Path) -> bool:
    """Export the image of `record` to `dest`, verified (see module doc). BlobDamaged when refused.
    When `dest` already holds exactly the recorded bytes nothing is exported (nor checked)."""
    if dest.is_file() and dest.stat().st_size == record.get("bytes") and file_sha256(dest) == record.get("blob"):
        return False
    check_record(store, key, record)
    try:
        return store.export_blob(record["blob"], dest)
    except BlobDamaged as exc:
        exc.key = key
        raise


def verified_path(store: Store, digest: str, *, restore_from: Iterable[Path] = (),
                  notes: list[str] | None = None) -> Path:
    """A local file holding exactly the blob's bytes, hashed now. A damaged blob is restored from
    the first of `restore_from` whose sha256 is right (said in `notes`); else BlobDamaged."""
    problem = blob_hash_problem(store, digest)
    if problem is not None:
        good = restore(store, digest, restore_from)
        if good is None:
            raise BlobDamaged(digest, problem)
        if notes is not None:
            notes.append(f"cached image {digest[:12]} {problem}: restored from {good}")
    path = store.blob_path(digest)
    if not store.local and file_sha256(path) != digest:  # the local copy of a remote blob
        path.unlink(missing_ok=True)
        path = store.blob_path(digest)
        if file_sha256(path) != digest:
            raise BlobDamaged(digest, "no longer matches its sha256 (its bytes were changed or truncated)")
    return path


def restore(store: Store, digest: str, candidates: Iterable[Path]) -> Path | None:
    """Put the blob back from a good copy (a file whose sha256 is the digest): the damaged one is
    moved to quarantine first. The copy used, or None."""
    for c in candidates:
        try:
            if c.is_file() and file_sha256(c) == digest:
                quarantine(store, digest=digest, reason="replaced by a good copy from " + str(c))
                store._write(store._blob_rel(digest), c.read_bytes())
                return c
        except OSError:
            continue
    return None


def quarantine(store: Store, *, digest: str | None = None, key: str | None = None, keys: Iterable[str] = (),
               reason: str) -> str | None:
    """Move a blob and/or action records to `<cache>/quarantine/<time>-<name>/`; a note says why.
    Returns the quarantine folder (relative to the store), None when there was nothing to move."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = f"quarantine/{stamp}-{(digest or key or 'entry')[:12]}"
    moved = []
    if digest is not None and HEX64.match(digest) and store.move_aside(store._blob_rel(digest), f"{folder}/blob-{digest}"):
        moved.append(f"blob {digest}")
    for k in dict.fromkeys([*([key] if key else []), *keys]):
        if HEX64.match(k) and store.move_aside(store._action_rel(k), f"{folder}/action-{k}.json"):
            moved.append(f"action record {k}")
    if not moved:
        return None
    store._write(f"{folder}/REASON.txt", (f"{reason}\nmoved: {', '.join(moved)}\n").encode())
    return folder


def quarantine_damage(store: Store, exc: BlobDamaged) -> BlobDamaged:
    """Quarantine what `exc` found (the record alone when only the record is wrong)."""
    digest = None if exc.record_only or not HEX64.match(exc.digest or "") else exc.digest
    exc.quarantined = quarantine(store, digest=digest, key=exc.key, reason=str(exc))
    return exc

