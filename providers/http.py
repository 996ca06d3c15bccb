"""The HTTP layer every hosted provider shares: the provider's own client, one logical request
with the retry policy (providers.retry), polling, and result downloads.

A provider owns one `ProviderClient`: the httpx.AsyncClient injected at construction (tests and
benchmarks point it at an emulator) or one made on first use, bound to the event loop it was
made on. What an answer means is decided in `providers.answers`; when to try again in
`providers.retry`. Both are re-exported here, so a vendor module needs only `http`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from providers import calls, netpolicy
from providers.answers import (  # noqa: F401  (re-exported: the vendor modules' one import)
    MAX_MESSAGE_CHARS,
    REQUEST_ID_HEADERS,
    ErrorParser,
    default_error_parser,
    error_for,
    error_from_response,
    first_str,
    json_body,
    message_of,
    redact,
    redact_error,
    redact_value,
    request_id_from,
    secrets_of,
    status_error,
    transport_error,
    transport_text,
)
from providers.errors import AmbiguousError, ProtocolError, ProviderError, RetryableError
from providers.retry import (  # noqa: F401  (re-exported)
    RETRY_AFTER_CEILING_S,
    backoff_delay,
    parse_retry_after,
    should_retry_status,
    with_retries,
)

T = TypeVar("T")
USER_AGENT = "assetpipe/0.1 (+httpx)"
REDIRECTS = (301, 302, 303, 307, 308)


# -- the provider's client ---------------------------------------------------------------------

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


class ProviderClient:
    """The httpx client of one provider: the injected one (never closed here), or one made on
    first use and owned (closed by `aclose`). An owned client is bound to the event loop it was
    made on; when a caller runs a new loop (each `asyncio.run`) a fresh one is made."""

    def __init__(self, config: Any, injected: httpx.AsyncClient | None = None):
        self.config = config
        self.injected = injected
        self._owned: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def owns(self) -> bool:
        return self.injected is None

    def get(self) -> httpx.AsyncClient:
        if self.injected is not None:
            return self.injected
        loop = asyncio.get_running_loop()
        if self._owned is None or self._owned.is_closed or self._loop is not loop:
            self._owned, self._loop = make_client(self.config), loop
        return self._owned

    async def aclose(self) -> None:
        if self._owned is not None:
            await self._owned.aclose()


def client_for(provider: Any) -> httpx.AsyncClient:
    return provider.http.get()


def join_url(base: str | None, path: str) -> str:
    """`{base}{path}`: base_url + the vendor's path, one slash between (docs/protocols.md §0)."""
    if not base:
        raise ProviderError("provider has no base_url configured")
    return base.rstrip("/") + "/" + path.lstrip("/")


# -- one logical request -----------------------------------------------------------------------

def _retry_base(provider: Any) -> float:
    return float(provider.config.options.get("retry_base_s", 0.5))


def _path_of(url: str) -> str:
    return urlsplit(url).path  # never log query strings: signed URLs carry tokens


async def _retrying(provider: Any, attempt_once: Callable[[], Awaitable[T]], what: str) -> T:
    secrets = secrets_of(provider)

    async def redacted_attempt() -> T:
        try:
            return await attempt_once()
        except ProviderError as err:  # before the retry loop logs it: request ids are vendor text too
            raise redact_error(err, secrets)

    return await with_retries(redacted_attempt, max_retries=int(provider.config.max_retries),
                              base=_retry_base(provider), what=f"{getattr(provider, 'name', None)} {what}")


async def send(
    provider: Any,
    method: str,
    url: str,
    *,
    idempotent: bool,
    create: bool = False,
    error_parser: ErrorParser | None = None,
    auth: bool = True,
    check: Callable[[httpx.Response], None] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One logical request with the retry policy; returns a 2xx response (body read).

    `create=True` waits for the provider's requests-per-minute pace before every attempt.
    `auth=False` leaves out the Bearer header (public endpoints such as a model schema).
    `check(resp)` may raise a ProviderError for a 2xx that carries an error (an envelope's code):
    it is retried, or not, like an HTTP status.
    Pass request bodies as bytes/dicts, not file objects: a retry sends them again."""
    client = client_for(provider)
    headers = dict(kwargs.pop("headers", None) or {})
    if auth and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {provider.api_key}"
    secrets = secrets_of(provider)
    name = getattr(provider, "name", None)

    async def attempt_once() -> httpx.Response:
        if create:
            await provider.limiter.pace()
            calls.current().proceed()  # a build that is stopping sends no create, not even a retry
        try:
            resp = await client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise transport_error(exc, idempotent=idempotent, provider=name, secrets=secrets) from exc
        if 200 <= resp.status_code < 300:
            if check is not None:
                check(resp)
            return resp
        raise status_error(resp, idempotent=idempotent, provider=name, secrets=secrets, error_parser=error_parser)

    return await _retrying(provider, attempt_once, f"{method} {_path_of(url)}")


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

MAX_RESULT_BYTES = 50 * 2**20  # one result image, downloaded or inline base64


def _same_origin(provider: Any, url: str) -> bool:
    a, b = urlsplit(url), urlsplit(provider.config.base_url or "")
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def download_hosts(provider: Any) -> list[str]:
    return list(getattr(provider.config, "download_hosts", None) or [])


async def download(provider: Any, url: str, *, max_bytes: int = MAX_RESULT_BYTES, max_redirects: int = 5) -> bytes:
    """Fetch a result URL at once (vendor URLs expire), under the download policy of
    providers.netpolicy: https to public addresses only, or an origin listed in the provider's
    `download_hosts`; every redirect hop is checked again. The key is sent only to the provider's
    own origin, never to a CDN. A GET: every transport failure is retried under the same policy as
    `send`. The whole call, download included, is bounded by `deadline_s` in `ImageProvider.run`."""
    hops = [0]

    async def attempt_once() -> bytes:
        return await _fetch(provider, url, max_bytes=max_bytes, max_redirects=max_redirects, hops=hops)

    return await _retrying(provider, attempt_once, "download")


async def _target(provider: Any, url: str, name: str | None, secrets: list[str]) -> netpolicy.Target:
    try:
        return await netpolicy.target_for(url, download_hosts(provider))
    except netpolicy.Refused as exc:
        raise ProtocolError(f"refusing to download a result from {redact(_where(url), secrets)!r}: {exc}"
                            " (a host the vendor serves results from can be listed in the provider's"
                            " download_hosts)", provider=name) from None
    except OSError as exc:
        raise RetryableError(f"cannot resolve the result host {redact(_where(url), secrets)!r}: "
                             f"{redact(str(exc), secrets)}", provider=name) from None


def _where(url: str) -> str:
    """scheme://host/path of a URL, for messages: never the query string (signed URLs carry
    tokens) nor credentials."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    except ValueError:
        return "a malformed URL"


async def _fetch(provider: Any, url: str, *, max_bytes: int, max_redirects: int, hops: list[int]) -> bytes:
    name = getattr(provider, "name", None)
    secrets = secrets_of(provider)
    client = client_for(provider)
    while True:
        target = await _target(provider, url, name, secrets)
        headers = dict(target.headers)
        if _same_origin(provider, url):
            headers["Authorization"] = f"Bearer {provider.api_key}"
        try:
            async with client.stream("GET", target.url, headers=headers, extensions=target.extensions) as resp:
                status = resp.status_code
                if status in REDIRECTS and resp.headers.get("location"):
                    hops[0] += 1
                    if hops[0] > max_redirects:
                        raise ProtocolError("too many redirects downloading the result", provider=name)
                    url = urljoin(url, resp.headers["location"])
                    continue
                if status in (403, 404, 410):
                    raise ProtocolError("result URL expired or missing", provider=name, status=status,
                                        request_id=request_id_from(resp))
                if 200 <= status < 300:
                    return await _read_limited(resp, max_bytes, name)
                await resp.aread()
                raise status_error(resp, idempotent=True, provider=name, secrets=secrets)
        except httpx.HTTPError as exc:
            err = transport_error(exc, idempotent=True, provider=name, secrets=secrets)
            raise type(err)(f"download failed ({redact(transport_text(exc), secrets)})", provider=name) from exc


async def _read_limited(resp: httpx.Response, max_bytes: int, name: str | None) -> bytes:
    length = resp.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise ProtocolError(f"result is {int(length):,} bytes, over the {max_bytes:,} limit", provider=name)
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > max_bytes:
            raise ProtocolError(f"result exceeds the {max_bytes:,} byte limit", provider=name)
    if not buf:
        raise ProtocolError("result URL answered an empty body", provider=name, status=resp.status_code)
    return bytes(buf)


def decode_b64(s: str, max_bytes: int = MAX_RESULT_BYTES) -> bytes:
    """Bytes of a base64 string, with or without a `data:image/...;base64,` prefix; an inline
    image obeys the same size limit as a downloaded one."""
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
    if len(text) // 4 * 3 > max_bytes + 2:
        raise ProtocolError(f"inline image is about {len(text) // 4 * 3:,} bytes, over the {max_bytes:,} limit")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"image is not valid base64: {exc}") from exc


def dumps(obj: Any) -> str:
    """Compact JSON for request bodies and logs."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
