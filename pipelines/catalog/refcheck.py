"""Reference images and masks named by a catalog: contained, regular files, and images whose
header says they can be decoded (a text file named .png, or a 40000x40000 decompression bomb, is
a validation error, not a failed build)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pipelines.catalog.sources import SourceProblem, regular_file
from providers.sizes import MAX_DECODE_PIXELS

ANY_SIZE = 1 << 62  # a reference is hashed streamed, never read whole: its byte size is not limited here
_seen: dict[tuple[str, int, int], str | None] = {}  # (real path, size, mtime) -> problem


def reference_file(path: Path, root: Path) -> Path:
    """The real path of a reference image; SourceProblem (SourceMissing) when it cannot be used."""
    real = regular_file(path, root, ANY_SIZE)
    st = os.stat(real)
    key = (str(real), st.st_size, st.st_mtime_ns)
    if key not in _seen:
        _seen[key] = _header_problem(real)
    if _seen[key]:
        raise SourceProblem(_seen[key])
    return real


def _header_problem(real: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError  # only catalogs with reference files pay for the import

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(real) as img:  # reads the header only
                w, h = img.width, img.height
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return "is not an image (use a PNG, JPEG or WebP file)"
    if w * h > MAX_DECODE_PIXELS:
        return f"is {w}x{h} pixels, over the {MAX_DECODE_PIXELS:,}-pixel limit for an input image"
    return None
