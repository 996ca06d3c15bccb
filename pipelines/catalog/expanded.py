"""The expanded catalog, remembered between commands while nothing it came from changed.

Expanding renders every variant's templates (three or so Jinja renders a variant): ~40 s for
100,000 variants on a loaded 2-core machine, paid by every `validate`, `plan`, no-op `build` and
definitions load. Its result depends only on the catalog's text files (catalog.yaml, campaigns/,
locales/, partials/), the settings they load to, the reference files that exist, the working
directory (errors and sources show paths relative to it) and this package's code. Those are
hashed (the text files read whole: they are small) into a key; a catalog that expanded without a
problem is stored under <catalog>/.assetpipe/expanded/<key>.pickle, and the next command with the
same key loads it. A catalog with problems is never stored, so its errors are always found afresh.
Reference files are checked again on every load (they must still exist), so a deleted ref is
reported as before. The file is written atomically; any problem reading it means expanding again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Callable

from pipelines.catalog.loader import Catalog
from pipelines.catalog.variant import Variant

TEXT_DIRS = ("campaigns", "locales", "partials")
_CODE = Path(__file__).resolve().parent
VERSION = b"1"
MAX_TEXT_BYTES = 4 << 20


def expanded(catalog: Catalog, expand: Callable[[Catalog], list[Variant]]) -> list[Variant]:
    """`expand(catalog)`, or what it returned last time for the same inputs."""
    files = _inputs(catalog.root)
    if catalog.issues or files is None:  # the expansion reports them, with its own
        return expand(catalog)
    key = _key(catalog, files)
    path = catalog.state_dir / "expanded" / f"{key}.pickle"
    variants = _load(path)
    if variants is not None:
        return variants
    variants = expand(catalog)
    _store(path, variants)
    return variants


def _inputs(root: Path) -> list[Path] | None:
    """The text files an expansion reads, or None when one is not a plain file inside the catalog
    of a sensible size (a symlink out of it, a device, a huge file): such a catalog is expanded
    every time, and the expansion's own containment rules report what is wrong."""
    dirs = [root / d for d in TEXT_DIRS]
    if any(d.is_symlink() for d in dirs):
        return None
    entries = [p for d in dirs for p in d.rglob("*")]  # (rglob does not descend into symlinked dirs)
    if any(p.is_symlink() for p in entries):
        return None
    files = [root / "catalog.yaml"] + sorted(p for p in entries if not p.is_dir())
    for f in files:
        if f.is_symlink() or not f.is_file() or f.stat().st_size > MAX_TEXT_BYTES:
            return None
    return files


def _key(catalog: Catalog, files: list[Path]) -> str:
    h = hashlib.sha256(VERSION)
    for f in sorted(_CODE.glob("*.py")):  # this package's code: a new expander expands again
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    h.update(f"cwd:{os.getcwd()}\nroot:{catalog.root.resolve()}\n".encode())
    h.update(catalog.settings.model_dump_json().encode())
    root = catalog.root
    for f in files:
        h.update(f"\n{f.relative_to(root).as_posix()}\n".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _load(path: Path) -> list[Variant] | None:
    try:
        with open(path, "rb") as f:
            variants = pickle.load(f)
    except Exception:  # missing, truncated, from another Python: expand again
        return None
    refs = {i.path for v in variants for i in v.inputs if i.kind == "file" and i.path is not None}
    if not all(Path(p).is_file() for p in refs):  # a reference file went away: report it afresh
        return None
    return variants


def _store(path: Path, variants: list[Variant]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(variants, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        for old in path.parent.glob("*.pickle"):  # one catalog state is enough
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:  # a read-only catalog still plans, only slower
        pass
