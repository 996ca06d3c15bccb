"""The offline `draft` provider: a deterministic layout proof instead of a paid image.

A draft shows what the real image must carry, so a catalog can be reviewed (sizes, crops, copy,
locales, edit regions) before anything is spent: the expected in-image text drawn large on a plain
light panel (an OCR check reads it back, so no effects over the text), a caption with the label,
size and "DRAFT", and for edits the first input image under a tint with the mask's editable region
outlined. The same request always gives the same bytes: colours and shapes come from the cache
key, never from the clock or a random source. The caption also shows the label and input file
names, which are not part of the cache key: variants with identical requests share one proof.
"""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import importlib.resources
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

from providers.base import Capabilities, ImageProvider, ImageRequest, RawImage
from providers.errors import UnsupportedError
from providers.sizes import decode, encode, fit_image

FONT_PACKAGE = "cvttf_NotoSansCJK_Regular"
TEXT_INK = (17, 17, 20)
PANEL_FILL = (250, 250, 246)
HIGHLIGHT = (255, 0, 170)
# Headline cap as a share of the shorter side (times the panel's share of the height), and the
# line pitch in font heights: both tuned so rapidocr reads the proofs back (see tests/integration/test_draft.py).
TEXT_SCALE = 0.24
LINE_PITCH = 1.15


class DraftProvider(ImageProvider):
    type_name = "draft"
    needs_key = False

    def capabilities(self) -> Capabilities:
        return Capabilities(generate=True, edit=True, mask=True, max_input_images=16)

    def problems(self, req: ImageRequest) -> list[str]:
        out = super().problems(req)
        try:
            self._latency_s()
        except ValueError as exc:
            out.append(str(exc))
        return out

    def estimate_cost(self, req: ImageRequest) -> float:
        return 0.0

    async def _generate(self, req: ImageRequest) -> RawImage:
        return await self._proof(req)

    async def _edit(self, req: ImageRequest) -> RawImage:
        if not req.images:
            raise UnsupportedError("an edit needs at least one input image", provider=self.name)
        return await self._proof(req)

    async def _proof(self, req: ImageRequest) -> RawImage:
        latency = self._latency_s()
        if latency:
            await asyncio.sleep(latency)  # simulates a vendor for benchmarks, without holding a thread
        data = await asyncio.to_thread(draw_proof, req)
        return RawImage(data=data, request_id=f"draft-{req.cache_key[:12]}", cost_usd=0.0, vendor_size=req.size)

    def _latency_s(self) -> float:
        raw = self.config.options.get("latency_s", 0)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = -1.0
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"provider '{self.name}': options.latency_s must be a number >= 0, got {raw!r}")
        return value


# -- the proof ---------------------------------------------------------------------------------


def draw_proof(req: ImageRequest) -> bytes:
    w, h = req.width, req.height
    seed = hashlib.sha256(req.cache_key.encode()).digest()
    transparent = req.background == "transparent" and req.output_format != "jpeg"
    if req.operation == "edit" and req.images:
        canvas = _edit_background(req, seed)
    else:
        canvas = _generated_background(w, h, seed, transparent)
    expected = [t for t in req.text if t.strip()]
    # a prompt excerpt only names the variant: smaller, so an edit's input stays visible around it
    _draw_text_panel(canvas, expected or [_excerpt(req.prompt)], w, h, share=0.66 if expected else 0.4)
    _draw_caption(canvas, req)
    if not transparent:
        canvas = canvas.convert("RGB")
    return encode(canvas, req.output_format, req.compression)


def _palette(seed: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    # mid-tone colours: distinct per variant, never so light that the text panel stops standing out
    hue = seed[0] / 255 * 360
    a = _hsv(hue, 0.55 + seed[1] / 255 * 0.25, 0.55 + seed[2] / 255 * 0.2)
    b = _hsv((hue + 40 + seed[3] / 255 * 80) % 360, 0.5 + seed[4] / 255 * 0.3, 0.35 + seed[5] / 255 * 0.2)
    accent = _hsv((hue + 180) % 360, 0.6, 0.85)
    return a, b, accent


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h / 360, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _generated_background(w: int, h: int, seed: bytes, transparent: bool) -> Image.Image:
    top, bottom, accent = _palette(seed)
    if transparent:
        canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    else:
        ramp = Image.linear_gradient("L").resize((w, h), Image.BILINEAR)
        canvas = Image.composite(Image.new("RGBA", (w, h), bottom + (255,)), Image.new("RGBA", (w, h), top + (255,)), ramp)
    # a few large shapes placed by the seed, so variants of one asset are told apart at a glance
    shapes = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    unit = min(w, h)
    for i in range(4):
        cx, cy = seed[6 + i] / 255 * w, seed[10 + i] / 255 * h
        r = unit * (0.15 + seed[14 + i] / 255 * 0.35)
        fill = accent + (40 + seed[18 + i] % 50,) if i % 2 else (255, 255, 255, 30 + seed[18 + i] % 40)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    band = unit * 0.08
    x0 = seed[22] / 255 * w
    draw.polygon([(x0, 0), (x0 + band, 0), (x0 + band - h * 0.6, h), (x0 - h * 0.6, h)], fill=accent + (55,))
    return Image.alpha_composite(canvas, shapes)


def _edit_background(req: ImageRequest, seed: bytes) -> Image.Image:
    w, h = req.width, req.height
    first = _load_rgba(req.images[0].read())
    base = fit_image(first, w, h, "cover").convert("RGBA")
    tint = Image.new("RGBA", (w, h), _palette(seed)[0] + (255,))
    canvas = Image.blend(base, tint, 0.2)  # tinted, so a proof is never mistaken for the input itself
    if req.mask is not None:
        _highlight_mask(canvas, req.mask.read(), w, h)
    _paste_other_inputs(canvas, req)
    return canvas


def _load_rgba(data: bytes) -> Image.Image:
    img = ImageOps.exif_transpose(decode(data, provider="draft"))
    return img.convert("RGBA")


def _highlight_mask(canvas: Image.Image, data: bytes, w: int, h: int) -> None:
    mask = ImageOps.exif_transpose(decode(data, provider="draft"))
    # OpenAI semantics: transparent pixels are the region to edit; without alpha, white is editable
    if "A" in mask.getbands() or (mask.mode == "P" and "transparency" in mask.info):
        region = mask.convert("RGBA").getchannel("A").point(lambda a: 255 if a < 128 else 0)
    else:
        region = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
    # fitted exactly like the first input image (same size by contract), so the outline lines up
    region = fit_image(region.convert("RGB"), w, h, "cover").convert("L").point(lambda v: 255 if v >= 128 else 0)
    if not region.getbbox():
        return
    t = max(2, min(w, h) // 160)
    grown = region
    for dx, dy in ((t, 0), (-t, 0), (0, t), (0, -t)):
        grown = ImageChops.lighter(grown, _shift(region, dx, dy))
    outline = ImageChops.subtract(grown, region)
    wash = Image.new("RGBA", (w, h), HIGHLIGHT + (255,))
    canvas.paste(Image.blend(canvas, wash, 0.35), (0, 0), region)
    canvas.paste(wash, (0, 0), outline)


def _shift(img: Image.Image, dx: int, dy: int) -> Image.Image:
    out = Image.new(img.mode, img.size, 0)
    out.paste(img, (dx, dy))
    return out


def _paste_other_inputs(canvas: Image.Image, req: ImageRequest) -> None:
    """Further reference images as a strip of small tiles along the top edge."""
    others = req.images[1:7]
    if not others:
        return
    side = max(24, min(req.width, req.height) // 8)
    gap = max(2, side // 12)
    for i, inp in enumerate(others):
        tile = fit_image(_load_rgba(inp.read()), side, side, "cover")
        x = gap + i * (side + gap)
        if x + side > req.width:
            break
        canvas.paste(Image.new("RGBA", (side + 2 * gap, side + 2 * gap), (255, 255, 255, 255)), (x - gap, 0))
        canvas.paste(tile, (x, gap))


# -- text --------------------------------------------------------------------------------------

# Ideographs and kana may break between any two characters; closing punctuation stays with the
# character before it. Hangul and Latin break at spaces, like words.
_CJK = r"[\u2e80-\u2fff\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]"
_CLOSING = r"[、。，．！？：；」』）】〉》〕ー…・,.!?:;)\]\uff09\uff0c\uff0e\uff01\uff1f\uff1a\uff1b]*"
_UNIT = re.compile(rf"{_CJK}{_CLOSING}|\s+|[^\s\u2e80-\u2fff\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+")


@dataclass
class _Block:
    lines: list[str]
    font: ImageFont.FreeTypeFont
    line_h: int


def font_path() -> Path:
    """The Noto Sans CJK font file shipped by the `cvttf_NotoSansCJK_Regular` package."""
    root = importlib.resources.files(FONT_PACKAGE)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.lower().endswith((".otf", ".ttf", ".ttc")):
            return Path(str(entry))
    raise FileNotFoundError(f"no font file in the {FONT_PACKAGE} package: reinstall it")


_fonts = threading.local()  # FreeType faces are not shared between the to_thread workers


def load_font(size: int) -> ImageFont.FreeTypeFont:
    cache = getattr(_fonts, "cache", None)
    if cache is None:
        cache = _fonts.cache = {}
    font = cache.get(size)
    if font is None:
        if len(cache) > 64:
            cache.clear()
        # BASIC layout: the same glyph positions whether or not libraqm is installed
        font = cache[size] = ImageFont.truetype(str(font_path()), size, layout_engine=ImageFont.Layout.BASIC)
    return font


def wrap(text: str, font: ImageFont.FreeTypeFont, max_w: float) -> list[str]:
    """Greedy line breaking; a word wider than a line is broken between characters."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for unit in _UNIT.findall(para):
            if unit.isspace():
                line += " " if line else ""
                continue
            if font.getlength(line + unit) <= max_w:
                line += unit
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = ""
            for ch in unit:  # only reached for a unit that does not fit on an empty line
                if line and font.getlength(line + ch) > max_w:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line.rstrip())
    return lines


def _layout(texts: list[str], size: int, max_w: float) -> tuple[list[_Block], int, int]:
    blocks = []
    for i, text in enumerate(texts):
        # the first string is the headline; the rest (tagline, legal) are set smaller
        font = load_font(max(8, size if i == 0 else round(size * 0.62)))
        ascent, descent = font.getmetrics()
        lines = wrap(text, font, max_w)
        blocks.append(_Block(lines, font, round((ascent + descent) * LINE_PITCH)))
    gap = round(size * 0.45)
    height = sum(b.line_h * len(b.lines) for b in blocks) + gap * (len(blocks) - 1)
    width = max((b.font.getlength(line) for b in blocks for line in b.lines), default=0)
    return blocks, int(width + 0.999), height


def fit_text(texts: list[str], box_w: int, box_h: int, max_size: int) -> tuple[list[_Block], int, int, int]:
    """The largest font size whose wrapped layout fits the box (binary search)."""
    lo, hi = 8, max(8, max_size)
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        blocks, tw, th = _layout(texts, mid, box_w)
        if tw <= box_w and th <= box_h:
            best = (blocks, tw, th, mid)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:  # even the smallest size overflows: keep what fits, mark the cut
        blocks, tw, th = _layout(texts, 8, box_w)
        budget = box_h
        for b in blocks:
            keep = max(0, min(len(b.lines), budget // b.line_h))
            if keep < len(b.lines):
                b.lines = b.lines[:keep]
                if keep:
                    b.lines[-1] = b.lines[-1][:-1] + "..."
            budget -= keep * b.line_h
        return blocks, tw, min(th, box_h), 8
    blocks, _, th, size = best
    for b, text in zip(blocks, texts):
        b.lines = _balanced(text, b.font, box_w, len(b.lines))
    tw = max((b.font.getlength(line) for b in blocks for line in b.lines), default=0)
    return blocks, int(tw + 0.999), th, size


def _balanced(text: str, font: ImageFont.FreeTypeFont, max_w: float, count: int) -> list[str]:
    """The narrowest wrapping into `count` lines, so a headline never ends on one orphaned word."""
    lo, hi = max_w / 3, max_w
    lines = wrap(text, font, max_w)
    for _ in range(10):
        mid = (lo + hi) / 2
        trial = wrap(text, font, mid)
        if len(trial) <= count:
            lines, hi = trial, mid
        else:
            lo = mid
    return lines


def _draw_text_panel(canvas: Image.Image, texts: list[str], w: int, h: int, share: float) -> None:
    caption_h = _caption_height(w, h)
    box_w, box_h = int(w * 0.80), int((h - caption_h) * share)
    max_size = max(8, round(min(w, h) * TEXT_SCALE * share))
    blocks, tw, th, size = fit_text(texts, box_w, box_h, max_size)
    pad = max(8, round(size * 0.45))
    pw, ph = tw + 2 * pad, th + 2 * pad
    x0, y0 = (w - pw) // 2, (h - caption_h - ph) // 2
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle((x0, y0, x0 + pw, y0 + ph), radius=pad // 2, fill=PANEL_FILL + (255,),
                           outline=TEXT_INK + (255,), width=max(1, size // 40))
    y = y0 + pad
    gap = round(size * 0.45)
    for b in blocks:
        for line in b.lines:
            x = (w - b.font.getlength(line)) / 2
            draw.text((round(x), y), line, font=b.font, fill=TEXT_INK + (255,))
            y += b.line_h
        y += gap


def _caption_height(w: int, h: int) -> int:
    return round(_caption_font_size(w, h) * 1.9)


def _caption_font_size(w: int, h: int) -> int:
    return max(11, round(min(w, h) / 34))


def _draw_caption(canvas: Image.Image, req: ImageRequest) -> None:
    w, h = req.width, req.height
    size = _caption_font_size(w, h)
    bar_h = _caption_height(w, h)
    label = req.label or req.cache_key[:12]
    parts = ["DRAFT", label, req.size]
    if req.operation == "edit":
        names = [i.filename for i in req.images]
        parts.append("edit of " + names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
                     + (" · mask" if req.mask is not None else ""))
    text = "  ·  ".join(parts)
    font = load_font(size)
    text = _clip(text, font, w - size)
    bar = Image.new("RGBA", (w, bar_h), (12, 12, 14, 255))
    canvas.paste(bar, (0, h - bar_h))
    ImageDraw.Draw(canvas).text((size // 2, h - bar_h // 2), text, font=font, fill=(255, 255, 255, 255), anchor="lm")


def _clip(text: str, font: ImageFont.FreeTypeFont, max_w: float) -> str:
    """`text` cut to fit `max_w`, ending in "..." when cut (a tiny image may keep nothing)."""
    if font.getlength(text) <= max_w:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits together with the ellipsis
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid].rstrip() + "...") <= max_w:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "..." if lo else ""


def _excerpt(prompt: str, limit: int = 90) -> str:
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(",.;: ") + "..."
