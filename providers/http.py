"""The HTTP layer every hosted provider shares: one client per provider, retries, errors, polling.

The policy, in one place:

    before the request left us (ConnectError, ConnectTimeout, PoolTimeout,
        WriteTimeout, WriteError: the body never fully reached the server)  -> always retried
    after it was sent (ReadTimeout, ReadError, RemoteProtocolError)          -> retried only when
        the call is idempotent (a GET, or a POST carrying an Idempotency-Key); otherwise
        AmbiguousError: the vendor may have started (and billed) the job, so we never re-POST
    408, 429, 5xx                                                            -> retried up to
        config.max_retries, honouring Retry-After up to RETRY_AFTER_CEILING_S; then
        RateLimited (429) / RetryableError
    504 on a non-idempotent call                                             -> AmbiguousError:
        a gateway timed out waiting for a backend that may still be generating
    any other non-2xx                                                        -> error_from_response

408 is retried: the server says it gave up *waiting for our request*, so it never processed it.
409 is not: RunAPI uses it for "same Idempotency-Key, different body", which no retry can fix.

The pure functions (`parse_retry_after`, `should_retry_status`, `backoff_delay`) are table-tested
like openai-python's `_parse_retry_after_header` / `_should_retry` / `_calculate_retry_timeout`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import json
import logging
import random
import re
import time
from typing import Any, Awaitable, Callable, Iterable, Mapping, TypeVar
from urllib.parse import urljoin, urlsplit

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

log = logging.getLogger("assetpipe.http")

T = TypeVar("T")
ErrorParser = Callable[[httpx.Response], "tuple[str | None, str | None, str | None]"]

RETRY_AFTER_CEILING_S = 120.0
USER_AGENT = "assetpipe/0.1 (+httpx)"
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

_SENT_BEFORE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout, httpx.WriteError)
_SENT_AFTER = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


# -- clients -----------------------------------------------------------------------------------

def make_client(config: Any) -> httpx.AsyncClient:
    """An AsyncClient for one provider entry (a ProviderConfig). No env proxies, no redirects
    followed implicitly: `download` follows them itself so every hop is checked."""
    t = float(config.timeout_s)
    n = int(config.max_concurrency)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(t, connect=min(t, 30.0), pool=t),
        # a job holds one connection at a time; the margin covers downloads next to polls
        limits=httpx.Limits(max_connections=2 * n + 4, max_keepalive_connections=n + 2),
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def client_for(provider: Any) -> httpx.AsyncClient:
    """The provider's injected client, or one made (and owned: `aclose` closes it) on first use.

    An owned client is bound to the event loop it was made on; when a caller runs a new loop
    (each `asyncio.run`) the stale client is dropped and a fresh one made."""
    loop = asyncio.get_running_loop()
    client = provider.client
    if client is not None and getattr(provider, "_owns_client", False):
        if getattr(provider, "_client_loop", loop) is not loop or client.is_closed:
            client = None
    if client is None:
        client = make_client(provider.config)
        provider.client = client
        provider._owns_client = True
        provider._client_loop = loop
    return client


def join_url(base: str | None, path: str) -> str:
    """`{base}{path}`: base_url + the vendor's path, one slash between (docs/protocols.md §0)."""
    if not base:
        raise ProviderError("provider has no base_url configured")
    return base.rstrip("/") + "/" + path.lstrip("/")


# -- the pure retry policy ---------------------------------------------------------------------

def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date).
    None when absent or unreadable. A date in the past gives a negative number."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if ra is None:
        return None
    ra = ra.strip()
    try:
        return float(ra)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(ra)
    if parsed is None:
        return None
    when = email.utils.mktime_tz(parsed)
    return float(when - (time.time() if now is None else now))


def should_retry_status(status: int) -> bool:
    return status == 408 or status == 429 or 500 <= status <= 599


def backoff_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    ceiling: float = RETRY_AFTER_CEILING_S,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number `attempt + 1` (attempt counts from 0).

    A vendor's Retry-After of 0..ceiling seconds is honoured exactly. Above the ceiling we do not
    wait (a build stalled for minutes helps nobody): RateLimited is raised so the caller can
    reschedule. A missing or past (negative) Retry-After gives exponential backoff
    base * 2**attempt, capped at `cap`, minus up to 25 % jitter so parallel jobs spread out."""
    if retry_after is not None and retry_after >= 0:
        if retry_after > ceiling:
            raise RateLimited(
                f"vendor asks to wait {retry_after:.0f} s, more than {ceiling:.0f} s: not waiting",
                retry_after=retry_after,
            )
        return float(retry_after)
    delay = min(cap, base * (2.0 ** max(0, attempt)))
    return delay * (1.0 - 0.25 * rand())


# -- secrets and errors ------------------------------------------------------------------------

def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and anything after `Bearer `) replaced by ***."""
    out = str(text)
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(s) >= 4:
            out = out.replace(s, "***")
    return _BEARER_RE.sub(r"\1***", out)


def secrets_of(provider: Any) -> list[str]:
    """The values `redact` must hide for this provider (its key, when one is set)."""
    env = getattr(provider.config, "api_key_env", None)
    source = getattr(provider, "_env", None) or {}
    key = source.get(env) if env else None
    return [key] if key else []


_secrets = secrets_of  # the name other provider modules already use


def _first_str(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _message_of(value: Any) -> str | None:
    """A readable message from str / {message|msg|detail|error} / [first item]."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        return _first_str(value.get("message"), value.get("msg"), value.get("detail"), value.get("error"))
    if isinstance(value, list) and value:
        return _message_of(value[0])
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
            message = _message_of(err)
            code = _first_str(err.get("code"), err.get("type"))
        elif err is not None:
            message = _message_of(err)
        message = message or _message_of(body.get("message")) or _message_of(body.get("detail"))
        message = message or _message_of(body.get("errors")) or _message_of(body.get("details"))
        if code is None and isinstance(body.get("code"), (str, int)) and body.get("code") not in (0, "0"):
            code = str(body.get("code"))
        request_id = request_id or _first_str(body.get("request_id"), body.get("requestId"))
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
        snippet = redact(resp.text[:120], _secrets(provider)) if resp.content else "an empty body"
        raise ProtocolError(
            f"expected JSON, got {snippet!r}",
            provider=getattr(provider, "name", None),
            status=resp.status_code,
            request_id=request_id_from(resp),
        ) from exc


# -- one logical request -----------------------------------------------------------------------

def _retry_base(provider: Any) -> float:
    return float(provider.config.options.get("retry_base_s", 0.5))


def _transport_text(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


async def send(
    provider: Any,
    method: str,
    url: str,
    *,
    idempotent: bool,
    create: bool = False,
    error_parser: ErrorParser | None = None,
    auth: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """One logical request with the retry policy above; returns a 2xx response (body read).

    `create=True` waits for the provider's requests-per-minute pace before every attempt.
    `auth=False` leaves out the Bearer header (public endpoints such as a model schema).
    Pass request bodies as bytes/dicts, not file objects: a retry sends them again."""
    client = client_for(provider)
    headers = dict(kwargs.pop("headers", None) or {})
    if auth and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {provider.api_key}"
    secrets = _secrets(provider)
    name = getattr(provider, "name", None)
    max_retries = int(provider.config.max_retries)
    base = _retry_base(provider)
    attempt = 0
    while True:
        if create:
            await provider.limiter.pace()
        try:
            resp = await client.request(method, url, headers=headers, **kwargs)
        except _SENT_BEFORE as exc:
            err: ProviderError = RetryableError(
                f"could not reach the vendor ({redact(_transport_text(exc), secrets)})", provider=name
            )
        except _SENT_AFTER as exc:
            what = redact(_transport_text(exc), secrets)
            if not idempotent:
                raise AmbiguousError(
                    f"sent, no answer ({what}): the call may have been billed; not retried", provider=name
                ) from exc
            err = RetryableError(f"sent, no answer ({what})", provider=name)
        except httpx.HTTPError as exc:
            raise ProtocolError(f"HTTP failure: {redact(_transport_text(exc), secrets)}", provider=name) from exc
        else:
            status = resp.status_code
            if 200 <= status < 300:
                return resp
            if status == 504 and not idempotent:
                raise AmbiguousError(
                    "gateway timeout: the vendor may still be generating (and billing); not retried",
                    provider=name,
                    status=status,
                    request_id=request_id_from(resp),
                )
            err = error_from_response(name, resp, error_parser, secrets=secrets)
            if not should_retry_status(status):
                raise err
        if attempt >= max_retries:
            raise err
        try:
            delay = backoff_delay(attempt, getattr(err, "retry_after", None), base=base)
        except RateLimited as too_long:
            raise RateLimited(
                str(too_long), retry_after=too_long.retry_after, provider=name, status=err.status,
                request_id=err.request_id, vendor_message=err.vendor_message, code=err.code,
            ) from err
        log.info("%s %s %s: %s; retry %d/%d in %.2f s", name, method, _path_of(url), err, attempt + 1,
                 max_retries, delay)
        await asyncio.sleep(delay)
        attempt += 1


def _path_of(url: str) -> str:
    return urlsplit(url).path  # never log query strings: signed URLs carry tokens


# -- polling -----------------------------------------------------------------------------------

async def poll(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    interval: float,
    deadline: float,
    max_interval: float = 15.0,
    what: str = "job",
    provider: str | None = None,
) -> T:
    """Call `fetch()` until `is_done(result)`; waits grow x1.5 up to `max_interval`.

    `deadline` is a duration in seconds from the call. Past it: AmbiguousError naming `what`
    (put the job id in it), since the job may still finish and be billed."""
    start = time.monotonic()
    wait = max(0.0, interval)
    while True:
        result = await fetch()
        if is_done(result):
            return result
        remaining = deadline - (time.monotonic() - start)
        if remaining <= 0:
            raise AmbiguousError(
                f"{what} not finished after {deadline:g} s; it may still finish and be billed",
                provider=provider,
            )
        await asyncio.sleep(min(wait, remaining))
        wait = min(wait * 1.5, max_interval)


# -- results -----------------------------------------------------------------------------------

def _allowed(provider: Any, url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    base = urlsplit(provider.config.base_url or "")
    return bool(parts.hostname) and parts.scheme in ("http", "https") and (
        parts.scheme, parts.hostname, parts.port
    ) == (base.scheme, base.hostname, base.port)


def _same_origin(provider: Any, url: str) -> bool:
    a, b = urlsplit(url), urlsplit(provider.config.base_url or "")
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def download(provider: Any, url: str, *, max_bytes: int = 50 * 2**20, max_redirects: int = 5) -> bytes:
    """Fetch a result URL at once (vendor URLs expire). Only https:// URLs, or URLs on the
    provider's own base_url origin, are fetched; each redirect hop is checked the same way. The
    key is sent only to the provider's own origin, never to a CDN."""
    name = getattr(provider, "name", None)
    secrets = _secrets(provider)
    client = client_for(provider)
    attempt = 0
    hops = 0
    while True:
        if not _allowed(provider, url):
            raise ProtocolError(f"refusing to download a result from a non-https URL: {_path_of(url)!r}",
                                provider=name)
        headers = {"Authorization": f"Bearer {provider.api_key}"} if _same_origin(provider, url) else {}
        err: ProviderError | None = None
        try:
            async with client.stream("GET", url, headers=headers) as resp:
                status = resp.status_code
                if status in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                    hops += 1
                    if hops > max_redirects:
                        raise ProtocolError("too many redirects downloading the result", provider=name)
                    url = urljoin(url, resp.headers["location"])
                    continue
                if status in (403, 404, 410):
                    raise ProtocolError("result URL expired or missing", provider=name, status=status,
                                        request_id=request_id_from(resp))
                if 200 <= status < 300:
                    length = resp.headers.get("content-length")
                    if length and length.isdigit() and int(length) > max_bytes:
                        raise ProtocolError(f"result is {int(length):,} bytes, over the {max_bytes:,} limit",
                                            provider=name)
                    buf = bytearray()
                    async for chunk in resp.aiter_bytes():
                        buf += chunk
                        if len(buf) > max_bytes:
                            raise ProtocolError(f"result exceeds the {max_bytes:,} byte limit", provider=name)
                    if not buf:
                        raise ProtocolError("result URL answered an empty body", provider=name, status=status)
                    return bytes(buf)
                await resp.aread()
                err = error_from_response(name, resp, secrets=secrets)
                if not should_retry_status(status):
                    raise err
        except (*_SENT_BEFORE, *_SENT_AFTER) as exc:  # a GET: safe to retry either way
            err = RetryableError(f"download failed ({redact(_transport_text(exc), secrets)})", provider=name)
        except httpx.HTTPError as exc:
            raise ProtocolError(f"download failed: {redact(_transport_text(exc), secrets)}", provider=name) from exc
        if attempt >= provider.config.max_retries:
            raise err
        await asyncio.sleep(backoff_delay(attempt, None, base=_retry_base(provider)))
        attempt += 1


def decode_b64(s: str) -> bytes:
    """Bytes of a base64 string, with or without a `data:image/...;base64,` prefix."""
    if not isinstance(s, str):
        raise ProtocolError("expected a base64 string for the image")
    text = s.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head:
            raise ProtocolError("data: URL is not base64-encoded")
    text = re.sub(r"\s+", "", text)
    if not text:
        raise ProtocolError("empty base64 image")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"image is not valid base64: {exc}") from exc


def dumps(obj: Any) -> str:
    """Compact JSON for request bodies and logs."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
