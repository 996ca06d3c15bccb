"""Everything a vendor call can raise, owned by the layer that raises it.

    AssetpipeError              the root of every error assetpipe raises on purpose (the rest of
    │                           the tree is drawn in pipelines/errors.py)
    └── ProviderError           a vendor call failed; carries provider, status, request id, vendor message
        ├── RetryableError      429, 5xx, connection failed before the request was sent
        │   └── RateLimited     429 with a Retry-After the client honours
        ├── RejectedError       the vendor refused the input (400/422): fix the catalog, do not retry
        │   └── ModerationBlocked
        ├── AuthError           401/403: the key is missing or wrong
        │   └── PaymentRequired 402: out of credits
        ├── AmbiguousError      the request was sent and its answer was lost or unreadable, or no
        │                       answer came within deadline_s: it may have been billed
        ├── NotSentError        the create was never sent (the build is stopping): nothing billed
        ├── JobFailedError      an async job reached a terminal failure (failed, error, cancelled)
        ├── UnsupportedError    the vendor cannot do this (no edit endpoint, too many inputs)
        └── ProtocolError       the vendor answered something we cannot trust (bad JSON, bad image)

The root lives here, in the lowest layer, so that `providers` imports nothing from `pipelines`
while `except AssetpipeError` still catches every deliberate error. Messages never contain
secrets: provider errors are built from vendor text that has passed through `http.redact`, and
keys are only ever read from the environment by the provider itself.
"""

from __future__ import annotations


class AssetpipeError(Exception):
    """Root of every error assetpipe raises deliberately."""


class ProviderError(AssetpipeError):
    """A vendor call failed. `retryable` tells the HTTP layer whether to try again."""

    retryable = False
    maybe_billed = False  # an instance may set it too: a billed result that proved unusable

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        vendor_message: str | None = None,
        code: str | None = None,
    ):
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.vendor_message = vendor_message
        self.code = code
        super().__init__(message)

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.provider:
            parts.insert(0, f"[{self.provider}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " ".join(parts)


class RetryableError(ProviderError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class RateLimited(RetryableError):
    pass


class RejectedError(ProviderError):
    pass


class ModerationBlocked(RejectedError):
    pass


class AuthError(ProviderError):
    pass


class PaymentRequired(AuthError):
    pass


class AmbiguousError(ProviderError):
    maybe_billed = True


class NotSentError(ProviderError):
    """A create refused before it left: the build is stopping. Nothing was sent or billed."""


class JobFailedError(ProviderError):
    pass


class UnsupportedError(ProviderError):
    pass


class ProtocolError(ProviderError):
    pass
