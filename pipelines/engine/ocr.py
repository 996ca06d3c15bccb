"""Reading the text inside a generated image, and judging it against the catalog's `text:`.

The engine is RapidOCR (PP-OCRv4 det/cls/rec as ONNX, models shipped inside the wheel, so it works
offline); it is the optional `ocr` extra and is imported only when a check first needs it.

How `text_check` judges, in two tiers:

- exact: both sides NFKC-normalized, case-folded, typographic punctuation unified (curly quotes,
  dashes), all whitespace removed. Removing whitespace is what makes the check tolerant of spacing
  ("BREW LAB" is read as "BREWLAB"; CJK has none) without being tolerant of spelling: every letter
  and digit must be there, in order.
- loose: punctuation is ignored too, and a letter with a diacritic may be read as its base letter
  (ü as u, ß as ss, B or S). The shipped recognizer is trained on Chinese and English: it reads
  "gebrüht" as "gebruht" and "Größer" as "GroBer". A loose match passes, and the details name each
  relaxation so a person can see what the engine could not verify.

Expected strings are looked for in every found line and in the lines joined in reading order,
because the engine splits a long headline into several boxes and merges short neighbouring ones.
"""

from __future__ import annotations

import io
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

from pipelines.errors import OcrUnavailable

_engine = None
# RapidOCR keeps per-call settings on the instance and ONNX sessions already use every core, so
# one shared engine, one call at a time.
_engine_lock = threading.Lock()


def _get_engine():
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:  # the extra is not installed, or one of its native deps is broken
            raise OcrUnavailable(f"cannot import rapidocr_onnxruntime: {exc}") from None
        _engine = RapidOCR()
    return _engine


def available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _to_rgb(image: bytes | Path):
    from PIL import Image

    data = image.read_bytes() if isinstance(image, Path) else image
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P", "PA"):
            # Transparent posters: the engine would see black text on black; read them on white.
            im = im.convert("RGBA")
            flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
            flat.alpha_composite(im)
            return flat.convert("RGB")
        return im.convert("RGB")


def read_text(image: bytes | Path, min_score: float = 0.5) -> list[str]:
    """Lines of text found in the image, top to bottom, left to right."""
    engine = _get_engine()
    rgb = _to_rgb(image)
    with _engine_lock:
        result, _elapsed = engine(rgb, text_score=min_score)
    return [str(text) for _box, text, _score in (result or []) if str(text).strip()]


# ---- normalization -------------------------------------------------------------------------

_PUNCT_UNIFY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u3002": ".", "\u3001": ",", "\u30fb": "\u00b7",
    }
)
# What a diacritic-less recognizer may read for a letter it has never been trained on.
_CONFUSABLE = {"ß": ("ss", "b", "β", "s"), "æ": ("ae",), "œ": ("oe",), "ø": ("o",), "ł": ("l",), "đ": ("d",)}


def normalize(text: str) -> str:
    """NFKC, case-folded, typographic punctuation unified, whitespace removed."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_UNIFY)
    return "".join(ch for ch in text.casefold() if not ch.isspace())


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _strip_marks(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", base)


def _loose_pattern(expected: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex over loosely normalized found text, and the relaxations it allows."""
    parts: list[str] = []
    relaxed: list[str] = []
    text = unicodedata.normalize("NFKC", expected).translate(_PUNCT_UNIFY)
    for ch in text:
        if ch.isspace() or _is_punct(ch):
            continue
        low = ch.lower()  # not casefold: it would turn ß into ss before we can offer B for it
        alts = {low.casefold()}
        alts.update(_CONFUSABLE.get(low, ()))
        base = _strip_marks(low)
        if base != low:
            alts.add(base.casefold())
        if len(alts) > 1:
            relaxed.append(ch)
        parts.append("(?:" + "|".join(re.escape(a) for a in sorted(alts, key=len, reverse=True)) + ")")
    return re.compile("".join(parts)), relaxed


def _loose(text: str) -> str:
    return "".join(ch for ch in normalize(text) if not _is_punct(ch))


# ---- the check -----------------------------------------------------------------------------


def text_check(expected: list[str], found: list[str]) -> tuple[bool, dict[str, Any]]:
    """Whether every expected string is in the found text; details are JSON-ready for metadata."""
    candidates = [(f"line {i + 1}", line) for i, line in enumerate(found)] + [("joined", "".join(found))]
    exact_hay = [(where, normalize(t)) for where, t in candidates]
    loose_hay = [(where, _loose(t)) for where, t in candidates]

    results: list[dict[str, Any]] = []
    for want in expected:
        target = normalize(want)
        row: dict[str, Any] = {"expected": want, "match": "missing"}
        if not target:
            row["match"] = "empty"
        elif hit := next((w for w, h in exact_hay if target in h), None):
            row.update(match="exact", where=hit)
        else:
            pattern, relaxed = _loose_pattern(want)
            hit = next((w for w, h in loose_hay if pattern.pattern and pattern.search(h)), None)
            if hit:
                row.update(match="loose", where=hit)
                notes = ["punctuation ignored"] if any(_is_punct(c) for c in want) else []
                if relaxed:
                    notes.append("not verifiable by this OCR model: " + " ".join(sorted(set(relaxed))))
                row["relaxed"] = notes
        results.append(row)

    missing = [r["expected"] for r in results if r["match"] == "missing"]
    details = {
        "ok": not missing,
        "expected": list(expected),
        "found": list(found),
        "missing": missing,
        "results": results,
    }
    return not missing, details
