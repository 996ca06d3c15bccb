"""What a vendor's answer means: the error tree entry for a failed response or a transport
failure, the vendor's message and request id, and the redaction every vendor-supplied string
passes through before it is shown or stored."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

import httpx

from providers.errors import (
    AmbiguousError,
    AuthError,
    ModerationBlocked,
    PaymentRequired,
    ProtocolError,
    ProviderError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from providers.retry import parse_retry_after

ErrorParser = Callable[[httpx.Response], "tuple[str | None, str | None, str | None]"]

MAX_MESSAGE_CHARS = 500
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-runapi-task-id",
    "x-client-request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "cf-ray",
)
MODERATION_CODES = {"moderation_blocked", "content_policy_violation", "content_filter", "safety_violation"}
_MODERATION_RE = re.compile(r"moderation|safety|content polic", re.I)
_BEARER_RE = re.compile(r"(Bearer\s+)[^\s\"',;]+", re.I)

SENT_BEFORE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout, httpx.WriteError)
SENT_AFTER = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and anything after `Bearer `) replaced by ***."""
    out = str(text)
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(s) >= 4:
            out = out.replace(s, "***")
    return _BEARER_RE.sub(r"\1***", out)


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (a string, or dicts and lists of them, as in a vendor's `usage`) with every secret
    redacted; other values are returned as they are."""
    secrets = list(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, secrets) for v in value]
    return value


def redact_error(err: ProviderError, secrets: Iterable[str]) -> ProviderError:
    """`err` with every vendor-supplied field redacted, in place: its message, request id (a
    proxy may echo the key in x-request-id; modelverse puts its id in error.param), vendor
    message and code. Returned for `raise redact_error(err, ...)`."""
    secrets = list(secrets)
    err.args = tuple(redact_value(a, secrets) for a in err.args)
    for attr in ("request_id", "vendor_message", "code"):
        value = getattr(err, attr, None)
        if isinstance(value, str):
            setattr(err, attr, redact(value, secrets))
    return err


def secrets_of(provider: Any) -> list[str]:
    """The values `redact` must hide for this provider (its key, when one is set)."""
    env = getattr(provider.config, "api_key_env", None)
    source = getattr(provider, "_env", None) or {}
    key = source.get(env) if env else None
    return [key] if key else []


def first_str(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def message_of(value: Any) -> str | None:
    """A readable message from str / {message|msg|detail|error} / [first item]."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        return first_str(value.get("message"), value.get("msg"), value.get("detail"), value.get("error"))
    if isinstance(value, list) and value:
        return message_of(value[0])
    return None


def request_id_from(response: httpx.Response) -> str | None:
    for h in REQUEST_ID_HEADERS:
        v = response.headers.get(h)
        if v:
            return v
    return None


def default_error_parser(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(message, code, request_id) from the envelopes vendors use:
    {"error": {message, type, param, code}}, {"error": "..."}, message, detail, errors[0]."""
    message = code = None
    request_id = request_id_from(response)
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = message_of(err)
            code = first_str(err.get("code"), err.get("type"))
        elif err is not None:
            message = message_of(err)
        message = message or message_of(body.get("message")) or message_of(body.get("detail"))
        message = message or message_of(body.get("errors")) or message_of(body.get("details"))
        if code is None and isinstance(body.get("code"), (str, int)) and body.get("code") not in (0, "0"):
            code = str(body.get("code"))
        request_id = request_id or first_str(body.get("request_id"), body.get("requestId"))
    elif isinstance(body, str):
        message = body
    elif body is None:
        text = response.text.strip() if response.content else ""
        message = re.sub(r"<[^>]+>", " ", text)[:200].strip() or None if text else None
    return message, code, request_id


def error_for(
    provider_name: str | None,
    status: int | None,
    message: str | None,
    code: str | None = None,
    request_id: str | None = None,
    *,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Classify a vendor failure into the error tree. Also for 2xx envelopes carrying an error
    (gptimageapi's non-zero `code`): pass the HTTP status they came with, or None."""
    secrets = list(secrets)
    msg = redact(message, secrets)[:MAX_MESSAGE_CHARS] if message else None
    code = redact(code, secrets) if code else None
    text = msg or (f"HTTP {status} with no message" if status else "vendor reported an error")
    request_id = redact(request_id, secrets) if request_id else None
    kw = dict(provider=provider_name, status=status, request_id=request_id, vendor_message=msg, code=code)
    moderation = (code or "").lower() in MODERATION_CODES or bool(msg and _MODERATION_RE.search(msg))
    if status in (401, 403):
        return AuthError(f"key refused: {text}", **kw)
    if status == 402:
        return PaymentRequired(f"payment required: {text}", **kw)
    if status == 429:
        return RateLimited(f"rate limited: {text}", retry_after=retry_after, **kw)
    if status is not None and (status == 408 or status >= 500):
        return RetryableError(f"vendor error: {text}", retry_after=retry_after, **kw)
    if moderation and (status is None or 400 <= status < 500):
        return ModerationBlocked(f"blocked by moderation: {text}", **kw)
    if status in (400, 404, 409, 413, 422) or (status is None and code):
        return RejectedError(f"rejected: {text}", **kw)
    return ProtocolError(f"unexpected answer: {text}", **kw)


def error_from_response(
    provider_name: str | None,
    response: httpx.Response,
    error_parser: ErrorParser | None = None,
    *,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """The ProviderError a non-2xx response means (returned, not raised)."""
    message, code, request_id = (error_parser or default_error_parser)(response)
    return error_for(
        provider_name,
        response.status_code,
        message,
        code,
        request_id or request_id_from(response),
        retry_after=parse_retry_after(response.headers),
        secrets=secrets,
    )


def json_body(resp: httpx.Response, provider: Any) -> Any:
    """The JSON body of a 2xx answer; ProtocolError when it is not JSON."""
    try:
        return resp.json()
    except (ValueError, UnicodeDecodeError) as exc:
        snippet = redact(resp.text[:120], secrets_of(provider)) if resp.content else "an empty body"
        raise ProtocolError(
            f"expected JSON, got {snippet!r}",
            provider=getattr(provider, "name", None),
            status=resp.status_code,
            request_id=request_id_from(resp),
        ) from exc


def transport_text(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def transport_error(exc: httpx.HTTPError, *, idempotent: bool, provider: str | None,
                    secrets: Iterable[str]) -> ProviderError:
    """A transport failure in the tree: retryable before the request left us (or when the call
    is idempotent), maybe billed after it was sent, untrustworthy otherwise."""
    what = redact(transport_text(exc), secrets)
    if isinstance(exc, SENT_BEFORE):
        return RetryableError(f"could not reach the vendor ({what})", provider=provider)
    if isinstance(exc, SENT_AFTER):
        if idempotent:
            return RetryableError(f"sent, no answer ({what})", provider=provider)
        return AmbiguousError(f"sent, no answer ({what}): the call may have been billed; not retried",
                              provider=provider)
    return ProtocolError(f"HTTP failure: {what}", provider=provider)


def status_error(resp: httpx.Response, *, idempotent: bool, provider: str | None, secrets: Iterable[str],
                 error_parser: ErrorParser | None = None) -> ProviderError:
    """The error a non-2xx answer means; a 504 on a non-idempotent call may still be billed."""
    if resp.status_code == 504 and not idempotent:
        return AmbiguousError("gateway timeout: the vendor may still be generating (and billing); not retried",
                              provider=provider, status=504, request_id=request_id_from(resp))
    return error_from_response(provider, resp, error_parser, secrets=secrets)
