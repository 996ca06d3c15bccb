"""The text check of one image: every expected string, read by OCR in the locale's language.

Three outcomes, never confused: `passed` (every string found, spelled exactly), `failed` (one is
missing or misspelt: the verdict carries the readings and the closest part of each), `not_run`
(no engine, no language data for the locale, or no language mapped: the verdict carries the
command that fixes it). A check that did not run is never reported as passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelines.errors import OcrUnavailable
from pipelines.text import ocr
from pipelines.text.compare import Match, find
from pipelines.text.locales import language

TextStatus = Literal["passed", "failed", "not_run"]
MAX_READINGS_KEPT = 6  # a failed check keeps this many distinct readings for people to look at


@dataclass
class TextVerdict:
    status: TextStatus
    locale: str
    language: str | None = None  # the OCR language code used (or that would be)
    matches: list[Match] = field(default_factory=list)
    readings: list[dict[str, Any]] = field(default_factory=list)  # {"pass": label, "lines": [...]}
    fix: str | None = None  # not_run: what to do about it
    package: str | None = None  # not_run for want of language data: the package that has it

    @property
    def missing(self) -> list[str]:
        return [m.expected for m in self.matches if not m.ok]

    def describe(self) -> str:
        if self.status == "passed":
            return f"expected text found ({self.locale}, OCR {self.language})"
        if self.status == "not_run":
            return f"text not checked: {self.fix}"
        parts = [f"{m.expected!r} (closest {m.closest!r}, {m.distance} edit{'s' if m.distance != 1 else ''})"
                 for m in self.matches if not m.ok]
        return f"expected text not found ({self.locale}, OCR {self.language}): " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "locale": self.locale, "language": self.language,
                "missing": self.missing, "readings": self.readings, "fix": self.fix,
                "matches": [m.__dict__ for m in self.matches]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "TextVerdict":
        return cls(doc["status"], doc["locale"], doc.get("language"), [Match(**m) for m in doc.get("matches", [])],
                   doc.get("readings", []), doc.get("fix"))


def check_text(image: bytes | Path, expected: list[str], locale: str | None) -> TextVerdict:
    """Read `image` in `locale`'s language until every expected string is found, or every pass of
    the OCR ladder has been tried."""
    loc = locale or "en"
    lang = language(loc)
    if lang is None:
        return TextVerdict("not_run", loc, fix=f"no OCR language is known for locale {loc!r}: add it to "
                                                "pipelines/text/locales.py (see README, 'Text checks')")
    problem = ocr.missing_language(lang)
    if problem:
        return TextVerdict("not_run", loc, lang.code, fix=problem, package=lang.package if ocr.engine_problem() is None
                           else None)
    try:
        return _read_until_found(ocr.load(image), list(expected), lang)
    except OcrUnavailable as exc:
        return TextVerdict("not_run", loc, lang.code, fix=str(exc))


def _read_until_found(img, expected: list[str], lang) -> TextVerdict:
    best: list[Match | None] = [None] * len(expected)
    seen: list[dict[str, Any]] = []
    for reading in ocr.readings(img, lang):
        if len(seen) < MAX_READINGS_KEPT and all(r["lines"] != list(reading.lines) for r in seen):
            seen.append({"pass": reading.label, "lines": list(reading.lines)})
        for i, text in enumerate(expected):
            if best[i] is not None and best[i].ok:
                continue
            m = find(text, reading.lines, lang.locale)
            m.reading = reading.label
            if best[i] is None or m.ok or m.distance < best[i].distance:
                best[i] = m
        if all(b is not None and b.ok for b in best):
            break
    matches = [b for b in best if b is not None]
    ok = all(m.ok for m in matches)
    return TextVerdict("passed" if ok else "failed", lang.locale, lang.code, matches, seen)


CHECK_VERSION = 2  # bump when the engine, the ladder or the comparison changes: cached verdicts expire


def note_key(blob: str, expected: list[str] | tuple[str, ...], locale: str | None) -> str:
    """The key under which the verdict on one image (by its blob digest) is remembered."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps([blob, list(expected), locale or "en", CHECK_VERSION]).encode()).hexdigest()
