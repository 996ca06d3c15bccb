"""The proof: the expected in-image text on a plain light card (an OCR check reads it back, so no
effects over the text) and a caption with the variant key, the size and "DRAFT".

The same request always gives the same bytes: colours and shapes come from the cache key, never
from the clock or a random source. The caption shows the variant key and input file names, which
are not part of the cache key: variants with identical requests share one proof.
"""

from __future__ import annotations

import hashlib
import re

from PIL import Image, ImageDraw

from providers.base import ImageRequest
from providers.draft import canvas as bg
from providers.draft import layout, shaping
from providers.sizes import encode

TEXT_INK = (17, 17, 20)
CARD_FILL = (250, 250, 246)
CAPTION_FILL = (12, 12, 14)
TEXT_SCALE = 0.24  # headline cap: this share of the shorter side, times the card's share of the height


def draw_proof(req: ImageRequest) -> bytes:
    w, h = req.width, req.height
    seed = hashlib.sha256(req.cache_key.encode()).digest()
    transparent = req.background == "transparent" and req.output_format != "jpeg"
    region = None
    if req.operation == "edit" and req.images:
        image, region = bg.edit_background(req, seed)
    else:
        image = bg.generated_background(w, h, seed, transparent)
    caption = caption_lines(req)
    expected = [t for t in req.text if t.strip()]
    # a prompt excerpt only names the variant: smaller, so an edit's input stays visible around it
    room = bg.free_rect(region, w, h, h - caption.height)
    draw_card(image, expected or [excerpt(req.prompt)], room, share=0.66 if expected else 0.4,
              locale=req.locale or "")
    caption.draw(image)
    if not transparent:
        image = image.convert("RGB")
    return encode(image, req.output_format, req.compression)


def draw_card(image: Image.Image, texts: list[str], room: bg.Rect, share: float, locale: str) -> None:
    """The texts on a light card centred in `room`, as large as they fit."""
    rx, ry, rw, rh = room
    box_w, box_h = int(rw * 0.80), int(rh * share)
    max_size = max(layout.MIN_SIZE, round(min(image.size) * TEXT_SCALE * share))
    found = layout.fit(texts, box_w, box_h, max_size, locale) if box_w > 0 and box_h > 0 else None
    if found is None:
        return  # no room (a mask protecting nearly everything): the caption still names the variant
    blocks, size = found
    gap = round(size * 0.45)
    pad = max(6, round(size * 0.45))
    tw = max(b.width(locale) for b in blocks)
    th = layout.stack_height(blocks, size, 0.45)
    pw, ph = min(rw, round(tw) + 2 * pad), min(rh, th + 2 * pad)
    x0, y0 = rx + (rw - pw) // 2, ry + (rh - ph) // 2
    ImageDraw.Draw(image).rounded_rectangle((x0, y0, x0 + pw - 1, y0 + ph - 1), radius=pad // 2,
                                           fill=CARD_FILL + (255,), outline=TEXT_INK + (255,),
                                           width=max(1, size // 40))
    y = y0 + (ph - th) // 2
    for b in blocks:
        base = shaping.base_level(b.text)
        for line in b.lines:
            lw = shaping.width(line, b.size, locale, base)
            baseline = y + (b.line_h - b.ascent - b.descent) // 2 + b.ascent
            shaping.draw_line(image, rx + (rw - lw) / 2, baseline, line, b.size, TEXT_INK, locale, base)
            y += b.line_h
        y += gap


class Caption:
    """A dark bar along the bottom, as many lines as the variant key needs: never cut."""

    def __init__(self, lines: list[str], size: int, width: int, height: int):
        self.lines, self.size, self.w, self.h = lines, size, width, height
        asc, desc = shaping.metrics(size, {"latin"})
        self.ascent, self.line_h = asc, round((asc + desc) * 1.15)
        self.pad = max(2, size // 3)

    @property
    def height(self) -> int:
        return min(self.h, self.line_h * len(self.lines) + 2 * self.pad)

    def draw(self, image: Image.Image) -> None:
        top = self.h - self.height
        ImageDraw.Draw(image).rectangle((0, top, self.w, self.h), fill=CAPTION_FILL + (255,))
        y = top + self.pad + self.ascent
        for line in self.lines:
            shaping.draw_line(image, self.size // 2, y, line, self.size, (255, 255, 255), base=0)
            y += self.line_h


def caption_lines(req: ImageRequest) -> Caption:
    """"DRAFT · size · edit of …" and the variant key, wrapped at / _ - · and spaces, shrunk to fit
    the width, and as a last resort broken between characters: every character is shown."""
    w, h = req.width, req.height
    head = f"DRAFT  ·  {req.size}"
    if req.operation == "edit":
        names = [i.filename for i in req.images]
        head += "  ·  edit of " + names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
        head += "  ·  mask" if req.mask is not None else ""
    label = req.label or req.cache_key[:12]
    size = max(layout.MIN_SIZE, round(min(w, h) / 34))
    while True:
        room = w - size  # half a size of margin either side
        lines = _caption_wrap(head, size, room) + _caption_wrap(label, size, room)
        if len(lines) <= 3 or size == layout.MIN_SIZE:
            return Caption(lines, size, w, h)
        size -= 1


_CAPTION_BREAK = re.compile(r"[^/_\-·\s]*(?:[/_\-·]|\s+|$)")


def _caption_wrap(text: str, size: int, max_w: float) -> list[str]:
    lines, line = [], ""
    for unit in (u for u in _CAPTION_BREAK.findall(text) if u):
        if line and shaping.width((line + unit).rstrip(), size, base=0) > max_w:
            lines.append(line.rstrip())
            line = ""
        while shaping.width(unit.rstrip(), size, base=0) > max_w and len(unit) > 1:  # one long name
            if line.strip():
                lines.append(line.rstrip())
                line = ""
            cut = 1
            while cut < len(unit) and shaping.width(unit[:cut + 1], size, base=0) <= max_w:
                cut += 1
            lines.append(unit[:cut])
            unit = unit[cut:]
        line += unit
    if line.strip():
        lines.append(line.rstrip())
    return lines


def excerpt(prompt: str, limit: int = 90) -> str:
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(",.;: ") + "..."
