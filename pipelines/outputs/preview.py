"""Small JPEG previews: gallery thumbnails and the inline preview in Dagster asset metadata."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from pipelines.engine.render import flatten, load_image

DATA_URI_LIMIT = 20_000  # Dagster metadata markdown stays light even with thousands of assets


def thumbnail_bytes(src: Path | bytes, max_px: int = 256, quality: int = 82) -> bytes:
    """A JPEG whose longer side is at most `max_px` (never upscaled); alpha is shown over white."""
    return _encode(_thumbnail(src, max_px), quality)


def thumbnail_data_uri(src: Path | bytes, max_px: int = 160) -> str:
    """`data:image/jpeg;base64,...` under DATA_URI_LIMIT characters."""
    img = _thumbnail(src, max_px)
    while True:
        for quality in (75, 60, 45, 30):
            uri = "data:image/jpeg;base64," + base64.b64encode(_encode(img, quality)).decode("ascii")
            if len(uri) < DATA_URI_LIMIT:
                return uri
        # only noise-like images get here: halve the size until it fits
        img = img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.LANCZOS)


def _thumbnail(src: Path | bytes, max_px: int) -> Image.Image:
    if max_px < 1:
        raise ValueError(f"max_px must be positive, got {max_px}")
    img = load_image(src)
    img.thumbnail((max_px, max_px), Image.LANCZOS, reducing_gap=2.0)
    return flatten(img)


def _encode(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()
