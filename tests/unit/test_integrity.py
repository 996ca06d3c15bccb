"""Verified reads at the store: what is exported or used as an input is hashed, a damaged image or
a record pointing at the wrong one is refused and moved to quarantine, a good copy restores it, and
`verify_store` finds (and with repair, clears) every kind of damage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipelines.cache.integrity import (
    check_record,
    export_verified,
    quarantine_damage,
    record_problem,
    verified_path,
)
from pipelines.cache.store import Store
from pipelines.cache.verify import verify_store
from pipelines.errors import BlobDamaged
from tests.helpers.images import make_image


def stored(store: Store, w: int = 64, h: int = 48, fmt: str = "png", key: str | None = None) -> tuple[str, dict]:
    """An image and its action record, as the engine writes them."""
    data = make_image(w, h, fmt)
    digest = store.put_blob(data)
    key = key or hashlib.sha256(f"{w}x{h}{fmt}".encode()).hexdigest()
    record = {"cache_key": key, "blob": digest, "bytes": len(data), "width": w, "height": h, "format": fmt}
    store.put_action(key, record)
    return key, record


def blob_file(store: Store, digest: str) -> Path:
    return store.root / "blobs" / digest[:2] / digest


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "cache"))


def test_a_sound_record_exports_its_image(store: Store, tmp_path: Path) -> None:
    key, rec = stored(store)
    dest = tmp_path / "out" / "a.png"
    assert record_problem(store, key, rec) is None
    assert export_verified(store, key, rec, dest) is True
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == rec["blob"]
    assert export_verified(store, key, rec, dest) is False  # already in place


def test_an_image_changed_in_place_is_never_exported(store: Store, tmp_path: Path) -> None:
    key, rec = stored(store)
    flip_a_byte(blob_file(store, rec["blob"]))  # same size: only a hash can tell
    assert record_problem(store, key, rec) is None  # the cheap check cannot see it ...
    dest = tmp_path / "out" / "a.png"
    with pytest.raises(BlobDamaged, match="no longer matches its sha256") as e:
        export_verified(store, key, rec, dest)  # ... the export does
    assert not dest.exists() and not list(dest.parent.glob("*"))  # no file, no temporary left
    assert not e.value.record_only and e.value.key == key


def test_a_truncated_image_is_refused_by_the_cheap_check(store: Store) -> None:
    key, rec = stored(store)
    blob_file(store, rec["blob"]).write_bytes(b"\x89PNG")
    assert "of 4 bytes, but the record says" in record_problem(store, key, rec)
    with pytest.raises(BlobDamaged) as e:
        check_record(store, key, rec)
    assert not e.value.record_only  # the image itself is damaged


def test_a_record_pointed_at_another_image_is_refused_and_the_image_kept(store: Store) -> None:
    key_a, rec_a = stored(store, 64, 48)
    key_b, rec_b = stored(store, 32, 32)
    repointed = {**rec_a, "blob": rec_b["blob"]}
    with pytest.raises(BlobDamaged, match="record says") as e:
        check_record(store, key_a, repointed)
    assert e.value.record_only
    quarantine_damage(store, e.value)
    assert store.get_action(key_a) is None and store.has_blob(rec_b["blob"])  # b's image is sound: kept
    # same byte count as the record says, but another picture: the header gives it away
    with pytest.raises(BlobDamaged, match="32x32 PNG image, but the record says 64x48") as e:
        check_record(store, key_b, {**rec_b, "width": 64, "height": 48})
    assert e.value.record_only


def test_a_record_of_another_cache_key_is_refused(store: Store) -> None:
    key, rec = stored(store)
    assert "belongs to another cache key" in record_problem(store, "f" * 64, rec)


def test_quarantine_moves_the_image_and_its_record_aside_with_a_note(store: Store) -> None:
    key, rec = stored(store)
    flip_a_byte(blob_file(store, rec["blob"]))
    with pytest.raises(BlobDamaged) as e:
        export_verified(store, key, rec, store.root.parent / "a.png")
    quarantine_damage(store, e.value)
    folder = store.root / e.value.quarantined
    assert not store.has_blob(rec["blob"]) and store.get_action(key) is None
    assert sorted(p.name for p in folder.iterdir()) == sorted(["REASON.txt", f"blob-{rec['blob']}",
                                                                f"action-{key}.json"])
    assert "no longer matches its sha256" in (folder / "REASON.txt").read_text()


def test_a_damaged_input_is_restored_from_a_good_copy(store: Store, tmp_path: Path) -> None:
    key, rec = stored(store)
    good = tmp_path / "out" / "a.png"
    export_verified(store, key, rec, good)
    flip_a_byte(blob_file(store, rec["blob"]))
    notes: list[str] = []
    path = verified_path(store, rec["blob"], restore_from=[tmp_path / "nope.png", good], notes=notes)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["blob"]
    assert "restored from" in notes[0] and str(good) in notes[0]
    assert len(list((store.root / "quarantine").iterdir())) == 1  # the damaged bytes are kept aside


def test_a_damaged_input_without_a_good_copy_is_refused(store: Store, tmp_path: Path) -> None:
    key, rec = stored(store)
    flip_a_byte(blob_file(store, rec["blob"]))
    wrong = tmp_path / "other.png"
    wrong.write_bytes(make_image(64, 48, "jpeg"))
    with pytest.raises(BlobDamaged):
        verified_path(store, rec["blob"], restore_from=[wrong])


def test_a_rebuild_replaces_a_truncated_image_of_the_same_name(store: Store) -> None:
    data = make_image(64, 48, "png")
    digest = store.put_blob(data)
    blob_file(store, digest).write_bytes(data[:10])
    assert store.put_blob(data) == digest and store.read_blob(digest) == data


def test_verify_store_counts_and_repairs_every_kind_of_damage(store: Store, tmp_path: Path) -> None:
    sound = [stored(store, 16 + 8 * i, 16) for i in range(3)]
    changed = stored(store, 100, 20)
    truncated = stored(store, 101, 20)
    restorable = stored(store, 102, 20)
    repointed_key, rec = stored(store, 103, 20)
    missing_key, missing = stored(store, 104, 20)
    good_copy = tmp_path / "copy.png"
    good_copy.write_bytes(store.read_blob(restorable[1]["blob"]))
    flip_a_byte(blob_file(store, changed[1]["blob"]))
    blob_file(store, truncated[1]["blob"]).write_bytes(b"\x89PNG\r\n")
    flip_a_byte(blob_file(store, restorable[1]["blob"]))
    store.put_action(repointed_key, {**rec, "blob": sound[0][1]["blob"]})
    blob_file(store, missing["blob"]).unlink()
    store.put_head("c/a/v", {"cache_key": missing_key, "blob": missing["blob"]})
    (store.root / "actions" / "zz").mkdir()
    (store.root / "actions" / "zz" / "junk.json").write_text("{not json")

    r = verify_store(store)
    assert (r.blobs.ok, r.blobs.damaged) == (4, 3)  # 3 sound + the re-pointed record's own image
    assert (r.records.ok, r.records.damaged, r.records.missing) == (3, 5, 1)
    assert (r.heads.ok, r.heads.missing) == (0, 1) and r.damage_remains

    r = verify_store(store, repair=True, copies=lambda d: [good_copy] if d == restorable[1]["blob"] else [])
    assert (r.blobs.repaired, r.blobs.quarantined) == (1, 2)
    assert (r.records.repaired, r.records.quarantined) == (1, 5) and not r.damage_remains
    assert store.read_blob(restorable[1]["blob"]) == good_copy.read_bytes()
    for key, _ in sound:
        assert store.get_action(key) is not None  # nothing sound was touched

    r = verify_store(store)
    assert (r.blobs.damaged, r.records.damaged, r.records.missing) == (0, 0, 0) and not r.damage_remains
    assert r.in_quarantine == 5 and r.records.ok == 4  # 2 images with their records, 2 records, 1 replaced
    reasons = [json.dumps(p.read_text()) for p in (store.root / "quarantine").rglob("REASON.txt")]
    assert any("points at image" in x for x in reasons) and any("sha256" in x for x in reasons)


def test_a_remote_store_is_verified_the_same_way(tmp_path: Path) -> None:
    import os
    import time

    store = Store(f"memory://assetpipe-integrity-{os.getpid()}-{time.monotonic_ns()}/cache")
    key, rec = stored(store)
    good = store.read_blob(rec["blob"])
    store._write(store._blob_rel(rec["blob"]), bytes(reversed(good)))  # same size, other bytes
    assert record_problem(store, key, rec) is None
    with pytest.raises(BlobDamaged) as e:
        export_verified(store, key, rec, tmp_path / "a.png")
    quarantine_damage(store, e.value)
    assert not store.has_blob(rec["blob"]) and store.get_action(key) is None
    assert any(x.endswith("REASON.txt") for x in store.list_entries("quarantine"))
    key2, rec2 = stored(store, 20, 20)
    r = verify_store(store)
    assert (r.blobs.ok, r.blobs.damaged, r.records.ok, r.in_quarantine) == (1, 0, 1, 1)
    assert verified_path(store, rec2["blob"]).read_bytes() == store.read_blob(rec2["blob"])
