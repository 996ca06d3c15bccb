"""The retry policy, as small pure functions and one loop (after openai-python's
`_should_retry` / `_calculate_retry_timeout` / `_parse_retry_after_header`).

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
    any other non-2xx                                                        -> not retried

408 is retried: the server says it gave up *waiting for our request*, so it never processed it.
409 is not: RunAPI uses it for "same Idempotency-Key, different body", which no retry can fix.
Which of these an answer is, is decided in `providers.answers`; this module only decides whether
and when to try again, from `ProviderError.retryable` and `retry_after`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from typing import Awaitable, Callable, Mapping, TypeVar

from providers.errors import ProviderError, RateLimited

log = logging.getLogger("assetpipe.http")

T = TypeVar("T")
RETRY_AFTER_CEILING_S = 120.0


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


def retry_delay(attempt: int, err: ProviderError, *, base: float) -> float:
    """The wait before retrying `err`; a RateLimited that carries err's details when the vendor
    asks for more than the ceiling."""
    try:
        return backoff_delay(attempt, getattr(err, "retry_after", None), base=base)
    except RateLimited as too_long:
        raise RateLimited(
            str(too_long), retry_after=too_long.retry_after, provider=err.provider, status=err.status,
            request_id=err.request_id, vendor_message=err.vendor_message, code=err.code,
        ) from err


async def with_retries(attempt_once: Callable[[], Awaitable[T]], *, max_retries: int, base: float,
                       what: str) -> T:
    """Run `attempt_once` until it returns, retrying the ProviderErrors that say `retryable`, at
    most `max_retries` times. `what` names the call in the log (never a query string)."""
    attempt = 0
    while True:
        try:
            return await attempt_once()
        except ProviderError as err:
            if not err.retryable or attempt >= max_retries:
                raise
            delay = retry_delay(attempt, err, base=base)
            log.info("%s: %s; retry %d/%d in %.2f s", what, err, attempt + 1, max_retries, delay)
            await asyncio.sleep(delay)
            attempt += 1
