"""Content digests of reference files, remembered by their stat data as git's index and DVC do.

A plan hashes a reference image once per content change, not on every run: a file whose size,
mtime, inode and ctime are unchanged keeps its digest. Size and mtime alone are not enough:
`cp -p`, `rsync -t`, `touch -r` and unpacked archives put old mtimes on new bytes, while the
ctime (which no tool can set) and the inode move with them. Files are streamed in 1 MiB chunks,
never held whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipelines.cache.files import atomic_write


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
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        seen = self._memo.get(key)  # [size, mtime_ns, digest, ino, ctime_ns]; older files lack the last two
        if seen and [*seen[:2], *seen[3:]] == stamp:
            return seen[2]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        self.hashed += 1
        self._memo[key] = [st.st_size, st.st_mtime_ns, h.hexdigest(), st.st_ino, st.st_ctime_ns]
        self._dirty = True
        return h.hexdigest()

    def save(self) -> None:
        if self._dirty and self.path:
            atomic_write(self.path, json.dumps(self._memo).encode())
            self._dirty = False

    def __enter__(self) -> "FileHasher":
        return self

    def __exit__(self, *exc) -> None:
        if os.environ.get("ASSETPIPE_READONLY") != "1":
            self.save()
