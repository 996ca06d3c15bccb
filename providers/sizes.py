"""Sizes: the catalog's `WxH`, gpt-image-2's rules, and bringing any image to exactly WxH.

gpt-image-2 accepts both sides multiples of 16, longest edge <= 3840, ratio within 1:3..3:1 and
655,360..8,294,400 pixels. Any other requested size is produced by asking for the nearest valid
size and resizing/cropping locally (`conform`).
"""

from __future__ import annotations

import io
import math
import re
import warnings

from PIL import Image, UnidentifiedImageError

from providers.errors import ProtocolError

MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400
MAX_EDGE = 3840
MAX_RATIO = 3.0
# A vendor image larger than this is refused before decoding (decompression-bomb guard).
MAX_DECODE_PIXELS = 4 * MAX_PIXELS
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """'1536x1024' -> (1536, 1024); ValueError with a readable message otherwise."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"size must be WxH, e.g. 1024x1536, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 16 or h < 16 or w > 10_000 or h > 10_000:
        raise ValueError(f"size {w}x{h} is out of range (16..10000 per side)")
    return w, h


def gpt_image_2_problems(w: int, h: int) -> list[str]:
    out = []
    if w % 16 or h % 16:
        out.append("both sides must be multiples of 16")
    if max(w, h) > MAX_EDGE:
        out.append(f"longest edge must be <= {MAX_EDGE}")
    if max(w, h) / min(w, h) > MAX_RATIO:
        out.append("aspect ratio must be within 1:3 .. 3:1")
    if not MIN_PIXELS <= w * h <= MAX_PIXELS:
        out.append(f"pixel count must be {MIN_PIXELS:,}..{MAX_PIXELS:,}")
    return out


def nearest_valid(w: int, h: int) -> tuple[int, int]:
    """The valid gpt-image-2 size closest in shape to WxH, scaled as little as possible."""
    ratio = min(max(w / h, 1 / MAX_RATIO), MAX_RATIO)
    pixels = min(max(w * h, MIN_PIXELS), MAX_PIXELS)
    best: tuple[float, tuple[int, int]] | None = None
    # search widths around the ideal; sides snap to multiples of 16
    ideal_w = math.sqrt(pixels * ratio)
    for dw in range(-8, 9):
        cw = int(round(ideal_w / 16)) * 16 + 16 * dw
        if cw < 16:
            continue
        for ch in {int(math.floor(cw / ratio / 16)) * 16, int(math.ceil(cw / ratio / 16)) * 16}:
            if ch < 16 or gpt_image_2_problems(cw, ch):
                continue
            score = abs(math.log((cw / ch) / (w / h))) * 10 + abs(math.log((cw * ch) / (w * h)))
            if best is None or score < best[0]:
                best = (score, (cw, ch))
    assert best is not None, (w, h)
    return best[1]


def nearest_ratio(w: int, h: int, ratios: list[str]) -> str:
    """The 'a:b' string from `ratios` closest to w/h in log space."""
    target = math.log(w / h)

    def dist(r: str) -> float:
        a, b = r.split(":")
        return abs(math.log(float(a) / float(b)) - target)

    return min((r for r in ratios if ":" in r), key=dist)


def decode(data: bytes, *, provider: str | None = None) -> Image.Image:
    """Decode and fully load an image, refusing non-images, truncation and decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_DECODE_PIXELS:
                raise ProtocolError(f"image of {img.width}x{img.height} is too large to accept", provider=provider)
            img.load()
    except ProtocolError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ProtocolError(f"vendor returned bytes that are not a valid image: {exc}", provider=provider) from exc
    return img


def fit_image(img: Image.Image, w: int, h: int, fit: str = "cover") -> Image.Image:
    """Resize to exactly WxH. cover: fill and centre-crop; contain: fit inside and pad."""
    if img.size == (w, h):
        return img
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
    sw, sh = img.size
    if fit == "contain":
        scale = min(w / sw, h / sh)
        nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
        resized = img.resize((nw, nh), Image.LANCZOS)
        bg = (255, 255, 255, 0) if resized.mode == "RGBA" else (255, 255, 255)
        canvas = Image.new(resized.mode, (w, h), bg)
        canvas.paste(resized, ((w - nw) // 2, (h - nh) // 2))
        return canvas
    if fit == "stretch":
        return img.resize((w, h), Image.LANCZOS)
    scale = max(w / sw, h / sh)
    nw, nh = max(w, round(sw * scale)), max(h, round(sh * scale))
    resized = img.resize((nw, nh), Image.LANCZOS)
    left, top = (nw - w) // 2, (nh - h) // 2
    return resized.crop((left, top, left + w, top + h))


def encode(img: Image.Image, output_format: str, compression: int | None = None) -> bytes:
    fmt = PIL_FORMATS[output_format]
    buf = io.BytesIO()
    if fmt == "JPEG":
        if img.mode != "RGB":
            img = img.convert("RGB")
        img.save(buf, fmt, quality=compression if compression is not None else 90, optimize=True)
    elif fmt == "WEBP":
        img.save(buf, fmt, quality=compression if compression is not None else 90)
    else:
        img.save(buf, fmt, optimize=False, compress_level=6)
    return buf.getvalue()


def conform(
    data: bytes,
    width: int,
    height: int,
    output_format: str,
    compression: int | None = None,
    *,
    fit: str = "cover",
    provider: str | None = None,
) -> tuple[bytes, int, int]:
    """Verify `data` is an image and return it as exactly WxH in `output_format`.

    Bytes that already match are returned untouched (no needless re-encode)."""
    img = decode(data, provider=provider)
    if img.size == (width, height) and (img.format or "").upper() == PIL_FORMATS[output_format]:
        return data, width, height
    return encode(fit_image(img, width, height, fit), output_format, compression), width, height


def apply_mask(edited: bytes, original: bytes, mask: bytes, output_format: str,
               compression: int | None = None) -> bytes:
    """Keep `original` where the mask is opaque, `edited` where it is transparent (OpenAI's mask
    semantics), for vendors whose edit endpoint takes no mask. All three are brought to the
    edited image's size first."""
    out = decode(edited)
    size = out.size
    base = fit_image(decode(original), *size).convert("RGBA")
    m = decode(mask)
    alpha = (m.getchannel("A") if "A" in m.getbands() else m.convert("L")).resize(size, Image.LANCZOS)
    merged = Image.composite(base, out.convert("RGBA"), alpha)  # alpha 255 = protected = original
    return encode(merged if output_format != "jpeg" else merged.convert("RGB"), output_format, compression)
