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


def expanded(catalog: Catalog, expand: Callable[[Catalog], list[Variant]]) -> list[Variant]:
    """`expand(catalog)`, or what it returned last time for the same inputs."""
    if catalog.issues:  # the expansion reports them, with its own
        return expand(catalog)
    key = _key(catalog)
    path = catalog.state_dir / "expanded" / f"{key}.pickle"
    variants = _load(path)
    if variants is not None:
        return variants
    variants = expand(catalog)
    _store(path, variants)
    return variants


def _key(catalog: Catalog) -> str:
    h = hashlib.sha256(VERSION)
    for f in sorted(_CODE.glob("*.py")):  # this package's code: a new expander expands again
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    h.update(f"cwd:{os.getcwd()}\nroot:{catalog.root.resolve()}\n".encode())
    h.update(catalog.settings.model_dump_json().encode())
    root = catalog.root
    files = [root / "catalog.yaml"] + sorted(p for d in TEXT_DIRS for p in (root / d).rglob("*") if p.is_file())
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
