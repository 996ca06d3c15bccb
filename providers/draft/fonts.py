"""A font for every script, from pip packages only: Noto Sans and its script companions
(`manimgx-fonts`, OFL) and Noto Sans CJK (`cvttf-notosanscjk-regular`, OFL; the full Pan-CJK
glyph set, whose regional forms HarfBuzz picks by language tag).

`itemize` cuts a line into runs of one font: characters every font has (spaces, digits,
punctuation, combining marks) join the run around them, so "Preis: 39 €" is one Latin run and a
Devanagari vowel sign stays with its consonant.
"""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata
from pathlib import Path

NOTO = "manimgx_fonts"
CJK = "cvttf_NotoSansCJK_Regular"

FONT_FILES: dict[str, tuple[str, str]] = {  # script -> (package, file)
    "latin": (NOTO, "NotoSans[wght].ttf"),  # Latin, Greek, Cyrillic
    "arabic": (NOTO, "NotoSansArabic[wght].ttf"),
    "hebrew": (NOTO, "NotoSansHebrew[wght].ttf"),
    "thai": (NOTO, "NotoSansThai[wght].ttf"),
    "devanagari": (NOTO, "NotoSansDevanagari[wght].ttf"),
    "bengali": (NOTO, "NotoSansBengali[wght].ttf"),
    "tamil": (NOTO, "NotoSansTamil[wght].ttf"),
    "telugu": (NOTO, "NotoSansTelugu[wght].ttf"),
    "armenian": (NOTO, "NotoSansArmenian[wght].ttf"),
    "georgian": (NOTO, "NotoSansGeorgian[wght].ttf"),
    "khmer": (NOTO, "NotoSansKhmer[wght].ttf"),
    "lao": (NOTO, "NotoSansLao[wght].ttf"),
    "cjk": (CJK, "NotoSansCJKtc-Regular.otf"),  # Chinese, Japanese, Korean
}

_RANGES: tuple[tuple[int, int, str], ...] = (  # (first, last code point, script)
    (0x0530, 0x058F, "armenian"), (0x0590, 0x05FF, "hebrew"), (0xFB1D, 0xFB4F, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"), (0x08A0, 0x08FF, "arabic"),
    (0xFB50, 0xFDFF, "arabic"), (0xFE70, 0xFEFF, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0xA8E0, 0xA8FF, "devanagari"), (0x0980, 0x09FF, "bengali"),
    (0x0B80, 0x0BFF, "tamil"), (0x0C00, 0x0C7F, "telugu"), (0x0E00, 0x0E7F, "thai"), (0x0E80, 0x0EFF, "lao"),
    (0x10A0, 0x10FF, "georgian"), (0x1780, 0x17FF, "khmer"),
    (0x1100, 0x11FF, "cjk"), (0x2E80, 0x2FFF, "cjk"), (0x3000, 0x303F, "cjk"), (0x3040, 0x30FF, "cjk"),
    (0x3100, 0x318F, "cjk"), (0x31F0, 0x31FF, "cjk"), (0x3400, 0x4DBF, "cjk"), (0x4E00, 0x9FFF, "cjk"),
    (0xAC00, 0xD7AF, "cjk"), (0xF900, 0xFAFF, "cjk"), (0xFF00, 0xFFEF, "cjk"), (0x20000, 0x3FFFF, "cjk"),
)
RTL_SCRIPTS = frozenset({"arabic", "hebrew"})


def script_of(ch: str) -> str | None:
    """The font script of a character; None for one every font has (space, digit, punctuation,
    combining mark), which takes its neighbour's font."""
    cp = ord(ch)
    for lo, hi, name in _RANGES:
        if lo <= cp <= hi:
            return name
    cat = unicodedata.category(ch)
    if cat[0] in "ZPSN" or cat in ("Mn", "Mc", "Me", "Cf"):
        return None
    return "latin"


def itemize(text: str) -> list[tuple[str, str]]:
    """(script, run) pieces of `text`, in logical order."""
    runs: list[list] = []
    for ch in text:
        s = script_of(ch)
        if runs and (s is None or s == runs[-1][0]):
            runs[-1][1] += ch
        elif runs and runs[-1][0] is None:  # leading common characters take the first real script
            runs[-1] = [s, runs[-1][1] + ch]
        else:
            runs.append([s, ch])
    return [(s or "latin", t) for s, t in runs]


def scripts_in(text: str) -> set[str]:
    return {s for s, _ in itemize(text)} or {"latin"}


@functools.cache
def font_path(script: str) -> Path:
    package, name = FONT_FILES[script]
    path = Path(str(importlib.resources.files(package) / name))
    if not path.is_file():
        raise FileNotFoundError(f"font {name} is missing from the {package} package: reinstall assetpipe")
    return path
