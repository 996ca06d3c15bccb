"""Verified reads with the cache on S3 (`cache: s3://bucket/prefix`, moto's server mode): an image
whose bytes were changed in the bucket is never exported, it is moved to the bucket's quarantine/
and the variant rebuilt; `verify --repair` works there too; and a storage failure while reading is
a StoreError, never taken for damage (nothing sound is quarantined because S3 was unreachable)."""

from __future__ import annotations

import hashlib
import json

import pytest

from pipelines.cache.integrity import blob_hash_problem, export_verified, quarantine_damage
from pipelines.cache.store import Store
from pipelines.errors import BlobDamaged, StoreError
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import run_cli
from tests.helpers.services import free_port

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

CAMPAIGN = """
    campaign: shop
    assets:
      - name: poster
        matrix: {size: [1024x1536, 1536x1024]}
        prompt: A poster of a mug
    """
KEY = "shop/poster/1024x1536"


def _flip(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


def test_a_tampered_image_in_the_bucket_is_quarantined_and_rebuilt(tmp_path, s3_env) -> None:
    bucket = s3_env.bucket()
    cat = write_catalog(tmp_path / "catalog", {
        "catalog.yaml": f'check_text: "off"\ncache: s3://{bucket}/cache\nproviders:\n  draft: {{type: draft}}\n',
        "campaigns/shop.yaml": CAMPAIGN})
    env = s3_env.env
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    s3 = s3_env.client()
    head = json.loads(s3.get_object(Bucket=bucket, Key=f"cache/heads/{KEY}.json")["Body"].read())
    blob_key = f"cache/blobs/{head['blob'][:2]}/{head['blob']}"
    tampered = _flip(s3.get_object(Bucket=bucket, Key=blob_key)["Body"].read())
    s3.put_object(Bucket=bucket, Key=blob_key, Body=tampered)  # same size: only a hash can tell
    (cat / "out" / f"{KEY}.png").unlink()

    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    assert "no longer matches its sha256" in out and "Traceback" not in out + err
    exported = (cat / "out" / f"{KEY}.png").read_bytes()
    assert exported != tampered
    for e in manifest(cat)["variants"]:
        assert hashlib.sha256((cat / "out" / e["path"]).read_bytes()).hexdigest() == e["sha256"], e["key"]
    moved = [k for k in s3_env.keys(bucket) if k.startswith("cache/quarantine/")]
    assert any(k.endswith(f"blob-{head['blob']}") for k in moved), moved
    assert any(k.endswith("REASON.txt") for k in moved)

    code, out, err = run_cli("verify", catalog=cat, env=env)  # the store is sound again
    assert code == 0 and "0 damaged" in out, out + err


def test_verify_repairs_a_damaged_blob_in_the_bucket(tmp_path, s3_env) -> None:
    bucket = s3_env.bucket()
    store = Store(f"s3://{bucket}/c")
    good = b"\x89PNG not really an image, but a blob"
    digest = store.put_blob(good)
    store.put_action("ab" * 32, {"blob": digest, "bytes": len(good), "cache_key": "ab" * 32})
    s3_env.client().put_object(Bucket=bucket, Key=f"c/blobs/{digest[:2]}/{digest}", Body=_flip(good))
    assert blob_hash_problem(store, digest) is not None

    with pytest.raises(BlobDamaged) as info:
        export_verified(store, "ab" * 32, store.get_action("ab" * 32), tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()  # nothing exported
    folder = quarantine_damage(store, info.value).quarantined
    assert folder and folder.startswith("quarantine/")
    keys = s3_env.keys(bucket)
    assert f"c/{folder}/blob-{digest}" in keys and f"c/{folder}/action-{'ab' * 32}.json" in keys
    assert not store.has_blob(digest) and store.get_action("ab" * 32) is None


def test_an_unreachable_bucket_is_a_store_error_never_damage(tmp_path, s3_env, monkeypatch) -> None:
    bucket = s3_env.bucket()
    store = Store(f"s3://{bucket}/c")
    digest = store.put_blob(b"pixels")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    gone = Store(f"s3://{bucket}/c")
    with pytest.raises(StoreError, match="cannot"):
        blob_hash_problem(gone, digest)
    assert not any(k.startswith("c/quarantine/") for k in s3_env.keys(bucket))
