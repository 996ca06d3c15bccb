"""Real image bytes for tests and emulators: flat pictures of any size and format, and posters
with text drawn in the CJK font the draft provider uses."""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageFont


@functools.lru_cache(maxsize=64)
def make_image(width: int, height: int, fmt: str = "png", color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """Real image bytes of exactly width x height (a two-tone picture: cheap but not blank)."""
    img = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(img).rectangle([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(30, 60, 90))
    buf = io.BytesIO()
    pil = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}[fmt.lower()]
    img.save(buf, pil, **({"compress_level": 1} if pil == "PNG" else {"quality": 80}))
    return buf.getvalue()


def make_png(width: int, height: int) -> bytes:
    return make_image(width, height, "png")


def make_jpeg(width: int, height: int) -> bytes:
    return make_image(width, height, "jpeg")


def image_size(data: bytes) -> tuple[int, int, str]:
    """(width, height, format) of image bytes; raises if they are not an image."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.width, img.height, (img.format or "").lower()


def poster_font(px: int):
    import pytest  # not at the top: emulator processes import this module too

    fonts = pytest.importorskip("cvttf_NotoSansCJK_Regular", reason="the Noto Sans CJK font package is missing")
    return ImageFont.truetype(fonts.get_TTF_path(), px)


def draw_poster(lines: list[str], size=(768, 512), px=56, mode="RGB", fmt="PNG") -> bytes:
    """A plain poster with one text line per entry of `lines` (what OCR is tested on)."""
    bg = (0, 0, 0, 0) if mode == "RGBA" else (240, 232, 220)
    im = Image.new(mode, size, bg)
    draw = ImageDraw.Draw(im)
    font = poster_font(px)
    for i, line in enumerate(lines):
        draw.text((40, 60 + i * int(px * 1.8)), line, font=font, fill=(30, 30, 30) if mode != "RGBA" else (30, 30, 30, 255))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()
