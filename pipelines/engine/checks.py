"""Checks on a built variant: it decodes at the exact size and format; its expected text is there.

The image check always runs. The text check runs OCR (the optional `ocr` extra) on variants with
expected text; a failure is ERROR severity and blocks the variant's dependants in the same run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from pipelines.catalog.variant import Variant
from pipelines.engine import ocr

TEXT_CHECK_VERSION = 1  # bump when the OCR engine or the comparison changes: cached verdicts expire
FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

CheckName = Literal["image_ok", "text_ok"]
Severity = Literal["ERROR", "WARN"]


@dataclass
class CheckOutcome:
    name: CheckName
    passed: bool
    severity: Severity = "ERROR"
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False

    @property
    def blocks(self) -> bool:
        return not self.passed and not self.skipped and self.severity == "ERROR"


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


def text_check(v: Variant, data: bytes, mode: str = "auto") -> CheckOutcome | None:
    """None when the variant has no expected text or checks are off."""
    if not v.text or mode == "off":
        return None
    try:
        found = ocr.read_text(data)
    except Exception as exc:  # OcrUnavailable, or the engine failed
        msg = str(exc) if "pip install" in str(exc) else f"OCR unavailable ({exc}); pip install 'assetpipe[ocr]'"
        if mode == "required":
            return CheckOutcome("text_ok", False, description=msg)
        return CheckOutcome("text_ok", True, severity="WARN", description=msg, skipped=True)
    ok, details = ocr.text_check(list(v.text), found)
    desc = "expected text found" if ok else f"expected text not found: {details.get('missing', details)}"
    return CheckOutcome("text_ok", ok, description=desc, metadata={"expected": list(v.text), "found": found, **{
        k: val for k, val in details.items() if isinstance(val, (str, int, float, bool, list))}})
