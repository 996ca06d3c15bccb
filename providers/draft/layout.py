"""Where lines may break, and the largest size at which the text fits its box.

A line breaks only between *units*, never inside one: words at spaces (Latin, Cyrillic, Greek,
Arabic, Hebrew, Devanagari, Korean); Chinese and Japanese phrases (BudouX, whose models ship in
its wheel) with the kinsoku rules on top (no line starts with 、。」）ー or a small kana, none ends
with 「（); Thai words by dictionary (pythainlp, the `thai` extra; without it Thai breaks only at
its spaces). When one unit alone is wider than the line, the text does not wrap: it shrinks.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from providers.draft import shaping
from providers.draft.fonts import script_of, scripts_in

# Kinsoku (JIS X 4051, CSS line-break: strict), abridged: never at a line start / a line end.
NO_START = set("、。，．,.!?！？:;：；)]}）］｝〕〉》」』】〙〗〟’”»‐゠–〜～ー・…‥ヽヾゝゞ々〻"
               "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ%‰℃°")
NO_END = set("([{（［｛〔〈《「『【〘〖〝‘“«¥$£€＄￥")
_CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
                  r"\uff00-\uffef\U00020000-\U0003ffff]")
_BUDOUX = {"ja": "load_default_japanese_parser", "zh-Hant": "load_default_traditional_chinese_parser",
           "zh-TW": "load_default_traditional_chinese_parser",
           "zh-HK": "load_default_traditional_chinese_parser", "zh-MO": "load_default_traditional_chinese_parser"}
MIN_SIZE = 8


@functools.cache
def _budoux(locale: str):
    import budoux

    if locale.startswith("ja") or locale in _BUDOUX:
        return getattr(budoux, _BUDOUX.get(locale, "load_default_japanese_parser"))()
    return budoux.load_default_simplified_chinese_parser()


def _cjk_units(token: str, locale: str) -> list[str]:
    """Phrases, merged where kinsoku forbids the break between them."""
    lang = locale if locale.startswith(("ja", "zh")) else ("ja" if re.search("[\u3040-\u30ff]", token) else "zh")
    out: list[str] = []
    for ph in _budoux(lang).parse(token):
        if out and (ph[0] in NO_START or out[-1][-1] in NO_END):
            out[-1] += ph
        else:
            out.append(ph)
    return out


@functools.cache
def _thai_segmenter():
    try:
        from pythainlp.tokenize import word_tokenize
    except ImportError:
        return None
    return lambda text: word_tokenize(text, engine="newmm", keep_whitespace=True)


def _thai_units(token: str) -> list[str]:
    seg = _thai_segmenter()
    return [w for w in seg(token) if w] if seg else [token]


def units(text: str, locale: str = "") -> list[str]:
    """The unbreakable units of one paragraph, each with its trailing spaces."""
    out: list[str] = []
    for token in re.findall(r"\S+\s*", text):
        if any(script_of(c) == "thai" for c in token):
            out.extend(_thai_units(token))
        elif _CJK.search(token) and not re.search("[\uac00-\ud7af]", token):  # Korean breaks at spaces
            out.extend(_cjk_units(token, locale))
        else:
            out.append(token)
    merged: list[str] = []  # a unit of closing punctuation alone stays with the unit before it
    for u in out:
        if merged and u.strip() and all(c in NO_START for c in u.strip()):
            merged[-1] += u
        else:
            merged.append(u)
    return merged


def wrap(text: str, size: int, max_w: float, locale: str = "") -> list[str] | None:
    """Greedy lines at unit boundaries; None when a unit alone is wider than `max_w`."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        base = shaping.base_level(para)
        line = ""
        for unit in units(para, locale):
            trial = line + unit
            if line and shaping.width(trial.rstrip(), size, locale, base) > max_w:
                lines.append(line.rstrip())
                trial = unit
            if shaping.width(trial.rstrip(), size, locale, base) > max_w:
                return None
            line = trial
        lines.append(line.rstrip())
    return lines


@dataclass
class Block:
    """One expected string, laid out: its lines at one size."""

    text: str
    lines: list[str]
    size: int
    ascent: int
    descent: int
    pitch: float

    @property
    def line_h(self) -> int:
        return round((self.ascent + self.descent) * self.pitch)

    @property
    def height(self) -> int:
        return self.line_h * len(self.lines)

    def width(self, locale: str) -> float:
        return max((shaping.width(ln, self.size, locale) for ln in self.lines), default=0.0)


def layout(texts: list[str], size: int, max_w: float, locale: str, pitch: float, ratio: float) -> list[Block] | None:
    """Every string wrapped at `size` (the first, the headline; the rest at `ratio` of it)."""
    blocks = []
    for i, text in enumerate(texts):
        s = max(MIN_SIZE, size if i == 0 else round(size * ratio))
        lines = wrap(text, s, max_w, locale)
        if lines is None:
            return None
        asc, desc = shaping.metrics(s, scripts_in(text))
        blocks.append(Block(text, lines, s, asc, desc, pitch))
    return blocks


def fit(texts: list[str], box_w: int, box_h: int, max_size: int, locale: str = "", *, pitch: float = 1.2,
        ratio: float = 0.62, gap: float = 0.45) -> tuple[list[Block], int] | None:
    """The largest headline size at which every string fits the box without breaking a unit, as
    (blocks, size); None when even the smallest size does not fit."""
    lo, hi, best = MIN_SIZE, max(MIN_SIZE, max_size), None
    while lo <= hi:
        mid = (lo + hi) // 2
        blocks = layout(texts, mid, box_w, locale, pitch, ratio)
        if blocks is not None and stack_height(blocks, mid, gap) <= box_h:
            best, lo = (blocks, mid), mid + 1
        else:
            hi = mid - 1
    if best is not None:
        for b in best[0]:
            b.lines = balanced(b.text, b.size, box_w, len(b.lines), locale)
    return best


def stack_height(blocks: list[Block], size: int, gap: float) -> int:
    return sum(b.height for b in blocks) + round(size * gap) * (len(blocks) - 1)


def balanced(text: str, size: int, max_w: float, count: int, locale: str) -> list[str]:
    """The narrowest wrapping into at most `count` lines, so a headline does not end on one
    orphaned word."""
    lo, hi = max_w / 3, max_w
    best = wrap(text, size, max_w, locale) or [text]
    for _ in range(8):
        mid = (lo + hi) / 2
        trial = wrap(text, size, mid, locale)
        if trial is not None and len(trial) <= count:
            best, hi = trial, mid
        else:
            lo = mid
    return best
