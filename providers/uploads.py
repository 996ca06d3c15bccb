"""Input images for URL-only vendors (EachLabs, RunAPI): our own public storage, content-addressed.

catalog.yaml `uploads: {target, public_url}`: `target` is where we write (any fsspec URL: a
path, s3://bucket/prefix, memory:// in tests), `public_url` is where the vendor reads the same
objects over HTTPS. Objects are named `<sha256><ext>`, so an upload happens once per content, a
re-upload is a no-op, and nothing but a hash ever appears in a URL we hand a vendor.

Vendors fetch these URLs from the internet, and they refuse data: URIs and loopback hosts; we
also never forward a URL a user pasted unless it lies under our own `public_url` (`is_ours`).
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import uuid
from urllib.parse import urlsplit

import fsspec

from providers.base import InputImage
from providers.netpolicy import public_url_problem  # noqa: F401  (re-exported: vendor modules import it here)

_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def _norm_path(path: str) -> str | None:
    """The URL path with no dot segments, or None when it tries to climb out (`..`)."""
    segments = path.split("/")
    if any(s in ("..", ".") for s in segments) or "%2e" in path.lower() or "%2f" in path.lower():
        return None
    return path


class Uploader:
    def __init__(self, target: str, public_url: str):
        problem = public_url_problem(public_url)
        if problem:
            raise ValueError(f"uploads.public_url {public_url!r}: {problem}")
        self.target = str(target).rstrip("/")
        self.public_url = public_url.rstrip("/")
        self._fs, self._root = fsspec.core.url_to_fs(self.target)
        self._root = self._root.rstrip("/")
        self._done: dict[str, str] = {}  # digest+ext -> public URL, so a run checks storage once
        self._locks: dict[str, asyncio.Lock] = {}
        pub = urlsplit(self.public_url)
        self._pub_host = (pub.hostname or "").lower()
        self._pub_port = pub.port or 443
        self._pub_path = pub.path.rstrip("/")

    async def url_for(self, img: InputImage) -> str:
        """Upload `img` once (content-addressed) and return the public HTTPS URL of its bytes."""
        data = await asyncio.to_thread(img.read)
        # name by what is actually on disk, not by a digest computed earlier: the URL must mean these bytes
        digest = hashlib.sha256(data).hexdigest()
        name = digest + _EXT.get(img.mime, ".png")
        if name in self._done:
            return self._done[name]
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self._done:
                await asyncio.to_thread(self._put, name, data)
                self._done[name] = f"{self.public_url}/{name}"
        return self._done[name]

    def _put(self, name: str, data: bytes) -> None:
        final = f"{self._root}/{name}"
        if self._fs.exists(final):
            return
        parent = self._root
        if parent:
            self._fs.makedirs(parent, exist_ok=True)
        # temp + rename: a crash never leaves a truncated object under the name vendors will fetch
        tmp = f"{self._root}/.tmp-{uuid.uuid4().hex}-{name}"
        self._fs.pipe_file(tmp, data)
        try:
            self._fs.mv(tmp, final)
        except Exception:
            try:
                self._fs.rm(tmp)
            except Exception:
                pass
            raise

    def is_ours(self, url: str) -> bool:
        """True when `url` is a public HTTPS URL under `public_url` (what a catalog may name directly)."""
        if public_url_problem(url) is not None:
            return False
        parts = urlsplit(url)
        if (parts.hostname or "").lower() != self._pub_host or (parts.port or 443) != self._pub_port:
            return False
        path = _norm_path(parts.path)
        if path is None or not path.startswith(self._pub_path + "/"):
            return False
        return len(path) > len(self._pub_path) + 1 and posixpath.basename(path) != ""
