"""The `render` operation: a local rendition of an image (resize, crop, format, quality), no provider.

Deterministic: the same source bytes and parameters always give the same output bytes, so a
render's cache key (its source digest plus these parameters) names exactly one result.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from pipelines.errors import BuildError, ProtocolError
from providers.sizes import PIL_FORMATS, decode, encode, fit_image

FITS = ("cover", "contain", "stretch")


def render_image(
    src: Path | bytes,
    *,
    width: int,
    height: int,
    fit: str = "cover",
    output_format: str = "png",
    quality: int | None = None,
) -> bytes:
    """`src` brought to exactly WIDTHxHEIGHT in `output_format`.

    cover fills the frame and centre-crops; contain fits inside and pads (white, or transparent
    where the format keeps alpha); stretch ignores the aspect ratio. `quality` (0-100) applies to
    jpeg and webp."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if output_format not in PIL_FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(PIL_FORMATS)}, got {output_format!r}")
    if quality is not None and not 0 <= quality <= 100:
        raise ValueError(f"quality must be 0..100, got {quality}")
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {width}x{height}")
    img = load_image(src)
    out = fit_image(img, width, height, fit)
    if output_format == "jpeg" and out.mode == "RGBA":
        out = flatten(out)  # JPEG has no alpha: transparent areas become white, not their hidden RGB
    return encode(out, output_format, quality)


def load_image(src: Path | bytes) -> Image.Image:
    """Decode a local image (upright per its EXIF orientation) as RGB or RGBA."""
    name = str(src) if isinstance(src, Path) else "image bytes"
    try:
        data = Path(src).read_bytes() if isinstance(src, Path) else bytes(src)
        img = decode(data)
    except OSError as exc:
        raise BuildError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except ProtocolError as exc:
        raise BuildError(f"{name} is not a valid image") from exc
    img = ImageOps.exif_transpose(img)
    has_alpha = "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)
    return img.convert("RGBA" if has_alpha else "RGB")


def flatten(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    if img.mode != "RGBA":
        return img.convert("RGB")
    base = Image.new("RGBA", img.size, background + (255,))
    return Image.alpha_composite(base, img).convert("RGB")
