"""The content-addressed store: blobs by sha256, action records by cache key, heads by variant.

    <cache>/blobs/ab/abcdef...           the image bytes, named by their sha256
    <cache>/actions/12/1234....json      cache_key -> blob, provider, request id, cost, timings
    <cache>/heads/<campaign>/<asset>/<variant>.json
                                         the last build of a variant (to say *why* it changed)
    <cache>/notes/<kind>/12/1234....json derived facts about a blob, e.g. OCR check results
    <cache>/journal/...                  the journal of paid calls (pipelines.cache.journal), through
                                         read_file / write_file / list_files / delete_file

The cache is any fsspec URL; a plain path is used directly (no fsspec import). Writes are atomic:
a blob is written to a temporary name and renamed, and a record is written only after its blob, so
a crash leaves no partial blob and no record pointing at a missing blob. `lease(key)` gives
single flight across processes on one machine: a second build that wants the same key waits for
the first one's record instead of paying again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

from pipelines.cache.files import atomic_write, file_sha256
from pipelines.errors import StoreError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    def __init__(self, url: str, lock_dir: Path | None = None):
        self.url = url
        self.local = "://" not in url or url.startswith("file://")
        self.root = Path(url.removeprefix("file://")) if self.local else None
        self._fs = None
        self.lock_dir = lock_dir or (self.root / "locks" if self.root else None)
        self.blobs_written = 0

    # -- low level -------------------------------------------------------------------------------
    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            self._fs, self._base = fsspec.core.url_to_fs(self.url)
        return self._fs

    def _remote(self, rel: str) -> str:
        self.fs  # noqa: B018 - sets _base
        return f"{self._base.rstrip('/')}/{rel}"

    def _read(self, rel: str) -> bytes | None:
        try:
            if self.local:
                return (self.root / rel).read_bytes()
            return self.fs.cat_file(self._remote(rel))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {rel} from the cache at {self.url}: {exc}") from exc

    def _write(self, rel: str, data: bytes) -> None:
        try:
            if self.local:
                atomic_write(self.root / rel, data)
            else:  # object stores make a PUT visible all at once
                self.fs.pipe_file(self._remote(rel), data)
        except OSError as exc:
            raise StoreError(f"cannot write {rel} to the cache at {self.url}: {exc}") from exc

    def _exists(self, rel: str) -> bool:
        if self.local:
            return (self.root / rel).exists()
        return self.fs.exists(self._remote(rel))

    # -- small named files for the layers built on the store (the journal) ----------------------
    def read_file(self, rel: str) -> bytes | None:
        return self._read(rel)

    def write_file(self, rel: str, data: bytes) -> None:
        self._write(rel, data)

    def list_files(self, rel_dir: str) -> list[str]:
        """Names of the files directly under `rel_dir` (none when it does not exist); temporary
        names (a leading dot) are left out."""
        try:
            if self.local:
                names = [e.name for e in os.scandir(self.root / rel_dir) if e.is_file()]
            else:
                names = [str(p).rsplit("/", 1)[-1] for p in self.fs.ls(self._remote(rel_dir), detail=False)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {rel_dir} in the cache at {self.url}: {exc}") from exc
        return sorted(n for n in names if not n.startswith("."))

    def delete_file(self, rel: str) -> None:
        try:
            if self.local:
                (self.root / rel).unlink(missing_ok=True)
            elif self.fs.exists(self._remote(rel)):
                self.fs.rm_file(self._remote(rel))
        except OSError as exc:
            raise StoreError(f"cannot delete {rel} from the cache at {self.url}: {exc}") from exc

    # -- blobs -----------------------------------------------------------------------------------
    @staticmethod
    def _blob_rel(digest: str) -> str:
        return f"blobs/{digest[:2]}/{digest}"

    def put_blob(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        rel = self._blob_rel(digest)
        if not self._exists(rel):
            self._write(rel, data)
            self.blobs_written += 1
        return digest

    def has_blob(self, digest: str) -> bool:
        return self._exists(self._blob_rel(digest))

    def read_blob(self, digest: str) -> bytes:
        data = self._read(self._blob_rel(digest))
        if data is None:
            raise StoreError(f"blob {digest[:12]} is missing from the cache at {self.url}")
        return data

    def blob_path(self, digest: str) -> Path:
        """A local file with the blob's bytes (for remote stores, a cached download)."""
        if self.local:
            p = self.root / self._blob_rel(digest)
            if not p.exists():
                raise StoreError(f"blob {digest[:12]} is missing from the cache at {self.url}")
            return p
        local = Path(tempfile.gettempdir()) / "assetpipe-blobs" / digest
        if not local.exists():
            atomic_write(local, self.read_blob(digest))
        return local

    def export_blob(self, digest: str, dest: Path) -> bool:
        """Place the blob at `dest`; returns False when dest already holds exactly these bytes."""
        if dest.exists() and dest.stat().st_size > 0 and file_sha256(dest) == digest:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        if self.local:
            shutil.copyfile(self.blob_path(digest), tmp)
        else:
            tmp.write_bytes(self.read_blob(digest))
        os.replace(tmp, dest)
        return True

    # -- action records and heads ------------------------------------------------------------------
    @staticmethod
    def _action_rel(key: str) -> str:
        return f"actions/{key[:2]}/{key}.json"

    def get_action(self, key: str) -> dict[str, Any] | None:
        data = self._read(self._action_rel(key))
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None  # a foreign or damaged record is a miss, never a crash

    def put_action(self, key: str, record: dict[str, Any]) -> None:
        if not self.has_blob(record["blob"]):
            raise StoreError(f"refusing to record {key[:12]}: its blob {record['blob'][:12]} is not stored")
        self._write(self._action_rel(key), _dumps(record))

    @staticmethod
    def _head_rel(variant_key: str) -> str:
        return f"heads/{variant_key}.json"

    def get_head(self, variant_key: str) -> dict[str, Any] | None:
        data = self._read(self._head_rel(variant_key))
        try:
            return json.loads(data) if data is not None else None
        except ValueError:
            return None

    def put_head(self, variant_key: str, head: dict[str, Any]) -> None:
        self._write(self._head_rel(variant_key), _dumps(head))

    # -- derived facts about a blob (check results), cached like build outputs --------------------
    def get_note(self, kind: str, key: str) -> dict[str, Any] | None:
        data = self._read(f"notes/{kind}/{key[:2]}/{key}.json")
        try:
            return json.loads(data) if data is not None else None
        except ValueError:
            return None

    def put_note(self, kind: str, key: str, note: dict[str, Any]) -> None:
        self._write(f"notes/{kind}/{key[:2]}/{key}.json", _dumps(note))

    # -- single flight -----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lease(self, key: str, poll_s: float = 0.05) -> AsyncIterator[None]:
        """Hold the right to produce `key`. Other processes on this machine wait here."""
        if self.lock_dir is None:
            yield
            return
        path = self.lock_dir / key[:2] / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(poll_s)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


    def leased(self, key: str) -> bool:
        """Whether a build on this machine holds `key`'s lease right now (a peek: never waits)."""
        if self.lock_dir is None:
            return False
        path = self.lock_dir / key[:2] / f"{key}.lock"
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock we took
        return False


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=1).encode()
