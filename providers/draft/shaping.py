"""Lines of any script, shaped and ordered right: HarfBuzz shapes (Arabic joining, Devanagari
reordering and conjuncts, Thai mark stacking, CJK regional forms by language tag), the Unicode
bidirectional algorithm (python-bidi) orders right-to-left runs, and FreeType draws the glyphs
HarfBuzz chose at the positions it chose. All three come as wheels with their native libraries
inside, so a proof looks the same on every machine (Pillow's own raqm layout would depend on the
system's libfribidi, and silently fall back to no shaping without it).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

from PIL import Image

from providers.draft.fonts import font_path, itemize

# CJK regional glyph forms (`locl`): the CJK font is one Pan-CJK font
HB_LANGUAGE = {"zh-CN": "zh-Hans", "zh-SG": "zh-Hans", "zh": "zh-Hans", "zh-TW": "zh-Hant",
               "zh-HK": "zh-HK", "zh-MO": "zh-Hant", "ja": "ja", "ko": "ko"}


@dataclass(frozen=True)
class Glyph:
    script: str
    gid: int
    x: float  # from the line's left end, pixels
    y: float  # above the baseline, pixels
    cluster: int = 0  # the index, in its run, of the character it draws


def base_level(text: str) -> int:
    """0 for a left-to-right paragraph, 1 for right-to-left (its first strong character)."""
    from bidi.algorithm import get_base_level

    return get_base_level(text)


def _levels(text: str, base: int) -> list[int]:
    """Resolved embedding levels per character (UAX #9, rules X1-I2)."""
    from bidi import algorithm as uax9

    storage = uax9.get_empty_storage()
    storage["base_level"], storage["base_dir"] = base, ("L", "R")[base]
    uax9.get_embedding_levels(text, storage)
    uax9.explicit_embed_and_overrides(storage)
    uax9.resolve_weak_types(storage)
    uax9.resolve_neutral_types(storage, False)
    uax9.resolve_implicit_levels(storage, False)
    return [c["level"] for c in storage["chars"]]


def _visual_order(items: list[tuple[int, object]]) -> list[object]:
    """UAX #9 rule L2: from the highest level down to the lowest odd one, reverse every run of
    items at that level or higher."""
    if not items:
        return []
    seq = list(items)
    top = max(lv for lv, _ in seq)
    low_odd = min((lv for lv, _ in seq if lv % 2), default=top + 1)
    for k in range(top, low_odd - 1, -1):
        i = 0
        while i < len(seq):
            if seq[i][0] < k:
                i += 1
                continue
            j = i
            while j < len(seq) and seq[j][0] >= k:
                j += 1
            seq[i:j] = reversed(seq[i:j])
            i = j
    return [obj for _, obj in seq]


@functools.cache
def _hb_face(script: str):
    import uharfbuzz as hb

    return hb.Face(hb.Blob.from_file_path(str(font_path(script))))


def _runs(text: str, base: int) -> list[tuple[int, str]]:
    """(level, text) runs of one level, in logical order."""
    runs: list[list] = []
    for ch, lv in zip(text, _levels(text, base)):
        if runs and runs[-1][0] == lv:
            runs[-1][1] += ch
        else:
            runs.append([lv, ch])
    return [(lv, t) for lv, t in runs]


@functools.lru_cache(maxsize=4096)
def shape_line(text: str, size: int, locale: str = "", base: int | None = None) -> tuple[tuple[Glyph, ...], float]:
    """The glyphs of one line in visual order, and its advance width in pixels."""
    import uharfbuzz as hb

    base = base_level(text) if base is None else base
    pieces = []
    for level, run in _runs(text, base):
        for script, sub in itemize(run):
            font = hb.Font(_hb_face(script))
            font.scale = (size * 64, size * 64)
            buf = hb.Buffer()
            buf.add_str(sub)
            buf.guess_segment_properties()
            buf.direction = "rtl" if level % 2 else "ltr"
            if locale in HB_LANGUAGE:
                buf.language = HB_LANGUAGE[locale]
            hb.shape(font, buf, {"kern": True, "liga": True})
            pieces.append((level, (script, buf.glyph_infos, buf.glyph_positions)))
    glyphs: list[Glyph] = []
    pen = 0.0
    for script, infos, positions in _visual_order(pieces):  # HarfBuzz's output is already visual
        for info, pos in zip(infos, positions):
            glyphs.append(Glyph(script, info.codepoint, pen + pos.x_offset / 64, pos.y_offset / 64, info.cluster))
            pen += pos.x_advance / 64
    return tuple(glyphs), pen


def width(text: str, size: int, locale: str = "", base: int | None = None) -> float:
    return shape_line(text, size, locale, base)[1]


_local = threading.local()  # FreeType faces are not shared between threads


def _ft_face(script: str, size: int):
    import freetype

    cache = getattr(_local, "faces", None)
    if cache is None or len(cache) > 64:
        cache = _local.faces = {}
    face = cache.get((script, size))
    if face is None:
        face = cache[(script, size)] = freetype.Face(str(font_path(script)))
        face.set_char_size(size * 64)
    return face


def metrics(size: int, scripts: set[str]) -> tuple[int, int]:
    """Ascent and descent (pixels) that hold every glyph of these scripts (stacked marks too)."""
    asc = desc = 0
    for script in scripts:
        face = _ft_face(script, size)
        asc = max(asc, face.size.ascender // 64)
        desc = max(desc, -face.size.descender // 64)
    return asc, desc


def draw_line(canvas: Image.Image, x: float, baseline: float, text: str, size: int, fill: tuple[int, ...],
              locale: str = "", base: int | None = None) -> None:
    """Draw one shaped line; (x, baseline) is the left end of its baseline."""
    import freetype

    flags = freetype.FT_LOAD_DEFAULT | freetype.FT_LOAD_NO_HINTING | freetype.FT_LOAD_RENDER
    glyphs, _ = shape_line(text, size, locale, base)
    color = tuple(fill)[:3] + (255,) if canvas.mode == "RGBA" else tuple(fill)[:3]
    for g in glyphs:
        face = _ft_face(g.script, size)
        face.load_glyph(g.gid, flags)
        bm = face.glyph.bitmap
        if not bm.width or not bm.rows:
            continue
        mask = Image.frombuffer("L", (bm.width, bm.rows), bytes(bm.buffer), "raw", "L", bm.pitch, 1)
        left = round(x + g.x + face.glyph.bitmap_left)
        top = round(baseline - g.y - face.glyph.bitmap_top)
        canvas.paste(color, (left, top, left + bm.width, top + bm.rows), mask)
