"""The shared HTTP layer's pure policy, as tables: Retry-After parsing, which statuses are retried,
backoff, redaction of secrets, errors from responses, base64, the client's settings, polling with a
fake fetch. Against a real loopback server: tests/integration/test_http_policy.py."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from pipelines.errors import (
    AmbiguousError,
    AuthError,
    ModerationBlocked,
    PaymentRequired,
    ProtocolError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from providers import http
from providers.base import ProviderConfig

KEY = "sk-test-SECRET-5f2b9c0e71d4"


NOW = 1_700_000_000.0


IN_10S = email.utils.formatdate(NOW + 10, usegmt=True)


AGO_10S = email.utils.formatdate(NOW - 10, usegmt=True)


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "20", "retry-after": "9"}, 0.02),  # ms is the more precise: it wins
        ({"retry-after-ms": "junk", "retry-after": "4"}, 4.0),
        ({"retry-after": IN_10S}, 10.0),
        ({"retry-after": AGO_10S}, -10.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert http.parse_retry_after(headers, now=NOW) == expected
    assert http.parse_retry_after(httpx.Headers(headers), now=NOW) == expected


@pytest.mark.parametrize(
    "status,retry",
    [(200, False), (400, False), (401, False), (402, False), (403, False), (404, False), (408, True),
     (409, False), (413, False), (422, False), (429, True), (500, True), (502, True), (503, True),
     (504, True), (599, True)],
)
def test_should_retry_status(status, retry):
    assert http.should_retry_status(status) is retry


@pytest.mark.parametrize(
    "attempt,retry_after,rand,expected",
    [
        (0, None, 0.0, 0.5),
        (1, None, 0.0, 1.0),
        (3, None, 0.0, 4.0),
        (6, None, 0.0, 30.0),  # capped
        (20, None, 0.0, 30.0),
        (0, None, 1.0, 0.375),  # at most 25 % jitter, always downwards
        (2, None, 0.5, 2.0 * 0.875),
        (0, 0.0, 0.9, 0.0),  # "retry now" is honoured
        (0, 2.0, 0.9, 2.0),  # Retry-After is exact, no jitter
        (5, 60.0, 0.9, 60.0),  # above the exponential cap but below the ceiling: honoured
        (0, 120.0, 0.9, 120.0),  # the ceiling itself is honoured
        (1, -10.0, 0.0, 1.0),  # a date in the past: plain backoff
    ],
)
def test_backoff_delay(attempt, retry_after, rand, expected):
    assert http.backoff_delay(attempt, retry_after, rand=lambda: rand) == pytest.approx(expected)


@pytest.mark.parametrize("retry_after", [120.001, 121.0, 3600.0])
def test_backoff_refuses_to_wait_past_the_ceiling(retry_after):
    with pytest.raises(RateLimited) as info:
        http.backoff_delay(0, retry_after)
    assert info.value.retry_after == retry_after


@pytest.mark.parametrize("ms,waits", [("120000", True), ("121000", False)])
def test_retry_after_header_boundary(ms, waits):
    ra = http.parse_retry_after({"retry-after-ms": ms})
    if waits:
        assert http.backoff_delay(0, ra) == 120.0
    else:
        with pytest.raises(RateLimited):
            http.backoff_delay(0, ra)


@pytest.mark.parametrize(
    "text,secrets,expected",
    [
        ("key sk-abc123 was wrong", ["sk-abc123"], "key *** was wrong"),
        ("Authorization: Bearer sk-zzz9", [], "Authorization: Bearer ***"),
        ("nothing here", ["sk-abc123"], "nothing here"),
        ("a sk-abc123 b sk-abc123", ["sk-abc123", None, ""], "a *** b ***"),
        ("short ab", ["ab"], "short ab"),  # 1-3 char "secrets" would shred every message
        ("sk-long-key and sk-long", ["sk-long", "sk-long-key"], "*** and ***"),  # longest first
    ],
)
def test_redact(text, secrets, expected):
    assert http.redact(text, secrets) == expected


def _resp(status, body=None, headers=None, text=None):
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    "response,cls,message,code,rid",
    [
        (_resp(400, {"error": {"message": "bad size", "type": "invalid_request_error", "param": "size",
                               "code": "invalid_value"}}, {"x-request-id": "req_1"}),
         RejectedError, "bad size", "invalid_value", "req_1"),
        (_resp(400, {"error": {"message": "Your request was rejected by the safety system", "type": "x",
                               "code": None}}), ModerationBlocked, "safety system", "x", None),
        (_resp(400, {"error": {"message": "no", "code": "moderation_blocked"}}), ModerationBlocked, "no",
         "moderation_blocked", None),
        (_resp(422, {"detail": [{"msg": "field required", "loc": ["prompt"]}]}), RejectedError, "field required",
         None, None),
        (_resp(404, {"error": "model not found"}, {"request-id": "r2"}), RejectedError, "model not found", None, "r2"),
        (_resp(409, {"message": "idempotency key reused"}, {"x-runapi-task-id": "t9"}), RejectedError,
         "idempotency key reused", None, "t9"),
        (_resp(413, {"errors": ["too big"]}), RejectedError, "too big", None, None),
        (_resp(401, {"error": {"message": "Incorrect API key"}}), AuthError, "Incorrect API key", None, None),
        (_resp(403, {"error": "forbidden"}), AuthError, "forbidden", None, None),
        (_resp(402, {"error": "insufficient credits"}), PaymentRequired, "insufficient credits", None, None),
        (_resp(429, {"error": {"message": "slow down"}}, {"retry-after": "7"}), RateLimited, "slow down", None, None),
        (_resp(503, text="<html><body>Service Unavailable</body></html>"), RetryableError, "Service Unavailable",
         None, None),
        (_resp(418, {"message": "teapot"}), ProtocolError, "teapot", None, None),
        (_resp(400, {"code": 1001, "message": "bad ratio", "request_id": "g1"}), RejectedError, "bad ratio", "1001",
         "g1"),
        (_resp(500, text=""), RetryableError, "HTTP 500 with no message", None, None),
    ],
)
def test_error_from_response(response, cls, message, code, rid):
    err = http.error_from_response("prov", response)
    assert type(err) is cls
    assert message in str(err)
    assert err.code == code
    assert err.request_id == rid
    assert err.status == response.status_code
    assert err.provider == "prov"
    if cls is RateLimited:
        assert err.retry_after == 7.0


def test_error_from_response_redacts_and_truncates():
    resp = _resp(400, {"error": {"message": f"key {KEY} " + "x" * 2000, "code": KEY}})
    err = http.error_from_response("p", resp, secrets=[KEY])
    assert KEY not in str(err) and KEY not in (err.vendor_message or "") and KEY not in (err.code or "")
    assert len(err.vendor_message) <= http.MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    "text,expected",
    [
        ("aGVsbG8=", b"hello"),
        ("aGVsbG8", b"hello"),  # missing padding
        ("data:image/png;base64,aGVsbG8=", b"hello"),
        ("  aGVs\nbG8=\n", b"hello"),
    ],
)
def test_decode_b64(text, expected):
    assert http.decode_b64(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "!!!!", "data:image/png,aGVsbG8=", "aGVsb*G8="])
def test_decode_b64_rejects(text):
    with pytest.raises(ProtocolError):
        http.decode_b64(text)


# -- clients -----------------------------------------------------------------------------------------

def test_make_client_ignores_env_proxies_and_uses_config_timeouts(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    config = ProviderConfig(type="stub", timeout_s=12.5, max_concurrency=7)
    client = http.make_client(config)
    try:
        assert client.timeout.read == 12.5 and client.timeout.connect == 12.5
        assert client._transport._pool._max_connections >= 7
        assert not client._mounts  # trust_env=False: no proxy mounts from the environment
        assert client.follow_redirects is False
    finally:
        asyncio.run(client.aclose())


# -- poll ------------------------------------------------------------------------------------------

def test_poll_until_done_with_growing_interval():
    calls: list[float] = []

    async def fetch():
        calls.append(time.monotonic())
        return len(calls)

    result = asyncio.run(http.poll(fetch, lambda n: n >= 4, interval=0.02, deadline=5, max_interval=0.04))
    assert result == 4
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert gaps[0] >= 0.018 and gaps[1] >= 0.028  # 0.02, then x1.5
    assert gaps[2] < 0.2  # capped at max_interval (with slack for a busy machine)


def test_poll_past_deadline_is_ambiguous_naming_the_job():
    async def fetch():
        return {"status": "processing"}

    t0 = time.monotonic()
    with pytest.raises(AmbiguousError) as info:
        asyncio.run(http.poll(fetch, lambda b: False, interval=0.01, deadline=0.1, what="prediction abc-123",
                              provider="each"))
    assert 0.1 <= time.monotonic() - t0 < 1.0
    assert "prediction abc-123" in str(info.value) and info.value.provider == "each"


def test_poll_propagates_fetch_errors():
    async def fetch():
        raise RejectedError("gone")

    with pytest.raises(RejectedError):
        asyncio.run(http.poll(fetch, lambda b: True, interval=0.01, deadline=1))
