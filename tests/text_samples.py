"""Headlines per locale that exercise what breaks in each script (diacritics, dotless i, tonos,
simplified vs traditional, katakana, Hangul, right to left, Thai without spaces, Devanagari
conjuncts and nukta), and the one-letter mistakes a text check must catch."""

from __future__ import annotations

import unicodedata

HEADLINES = {
    "en": "Brewed for Makers",
    "de": "Gebrüht für Macher. Größer!",
    "fr": "Façonné pour les créateurs d'été",
    "es": "Mañanas de café añejo",
    "pl": "Źródło świeżej kawy",
    "tr": "Güne iyi başlangıç İstanbul",
    "vi": "Cà phê sữa đá buổi sáng",
    "ru": "Весенний чайный сбор",
    "el": "Ανοιξιάτικο χαρμάνι τσαγιού",
    "zh-CN": "为创造者而酿，春季限定。",
    "zh-TW": "為創造者而釀，春季限定。",
    "ja": "春のブレンド、新発売。",
    "ko": "봄 한정 블렌드 출시",
    "ar": "مزيج الربيع الجديد",
    "he": "תערובת האביב החדשה",
    "th": "ชาผสมฤดูใบไม้ผลิรสชาติใหม่",
    "hi": "वसंत की ताज़ा चाय",
}


def _letters(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if unicodedata.category(c).startswith("L")]


def mutations(text: str) -> dict[str, str]:
    """The text with one letter dropped, two neighbouring letters swapped, one letter changed."""
    idx = _letters(text)
    mid = idx[len(idx) // 2]
    nxt = next((j for j in idx if j > mid and text[j] != text[mid]), None)
    if nxt == mid + 1:
        swapped = text[:mid] + text[nxt] + text[mid] + text[nxt + 1:]
    else:  # no distinct letter right after: swap with the one before
        prv = max(j for j in idx if j < mid and text[j] != text[mid])
        swapped = text[:prv] + text[mid] + text[prv + 1:mid] + text[prv] + text[mid + 1:]
    other = next(c for c in reversed(text) if unicodedata.category(c).startswith("L") and c != text[mid])
    return {"drop": text[:mid] + text[mid + 1:], "swap": swapped, "change": text[:mid] + other + text[mid + 1:]}


def ocr_missing(locales) -> str | None:
    """Why these locales cannot be read on this machine (with the install command), or None."""
    from pipelines.text.locales import language
    from pipelines.text.ocr import missing_language

    missing = [language(loc) for loc in locales if missing_language(language(loc))]
    if not missing:
        return None
    return "Tesseract language data missing: apt-get install " + " ".join(sorted({m.package for m in missing}))


def needs_ocr(*locales):
    """Skip (saying what to install) where the OCR language data is not installed: .ci/run installs it."""
    import pytest

    reason = ocr_missing(locales or ["en"])
    return pytest.mark.skipif(reason is not None, reason=reason or "")
