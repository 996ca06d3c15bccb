"""Content digests of reference files, remembered by (size, mtime) as git's index and DVC do.

A plan hashes a reference image once per content change, not on every run: a file whose size and
mtime are unchanged keeps its digest. Files are streamed in 1 MiB chunks, never held whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipelines.store import _atomic_write


class FileHasher:
    def __init__(self, state_dir: Path | None):
        self.path = state_dir / "hashes.json" if state_dir else None
        self._memo: dict[str, list] = {}
        self._dirty = False
        self.hashed = 0  # files actually read this process (for tests and benchmarks)
        if self.path and self.path.exists():
            try:
                self._memo = json.loads(self.path.read_text())
            except ValueError:
                self._memo = {}

    def digest(self, path: Path) -> str:
        key = str(path.resolve())
        st = path.stat()
        seen = self._memo.get(key)
        if seen and seen[0] == st.st_size and seen[1] == st.st_mtime_ns:
            return seen[2]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        self.hashed += 1
        self._memo[key] = [st.st_size, st.st_mtime_ns, h.hexdigest()]
        self._dirty = True
        return h.hexdigest()

    def save(self) -> None:
        if self._dirty and self.path:
            _atomic_write(self.path, json.dumps(self._memo).encode())
            self._dirty = False

    def __enter__(self) -> "FileHasher":
        return self

    def __exit__(self, *exc) -> None:
        if os.environ.get("ASSETPIPE_READONLY") != "1":
            self.save()
