"""Is the expected text in what OCR read? Script-aware, and strict on spelling.

- Unicode: NFKC on both sides (fullwidth/halfwidth forms, Arabic presentation forms, ligatures,
  combining kana voicing marks, the micro sign Tesseract returns for Greek mu).
- Case is ignored, per locale: Turkish I/ı and İ/i are different letters; Greek final sigma is
  sigma. German ß is not "ss" ("MASSE" is not "Maße"), except where the reading is set in
  capitals: the official German rules spell ß as SS in capitals, so "GRÖSSER" reads as "Größer"
  (and only there: "Grösser" does not).
- Whitespace, line breaks and punctuation are ignored (OCR cannot see spaces reliably, CJK and
  Thai have none, and typographic quote/dash/stop variants read the same to a person). Letters,
  marks, digits and currency signs count.
- Digits compare by value (٣٩ = 39 = ３９): a price survives a numeral-system switch.
- Diacritics are strict (ü≠u, ś≠s, ệ≠ê, ı≠i, ά≠α, ไม้≠ไม, ज़≠ज, バ≠ハ), except marks the
  orthography itself makes optional: Arabic harakat and tatweel, Hebrew niqqud and cantillation.
  Greek capitals conventionally drop the tonos, so a reading in capitals may omit it.
- Spelling is strict: the expected text must occur in the reading, starting and ending at a
  boundary of the reading (start, end, space, punctuation, line break), so one wrong, missing,
  extra or swapped letter fails, and so does a letter glued to either end ("Machers").
  A failure reports the closest part of the reading and its edit distance.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

_ARABIC_OPTIONAL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat, Quranic marks, tatweel
_HEBREW_OPTIONAL = re.compile("[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7]")  # cantillation, niqqud
_GREEK_TONOS = re.compile("[\u0301\u0308\u0344]")  # acute/tonos, dialytika, both
_TURKIC = str.maketrans({"I": "ı", "İ": "i"})


@dataclass
class Canon:
    """The comparable form of a text: kept characters, whether a boundary precedes each (plus one
    entry for the end), and whether each came from a capital letter (None: no case)."""

    text: str
    bound: list[bool]
    upper: list[bool | None]


def canon(text: str, locale: str = "", capitals: bool = False) -> Canon:
    """`capitals`: the variant compared against a reading in capitals (ß as ss, Greek tonos dropped)."""
    lang = locale.split("-")[0].lower()
    text = unicodedata.normalize("NFKC", text)
    text = _HEBREW_OPTIONAL.sub("", _ARABIC_OPTIONAL.sub("", text))
    out: list[str] = []
    bound: list[bool] = []
    upper: list[bool | None] = []
    pending = True
    for ch in text.replace("ẞ", "ß"):
        case = True if ch.isupper() else False if ch.islower() else None
        for c in _fold(ch, lang, capitals):
            if c.isdecimal():
                c = str(unicodedata.decimal(c))
            if _keep(c):
                out.append(c)
                bound.append(pending)
                upper.append(case)
                pending = False
            else:
                pending = True
    bound.append(True)
    return Canon("".join(out), bound, upper)


def _fold(ch: str, lang: str, capitals: bool) -> str:
    if lang in ("tr", "az"):
        ch = ch.translate(_TURKIC)
    low = ch.lower().replace("ς", "σ")
    if capitals:
        low = low.replace("ß", "ss")
        if lang == "el":
            low = unicodedata.normalize("NFC", _GREEK_TONOS.sub("", unicodedata.normalize("NFD", low)))
    return low


def _keep(ch: str) -> bool:
    """Letters, marks, digits and currency signs count; the rest is layout or punctuation."""
    cat = unicodedata.category(ch)
    return cat[0] in "LMN" or cat == "Sc"


@dataclass
class Match:
    """The verdict on one expected string."""

    expected: str
    ok: bool
    reading: str = ""  # which reading held it (a ladder rung), or the closest one
    closest: str = ""  # on failure: the closest part of the reading, normalized
    distance: int = 0  # on failure: its edit distance to the expected text
    notes: list[str] = field(default_factory=list)


def find(expected: str, lines: Iterable[str], locale: str = "") -> Match:
    """Whether `expected` is in the OCR'd `lines` (reading order), spelled exactly."""
    want = canon(expected, locale)
    if not want.text:
        return Match(expected, True, notes=["nothing to check (no letters or digits)"])
    reading = "\n".join(lines)
    hay = canon(reading, locale)
    if _occurs(want.text, hay, capitals=False):
        return Match(expected, True)
    caps_want, caps_hay = canon(expected, locale, capitals=True), canon(reading, locale, capitals=True)
    if caps_want.text != want.text or caps_hay.text != hay.text:
        if _occurs(caps_want.text, caps_hay, capitals=True):
            return Match(expected, True, notes=["read in capitals"])
    distance, window = closest(want.text, hay.text)
    return Match(expected, False, closest=window, distance=distance,
                 notes=["found only inside a longer word"] if distance == 0 else [])


def _occurs(want: str, hay: Canon, capitals: bool) -> bool:
    start = hay.text.find(want)
    while start >= 0:
        end = start + len(want)
        if hay.bound[start] and hay.bound[end] and (not capitals or _all_caps(hay.upper[start:end])):
            return True
        start = hay.text.find(want, start + 1)
    return False


def _all_caps(flags: list[bool | None]) -> bool:
    cased = [f for f in flags if f is not None]
    return bool(cased) and all(cased)


def closest(needle: str, hay: str) -> tuple[int, str]:
    """The smallest edit distance of `needle` to any part of `hay` (Sellers), and that part."""
    if not needle:
        return 0, ""
    prev = [0] * (len(hay) + 1)
    start_prev = list(range(len(hay) + 1))
    for i, a in enumerate(needle, 1):
        cur = [i] + [0] * len(hay)
        start = [0] * (len(hay) + 1)
        for j, b in enumerate(hay, 1):
            cur[j], start[j] = min((prev[j - 1] + (a != b), start_prev[j - 1]), (prev[j] + 1, start_prev[j]),
                                   (cur[j - 1] + 1, start[j - 1]))
        prev, start_prev = cur, start
    j = min(range(len(hay) + 1), key=lambda k: prev[k])
    return prev[j], hay[start_prev[j]:j]
