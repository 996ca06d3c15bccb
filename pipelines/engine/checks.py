"""Checks on a built variant: it decodes at the exact size and format; its expected text is there.

The image check always runs. The text check (pipelines.text) reads the expected text of every
variant that has some, renditions and edits included; a failure is ERROR severity and blocks the
variant's dependants in the same run. A text check that could not run (no OCR data for the
locale) is *not run*: never passed, WARN severity (ERROR with `check_text: required`), with the
command that fixes it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from pipelines.catalog.variant import Variant
from pipelines.text.check import TextVerdict, check_text

FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

CheckName = Literal["image_ok", "text_ok"]
Severity = Literal["ERROR", "WARN"]
CheckStatus = Literal["passed", "failed", "not_run"]


@dataclass
class CheckOutcome:
    name: CheckName
    passed: bool
    severity: Severity = "ERROR"
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # did not run: `passed` is then always False

    def __post_init__(self) -> None:
        if self.skipped:
            self.passed = False

    @property
    def status(self) -> CheckStatus:
        return "not_run" if self.skipped else "passed" if self.passed else "failed"

    @property
    def blocks(self) -> bool:
        return not self.passed and not self.skipped and self.severity == "ERROR"

    def summary(self) -> dict[str, Any]:
        """What the manifest and the variant's head keep of it."""
        out: dict[str, Any] = {"status": self.status, "passed": None if self.skipped else self.passed,
                               "severity": self.severity, "description": self.description}
        if self.skipped:
            out["skipped"] = True
            out["fix"] = self.metadata.get("fix")
        for k in ("locale", "ocr_language", "missing", "closest", "readings", "takes"):
            if self.status == "failed" and self.metadata.get(k):
                out[k] = self.metadata[k]  # what OCR read, for a person to judge
        return out


def image_check(v: Variant, data: bytes) -> CheckOutcome:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:  # any decode failure is the finding itself
        return CheckOutcome("image_ok", False, description=f"does not decode: {exc}")
    want_fmt = FORMAT_NAMES[v.output_format]
    problems = []
    if img.size != (v.width, v.height):
        problems.append(f"size {img.width}x{img.height}, expected {v.width}x{v.height}")
    if img.format != want_fmt:
        problems.append(f"format {img.format}, expected {want_fmt}")
    meta = {"width": img.width, "height": img.height, "format": img.format}
    return CheckOutcome("image_ok", not problems, description="; ".join(problems) or "decodes, exact size and format",
                        metadata=meta)


def read_text(v: Variant, data: bytes, default_locale: str = "en") -> TextVerdict:
    return check_text(data, list(v.text), v.locale or default_locale)


def text_outcome(verdict: TextVerdict, mode: str = "auto") -> CheckOutcome:
    """The check result of a verdict under `check_text: auto | required`."""
    meta: dict[str, Any] = {"locale": verdict.locale, "ocr_language": verdict.language or ""}
    if verdict.status == "not_run":
        meta["fix"] = verdict.fix or ""
        if verdict.package:
            meta["package"] = verdict.package
        if mode == "required":  # a catalog that requires the check fails without it
            return CheckOutcome("text_ok", False, description=verdict.describe(), metadata=meta)
        return CheckOutcome("text_ok", False, "WARN", verdict.describe(), meta, skipped=True)
    meta["expected"] = [m.expected for m in verdict.matches]
    if verdict.status == "passed":
        meta["read_by"] = sorted({m.reading for m in verdict.matches if m.reading})
        return CheckOutcome("text_ok", True, description=verdict.describe(), metadata=meta)
    meta["missing"] = verdict.missing
    meta["closest"] = [{"expected": m.expected, "closest": m.closest, "distance": m.distance}
                       for m in verdict.matches if not m.ok]
    meta["readings"] = verdict.readings
    return CheckOutcome("text_ok", False, description=verdict.describe(), metadata=meta)
