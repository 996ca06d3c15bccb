"""Every error assetpipe raises on purpose, in one tree. Each error is defined by the layer that
raises it and re-exported here, so the CLI catches them by one name.

    AssetpipeError                    providers.errors (the root sits in the lowest layer)
    ├── CatalogError                  the catalog is wrong; carries every CatalogIssue (path:line: message)
    ├── SelectionError                a --select term matches no variant (a usage error: exit 2)
    ├── BuildError                    a build was refused or did not finish
    │   └── BudgetExceeded            --max-cost is below the estimate: nothing was spent
    ├── StoreError                    the cache store cannot be read or written
    │   └── BlobDamaged               a stored image or its record failed verification (quarantined)
    ├── CoordinationError             the shared leases and slots (coordination:) are unusable
    ├── ReviewError                   approve/reject refused: a selected variant has no take to review
    ├── OcrUnavailable                no OCR engine or language data: the text check did not run
    └── ProviderError                 providers.errors: a vendor call failed
        ├── RetryableError            429, 5xx, connection failed before the request was sent
        │   └── RateLimited           429 with a Retry-After the client honours
        ├── RejectedError             the vendor refused the input (400/422)
        │   └── ModerationBlocked
        ├── AuthError                 401/403: the key is missing or wrong
        │   └── PaymentRequired       402: out of credits
        ├── AmbiguousError            sent, answer lost or unreadable: it may have been billed
        ├── NotSentError              a create not sent because the build is stopping
        ├── JobFailedError            an async job reached a terminal failure
        ├── UnsupportedError          the vendor cannot do this
        └── ProtocolError             the vendor answered something we cannot trust

Template problems (`catalog.templating.TemplateProblem`) and YAML load errors are internal: they
are always turned into CatalogIssues before they leave the catalog layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from providers.errors import (
    AmbiguousError,
    AssetpipeError,
    AuthError,
    JobFailedError,
    ModerationBlocked,
    NotSentError,
    PaymentRequired,
    ProtocolError,
    ProviderError,
    RateLimited,
    RejectedError,
    RetryableError,
    UnsupportedError,
)

__all__ = [
    "AmbiguousError", "AssetpipeError", "AuthError", "BlobDamaged", "BudgetExceeded", "BuildError", "CatalogError",
    "CatalogIssue", "CoordinationError", "JobFailedError", "ModerationBlocked", "NotSentError", "OcrUnavailable",
    "PaymentRequired",
    "ProtocolError", "ProviderError", "RateLimited", "RejectedError", "RetryableError", "ReviewError",
    "SelectionError", "StoreError", "UnsupportedError",
]


@dataclass(frozen=True, order=True)
class CatalogIssue:
    path: str
    line: int
    message: str
    # a value refused as it was read (a custom tag, an absurd number): it is dropped, so what a later
    # check says about the missing value on the same line ("must be a whole number") is not repeated
    masks_line: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{printable(self.path)}:{self.line}: {printable(self.message)}"


def printable(text: str) -> str:
    """`text` safe for a terminal: control and invisible format characters (NUL, escape sequences,
    right-to-left overrides, zero-width spaces) are shown as \\xNN / \\uNNNN, never raw."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\t" else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class CatalogError(AssetpipeError):
    def __init__(self, issues: Iterable[CatalogIssue]):
        issues = set(issues)
        masked = {(i.path, i.line) for i in issues if i.masks_line}
        self.issues = sorted(i for i in issues if i.masks_line or (i.path, i.line) not in masked)
        super().__init__("\n".join(str(i) for i in self.issues))


class SelectionError(AssetpipeError):
    """A `--select` term that matches no variant."""


class BuildError(AssetpipeError):
    pass


class BudgetExceeded(BuildError):
    def __init__(self, estimate_usd: float, max_cost_usd: float):
        self.estimate_usd = estimate_usd
        self.max_cost_usd = max_cost_usd
        super().__init__(
            f"estimated cost ${estimate_usd:.2f} exceeds --max-cost ${max_cost_usd:.2f}; nothing was built "
            "(the estimate is the worst case: it counts every retake a failed text check may pay for)"
        )


class StoreError(AssetpipeError):
    pass


class CoordinationError(AssetpipeError):
    """The coordination database cannot be reached or was lost: nothing new is sent to a vendor."""


class BlobDamaged(StoreError):
    """A stored image whose bytes no longer match their sha256, or an action record that points at
    the wrong image. Never exported, never used as an input: it is moved to the store's quarantine."""

    def __init__(self, digest: str, problem: str, *, key: str | None = None, record_only: bool = False):
        self.digest, self.problem, self.key, self.record_only = digest, problem, key, record_only
        self.quarantined: str | None = None  # where it was moved, once it was
        super().__init__(f"cached result refused: its action record {problem}" if record_only
                         else f"cached image {digest[:12]} {problem}")


class ReviewError(AssetpipeError):
    """`approve` / `reject` refused (nothing written): a selected variant has no built take to review."""


class OcrUnavailable(AssetpipeError):
    """The OCR engine or a language's data cannot be loaded: the text check did not run (never
    "passed"); the message says how to install what is missing."""
