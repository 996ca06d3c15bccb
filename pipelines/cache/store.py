"""The content-addressed store: blobs by sha256, action records by cache key, heads by variant.

    <cache>/blobs/ab/abcdef...           the image bytes, named by their sha256
    <cache>/actions/12/1234....json      cache_key -> blob, provider, request id, cost, timings
    <cache>/heads/<campaign>/<asset>/<variant>.json
                                         the last build of a variant (to say *why* it changed)
    <cache>/notes/<kind>/12/1234....json derived facts about a blob, e.g. OCR check results
    <cache>/journal/...                  the journal of paid calls (pipelines.cache.journal), through
                                         read_file / write_file / list_files / delete_file
    <cache>/batches/..., calibration/... the batch lane's open batches, the estimate-vs-bill history

The cache is any fsspec URL; a plain path is used directly (no fsspec import). Writes are atomic:
a blob is written to a temporary name and renamed (an object store makes a PUT visible whole), and
a record is written only after its blob, so a crash leaves no partial blob and no record pointing
at a missing blob. `create_file` writes only when the name is free (a hard link locally,
If-None-Match on S3), so two writers can never both think they wrote first.

`lease(key)` gives single flight: a second build that wants the same key waits for the first one's
record instead of paying again. The leases come from pipelines.coordination: lock files on one
machine by default, PostgreSQL across machines.

Every failure of the storage underneath (a missing bucket, refused credentials, an unreachable
endpoint: botocore's errors are not all OSErrors) is a StoreError naming the cache, never the
credentials; `check()` finds them before anything is paid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from pipelines.cache.files import atomic_write, file_sha256
from pipelines.coordination import FileLeases, Leases
from pipelines.errors import BlobDamaged, StoreError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    def __init__(self, url: str, lock_dir: Path | None = None, leases: Leases | None = None):
        """`leases` give single flight (pipelines.coordination); `lock_dir` is short for lock files."""
        self.url = url
        self.local = "://" not in url or url.startswith("file://")
        self.root = Path(url.removeprefix("file://")) if self.local else None
        self._root_s = str(self.root) if self.root is not None else ""
        self._fs = None
        self.lock_dir = lock_dir or (self.root / "locks" if self.root else None)
        self.leases = leases or (FileLeases(self.lock_dir) if self.lock_dir else None)
        self.blobs_written = 0
        self._checked = False

    # -- low level -------------------------------------------------------------------------------
    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            with self._errors("open"):
                # our own instance (fsspec's cache would keep credentials read before a change), and
                # no listings cache: other machines add files a cached listing would never show
                self._fs, self._base = fsspec.core.url_to_fs(self.url, skip_instance_cache=True,
                                                             use_listings_cache=False)
        return self._fs

    def _remote(self, rel: str) -> str:
        self.fs  # noqa: B018 - sets _base
        return f"{self._base.rstrip('/')}/{rel}"

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Any failure of the storage underneath as one StoreError (FileNotFoundError and
        FileExistsError pass: callers decide what a missing or present name means)."""
        try:
            yield
        except (FileNotFoundError, FileExistsError):
            raise
        except StoreError:
            raise
        except ImportError as exc:  # fsspec's "Please install gcsfs ...": the cache's package is missing
            raise StoreError(f"cannot {what} the cache at {self.url}: {_describe(exc)}") from exc
        except Exception as exc:
            if not isinstance(exc, OSError) and not _is_storage_error(exc):
                raise
            raise StoreError(f"cannot {what} the cache at {self.url}: {_describe(exc)}") from exc

    def _read(self, rel: str) -> bytes | None:
        if self.local:  # a plan reads two small files a variant: no Path objects, no context manager
            try:
                with open(f"{self._root_s}/{rel}", "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise StoreError(f"cannot read {rel} from the cache at {self.url}: {_describe(exc)}") from exc
        try:
            with self._errors(f"read {rel} from"):
                return self.fs.cat_file(self._remote(rel))
        except FileNotFoundError:
            return None

    def _write(self, rel: str, data: bytes) -> None:
        try:
            with self._errors(f"write {rel} to"):
                if self.local:
                    atomic_write(self.root / rel, data)
                else:  # object stores make a PUT visible all at once
                    self.fs.pipe_file(self._remote(rel), data)
        except FileNotFoundError as exc:  # a missing bucket
            raise StoreError(f"cannot write {rel} to the cache at {self.url}: {_describe(exc)}") from exc

    def _exists(self, rel: str) -> bool:
        with self._errors(f"look for {rel} in"):
            if self.local:
                return (self.root / rel).exists()
            return self.fs.exists(self._remote(rel))

    def create_file(self, rel: str, data: bytes) -> bool:
        """Write `rel` only if no file has that name; False when one had (another writer was first).
        Atomic for every writer sharing the store: a hard link locally, If-None-Match on S3."""
        try:
            with self._errors(f"create {rel} in"):
                if self.local:
                    _create_local(self.root / rel, data)
                else:
                    self.fs.pipe_file(self._remote(rel), data, mode="create")
            return True
        except FileExistsError:
            return False
        except FileNotFoundError as exc:
            raise StoreError(f"cannot create {rel} in the cache at {self.url}: {_describe(exc)}") from exc

    def check(self) -> None:
        """Prove the cache can be written (and a name created only once) before anything is paid:
        a missing bucket, refused credentials or an unreachable endpoint become one StoreError here.
        A write is the only proof: S3's `exists` says False for a bucket that does not exist."""
        if self._checked:
            return
        if self.local:  # a directory: no bucket or credentials to prove
            self._checked = True
            return
        probe = f"probes/{uuid.uuid4().hex}"
        if not self.create_file(probe, b"probe"):
            raise StoreError(f"the cache at {self.url} reported a fresh name as taken")
        if self.create_file(probe, b"again"):
            raise StoreError(f"the cache at {self.url} does not refuse to create a name twice "
                             "(S3 conditional writes, If-None-Match); assetpipe needs them")
        with self._errors("remove a probe from"):
            self.fs.rm_file(self._remote(probe))
        self._checked = True

    # -- small named files for the layers built on the store (the journal, the batch lane) ------
    def read_file(self, rel: str) -> bytes | None:
        return self._read(rel)

    def write_file(self, rel: str, data: bytes) -> None:
        self._write(rel, data)

    def list_files(self, rel_dir: str) -> list[str]:
        """Names of the files directly under `rel_dir` (none when it does not exist); temporary
        names (a leading dot) are left out."""
        try:
            with self._errors(f"list {rel_dir} in"):
                if self.local:
                    names = [e.name for e in os.scandir(self.root / rel_dir) if e.is_file()]
                else:
                    names = [str(p).rsplit("/", 1)[-1] for p in self.fs.ls(self._remote(rel_dir), detail=False)]
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith("."))

    def delete_file(self, rel: str) -> None:
        try:
            with self._errors(f"delete {rel} from"):
                if self.local:
                    (self.root / rel).unlink(missing_ok=True)
                else:
                    self.fs.rm_file(self._remote(rel))
        except FileNotFoundError:
            pass  # gone already: what deleting wants

    # -- blobs -----------------------------------------------------------------------------------
    @staticmethod
    def _blob_rel(digest: str) -> str:
        return f"blobs/{digest[:2]}/{digest}"

    def put_blob(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        rel = self._blob_rel(digest)
        if not self._exists(rel) or self.blob_size(digest) != len(data):  # a truncated copy is replaced
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
        """Place the blob at `dest`; returns False when dest already holds exactly these bytes.
        The bytes are hashed as they are copied: a blob that no longer matches its name raises
        BlobDamaged and nothing is placed."""
        if dest.exists() and dest.stat().st_size > 0 and file_sha256(dest) == digest:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            h = hashlib.sha256()
            with open(tmp, "wb") as out:
                for chunk in self.iter_blob(digest):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != digest:
                raise BlobDamaged(digest, "no longer matches its sha256 (its bytes were changed or truncated)")
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return True

    # -- integrity: sizes, streams, moving damaged entries aside (see pipelines.cache.integrity) ----
    def blob_size(self, digest: str) -> int | None:
        rel = self._blob_rel(digest)
        try:
            with self._errors(f"read {rel} from"):
                return (self.root / rel).stat().st_size if self.local else int(self.fs.size(self._remote(rel)))
        except FileNotFoundError:
            return None

    def open_blob(self, digest: str):
        rel = self._blob_rel(digest)
        try:
            with self._errors(f"read {rel} from"):
                return open(self.root / rel, "rb") if self.local else self.fs.open(self._remote(rel), "rb")
        except FileNotFoundError:
            raise StoreError(f"blob {digest[:12]} is missing from the cache at {self.url}") from None

    def iter_blob(self, digest: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The blob's bytes, streamed. A storage failure (also mid-stream, on S3) is a StoreError:
        never mistaken for damage. StoreError too when it is missing (ask `blob_size` first)."""
        rel = self._blob_rel(digest)
        with self._errors(f"read {rel} from"), self.open_blob(digest) as f:
            while data := f.read(chunk):
                yield data

    def sha256_of_blob(self, digest: str) -> str | None:
        """The sha256 of the stored bytes named `digest` (streamed), None when there is no such blob."""
        if self.blob_size(digest) is None:
            return None
        h = hashlib.sha256()
        for data in self.iter_blob(digest):
            h.update(data)
        return h.hexdigest()

    def read_blob_head(self, digest: str, n: int) -> bytes:
        """The first `n` bytes of the blob (an image header), without reading the rest."""
        rel = self._blob_rel(digest)
        with self._errors(f"read {rel} from"), self.open_blob(digest) as f:
            return f.read(n)

    def list_entries(self, prefix: str) -> list[str]:
        """Every file under `prefix` ("blobs", "actions" ...), as paths relative to the store."""
        try:
            with self._errors(f"list {prefix} in"):
                if self.local:
                    base = self.root / prefix
                    return sorted(str(Path(d, f).relative_to(self.root)) for d, _, files in os.walk(base)
                                  for f in files if not f.startswith("."))
                found = self.fs.find(self._remote(prefix))
        except FileNotFoundError:
            return []
        base = self._base.rstrip("/") + "/"
        return sorted(f[len(base):] if f.startswith(base) else f for f in found)

    def move_aside(self, rel: str, dest_rel: str) -> bool:
        """Move one entry of the store to `dest_rel` (quarantine); False when it is already gone."""
        try:
            with self._errors(f"move {rel} aside in"):
                if self.local:
                    (self.root / dest_rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(self.root / rel, self.root / dest_rel)
                else:
                    self.fs.mv(self._remote(rel), self._remote(dest_rel))
            return True
        except FileNotFoundError:
            return False

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
    async def lease(self, key: str) -> AsyncIterator[None]:
        """Hold the right to produce `key`: every build sharing the leases waits here."""
        if self.leases is None:
            yield
            return
        async with self.leases.lease(key):
            yield

    def leased(self, key: str) -> bool:
        """Whether a build holds `key`'s lease right now (a peek: never waits)."""
        return self.leases is not None and self.leases.held(key)


def _create_local(path: Path, data: bytes) -> None:
    """Write `path` whole, or raise FileExistsError: written under a temporary name, then linked
    (a link fails when the name exists). Where hard links are not supported, an exclusive create."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError:
        pass
    finally:
        tmp.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _is_storage_error(exc: BaseException) -> bool:
    """botocore's own errors (no credentials, endpoint unreachable, ...) are not OSErrors."""
    return any(c.__module__.startswith(("botocore", "aiobotocore")) for c in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    """The storage's message, first line only: what went wrong, never a credential (botocore and
    s3fs do not echo secrets; the line is cut so no request dump follows)."""
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    kind = {FileNotFoundError: "not found (a missing bucket?)", PermissionError: "access refused"}.get(type(exc))
    if type(exc).__name__ == "NoCredentialsError":
        kind = "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile or role)"
    elif type(exc).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        kind = "cannot connect to the endpoint" + (f" {os.environ['AWS_ENDPOINT_URL']}"
                                                    if os.environ.get("AWS_ENDPOINT_URL") else "")
    return f"{kind}: {text}" if kind and text else (kind or text or type(exc).__name__)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=1).encode()
