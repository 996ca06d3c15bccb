"""Pictures with text in them, as an image model asked for exact text makes them (sometimes with a
letter wrong). Drawn with Pillow and the Noto fonts, independently of assetpipe's draft proof: the
text check must read what a vendor draws, not what our own code draws."""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import re
import unicodedata

from PIL import Image, ImageDraw, ImageFont

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」')
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def quoted(prompt: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(prompt)]


def misspelt(policy: float | list[bool], request: str, take: int) -> bool:
    """Whether take `take` (0 = the first) of `request` comes out misspelt."""
    if isinstance(policy, list):
        return bool(policy[min(take, len(policy) - 1)]) if policy else False
    digest = hashlib.sha256(f"{request}\n{take}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < policy


def swap_letters(text: str) -> str:
    """Two neighbouring distinct letters near the middle swapped ("Brewed" -> "Brwe..."):
    the kind of slip image models make."""
    idx = [i for i, c in enumerate(text) if unicodedata.category(c).startswith("L")]
    for i in sorted(idx, key=lambda k: abs(k - len(text) // 2)):
        j = i + 1
        if j < len(text) and j in idx and text[i] != text[j]:
            return text[:i] + text[j] + text[i] + text[j + 1:]
    return text + text[-1]  # nothing to swap: a doubled last letter is a misspelling too


def _font(text: str, px: int) -> ImageFont.FreeTypeFont:
    package, name = (("cvttf_NotoSansCJK_Regular", "NotoSansCJKtc-Regular.otf") if _CJK.search(text)
                     else ("manimgx_fonts", "NotoSans[wght].ttf"))
    return ImageFont.truetype(str(importlib.resources.files(package) / name), px,
                              layout_engine=ImageFont.Layout.BASIC)


def draw_text_image(w: int, h: int, fmt: str, strings: list[str], seed: str) -> bytes:
    """A two-tone picture from the seed with the strings set in dark ink on a light band."""
    d = hashlib.sha256(seed.encode()).digest()
    img = Image.new("RGB", (w, h), (d[0] // 2 + 60, d[1] // 2 + 60, d[2] // 2 + 60))
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.55, h * 0.5, w * 1.1, h * 1.1), fill=(d[3], d[4], d[5]))
    px = max(12, min(h // (3 * len(strings) + 1), w // 14))
    fonts = [_font(s, px if i == 0 else px * 2 // 3) for i, s in enumerate(strings)]
    widths = [f.getlength(s) for f, s in zip(fonts, strings)]
    while max(widths) > w * 0.9 and px > 12:  # shrink until the longest string fits
        px = px * 9 // 10
        fonts = [_font(s, px if i == 0 else px * 2 // 3) for i, s in enumerate(strings)]
        widths = [f.getlength(s) for f, s in zip(fonts, strings)]
    heights = [round(f.size * 1.5) for f in fonts]
    top = (h - sum(heights)) // 2
    draw.rectangle((0, top - px // 2, w, top + sum(heights) + px // 2), fill=(244, 240, 230))
    y = top
    for s, f, wd, ht in zip(strings, fonts, widths, heights):
        draw.text(((w - wd) / 2, y + ht * 0.15), s, font=f, fill=(25, 25, 30))
        y += ht
    buf = io.BytesIO()
    img.save(buf, {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt], **({"quality": 90} if fmt != "png" else {}))
    return buf.getvalue()
