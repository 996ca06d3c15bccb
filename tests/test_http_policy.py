"""The shared HTTP layer: the pure retry policy as tables, then send/poll/download against a real
loopback server (tests/emulators/harness.py)."""

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
    ProviderError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from providers import http
from providers.base import Capabilities, ImageProvider, ProviderConfig
from tests.emulators.harness import Emulator, Reply, json_reply, key_id, make_png

KEY = "sk-test-SECRET-5f2b9c0e71d4"


class EchoEmulator(Emulator):
    name = "echo"

    def authorized(self, req):
        return req.path.startswith("/public") or super().authorized(req)

    def handle(self, req):
        if req.path == "/redirect":
            return Reply(302, b"", {"location": req.query["to"][0]})
        if req.path == "/big":
            return Reply(200, b"x" * 5000, content_type="image/png")
        if req.path == "/leak":
            return json_reply({"error": {"message": f"bad key {req.key} (Bearer {req.key})"}}, 400)
        return json_reply({"ok": True, "path": req.path}, 200, {"x-request-id": "req_echo"})


class Stub(ImageProvider):
    type_name = "stub"

    def capabilities(self):
        return Capabilities()

    def estimate_cost(self, req):
        return 0.0

    async def _generate(self, req):  # pragma: no cover - never called here
        raise NotImplementedError


def stub(base_url: str, **cfg) -> Stub:
    cfg.setdefault("max_retries", 3)
    cfg.setdefault("timeout_s", 0.3)
    options = {"retry_base_s": 0.005, **cfg.pop("options", {})}
    config = ProviderConfig(type="stub", base_url=base_url, api_key_env="STUB_KEY", options=options, **cfg)
    return Stub("stubby", config, env={"STUB_KEY": KEY})


@pytest.fixture
def emu():
    with EchoEmulator() as e:
        yield e


def run(coro_fn):
    """Run an async test body with the provider's client closed at the end."""
    return asyncio.run(coro_fn())


async def _send(p, path="/x", method="POST", **kw):
    kw.setdefault("idempotent", False)
    try:
        return await http.send(p, method, p.config.base_url + path, json={"a": 1} if method == "POST" else None, **kw)
    finally:
        await p.aclose()


# -- pure policy -----------------------------------------------------------------------------------

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


def test_the_provider_owns_its_client_and_renews_it_per_loop(emu):
    p = stub(emu.base_url)

    async def first():
        c = p.http.get()
        assert p.http.get() is c and p.http.owns
        return c

    c1 = asyncio.run(first())
    c2 = asyncio.run(first())  # a new event loop: the old pooled client is not reused
    assert c1 is not c2

    async def close():
        c = p.http.get()
        await p.aclose()
        assert c.is_closed

    asyncio.run(close())


def test_injected_client_is_used_and_not_closed(emu):
    async def body():
        async with httpx.AsyncClient() as client:
            p = Stub("s", ProviderConfig(type="stub", base_url=emu.base_url, api_key_env="K"), client=client,
                     env={"K": KEY})
            r = await http.send(p, "GET", emu.base_url + "/x", idempotent=True)
            assert r.json()["ok"]
            await p.aclose()
            assert not client.is_closed

    run(body)


# -- send ------------------------------------------------------------------------------------------

def test_send_carries_the_bearer_key_and_returns_2xx(emu):
    r = run(lambda: _send(stub(emu.base_url)))
    assert r.status_code == 200 and r.json() == {"ok": True, "path": "/x"}
    [logged] = emu.requests("POST")
    assert logged.key_id == key_id(KEY)
    assert "authorization" not in logged.headers and logged.json == {"a": 1}


def test_send_without_auth_sends_no_key(emu):
    run(lambda: _send(stub(emu.base_url), path="/public/schema", method="GET", idempotent=True, auth=False))
    assert emu.log[-1].key_id == "anonymous"


def test_missing_key_is_an_auth_error_before_any_request(emu):
    p = Stub("s", ProviderConfig(type="stub", base_url=emu.base_url, api_key_env="NOPE_KEY"), env={})
    with pytest.raises(AuthError, match="NOPE_KEY"):
        run(lambda: _send(p))
    assert emu.log == []


def test_429_is_retried_honouring_retry_after(emu):
    emu.inject("429", retry_after_ms=150)
    t0 = time.monotonic()
    r = run(lambda: _send(stub(emu.base_url)))
    assert r.status_code == 200
    assert time.monotonic() - t0 >= 0.15
    assert [x.fault for x in emu.requests("POST")] == ["429", None]


def test_retry_after_http_date_is_honoured(emu):
    emu.inject("429", retry_after_date=email.utils.formatdate(time.time() + 2, usegmt=True))
    t0 = time.monotonic()
    run(lambda: _send(stub(emu.base_url)))
    assert 0.9 <= time.monotonic() - t0 < 5  # the date has one-second resolution
    assert len(emu.requests("POST")) == 2


def test_5xx_retried_then_succeeds(emu):
    emu.inject("500")
    emu.inject("503", retry_after=0.01)
    emu.inject("408")
    assert run(lambda: _send(stub(emu.base_url))).status_code == 200
    assert [x.fault for x in emu.requests("POST")] == ["500", "503", "408", None]


@pytest.mark.parametrize("kind,cls", [("429", RateLimited), ("500", RetryableError), ("502", RetryableError)])
def test_retries_exhausted(emu, kind, cls):
    emu.inject(kind, times=3, retry_after=0.001)
    with pytest.raises(cls) as info:
        run(lambda: _send(stub(emu.base_url, max_retries=2)))
    assert len(emu.requests("POST")) == 3  # the first try and max_retries more
    assert info.value.status == int(kind)
    assert emu.pending_faults() == []


def test_retry_after_above_ceiling_is_not_waited_for(emu):
    emu.inject("429", retry_after=121)
    t0 = time.monotonic()
    with pytest.raises(RateLimited) as info:
        run(lambda: _send(stub(emu.base_url)))
    assert time.monotonic() - t0 < 2
    assert info.value.retry_after == 121 and info.value.provider == "stubby" and info.value.status == 429
    assert len(emu.requests("POST")) == 1


@pytest.mark.parametrize("kind", ["400", "401", "402", "404", "409", "422"])
def test_client_errors_are_not_retried(emu, kind):
    emu.inject(kind)
    with pytest.raises(ProviderError) as info:
        run(lambda: _send(stub(emu.base_url)))
    assert not info.value.retryable
    assert len(emu.requests("POST")) == 1


def test_read_timeout_after_sending_a_post_is_ambiguous_and_never_resent(emu):
    emu.inject("timeout", seconds=0.8)
    with pytest.raises(AmbiguousError) as info:
        run(lambda: _send(stub(emu.base_url, timeout_s=0.2)))
    assert info.value.maybe_billed
    assert "may have been billed" in str(info.value)
    time.sleep(0.1)
    assert len(emu.requests("POST")) == 1


def test_disconnect_after_sending_a_post_is_ambiguous(emu):
    emu.inject("disconnect")
    with pytest.raises(AmbiguousError):
        run(lambda: _send(stub(emu.base_url)))
    assert len(emu.requests("POST")) == 1


def test_gateway_timeout_on_a_post_is_ambiguous(emu):
    emu.inject("504")
    with pytest.raises(AmbiguousError):
        run(lambda: _send(stub(emu.base_url)))
    assert len(emu.requests("POST")) == 1


@pytest.mark.parametrize("kind", ["timeout", "disconnect", "504"])
def test_idempotent_calls_are_retried_after_sending(emu, kind):
    emu.inject(kind, seconds=0.6)
    r = run(lambda: _send(stub(emu.base_url, timeout_s=0.2), path="/job/1", method="GET", idempotent=True))
    assert r.status_code == 200
    assert len(emu.requests("GET", "/job/1")) == 2


def test_idempotent_post_with_key_is_retried_after_timeout(emu):
    emu.inject("timeout", seconds=0.6)
    r = run(lambda: _send(stub(emu.base_url, timeout_s=0.2), idempotent=True, headers={"Idempotency-Key": "k1"}))
    assert r.status_code == 200
    posts = emu.requests("POST")
    assert len(posts) == 2 and {p.headers["idempotency-key"] for p in posts} == {"k1"}


def test_connection_refused_is_retried_then_retryable_error():
    with Emulator() as gone:
        base = gone.base_url
    p = stub(base, max_retries=2)
    t0 = time.monotonic()
    with pytest.raises(RetryableError) as info:
        run(lambda: _send(p))
    assert "could not reach" in str(info.value)
    assert time.monotonic() - t0 < 2


def test_create_requests_are_paced(emu):
    p = stub(emu.base_url, requests_per_minute=600)  # one create per 0.1 s

    async def body():
        try:
            for _ in range(3):
                await http.send(p, "POST", emu.base_url + "/c", idempotent=False, create=True, json={})
        finally:
            await p.aclose()

    t0 = time.monotonic()
    run(body)
    assert time.monotonic() - t0 >= 0.2
    at = [r.at for r in emu.requests("POST")]
    assert at[2] - at[0] >= 0.15  # server-side clock: allow scheduling slack


def test_json_body_rejects_malformed_json(emu):
    emu.inject("malformed_json")
    p = stub(emu.base_url)
    r = run(lambda: _send(p))
    with pytest.raises(ProtocolError, match="expected JSON"):
        http.json_body(r, p)


def test_vendor_echo_of_the_key_is_redacted(emu):
    with pytest.raises(RejectedError) as info:
        run(lambda: _send(stub(emu.base_url), path="/leak"))
    text = f"{info.value} {info.value.vendor_message} {info.value!r}"
    assert KEY not in text and "***" in text
    assert KEY not in emu.log_text()


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


# -- download ----------------------------------------------------------------------------------------

def _download(p, url, **kw):
    async def body():
        try:
            return await http.download(p, url, **kw)
        finally:
            await p.aclose()

    return asyncio.run(body())


def test_download_from_own_origin(emu):
    png = make_png(64, 32)
    url = emu.put_file(png)
    assert _download(stub(emu.base_url + "/v1"), url) == png
    [get] = emu.requests("GET", "/files/")
    assert get.key_id == key_id(KEY)  # the key goes to the vendor's own origin only


def test_download_expired_url(emu):
    url = emu.put_file(make_png(16, 16))
    emu.expire(url)
    with pytest.raises(ProtocolError, match="expired or missing"):
        _download(stub(emu.base_url), url)


@pytest.mark.parametrize("url", ["http://example.invalid/img.png", "ftp://x/y.png", "file:///etc/passwd",
                                 "/relative.png"])
def test_download_refuses_non_https_foreign_urls(emu, url):
    with pytest.raises(ProtocolError, match="non-https"):
        _download(stub(emu.base_url), url)


def test_download_checks_every_redirect_hop(emu):
    with EchoEmulator() as other:
        foreign = other.put_file(make_png(16, 16))
        url = f"{emu.origin}/redirect?to={foreign}"
        with pytest.raises(ProtocolError, match="non-https"):
            _download(stub(emu.base_url), url)
        assert other.requests("GET") == []
    local = emu.put_file(make_png(16, 16))
    assert _download(stub(emu.base_url), f"{emu.origin}/redirect?to={local}") == make_png(16, 16)


def test_download_size_limit(emu):
    with pytest.raises(ProtocolError, match="limit"):
        _download(stub(emu.base_url), emu.origin + "/big", max_bytes=1000)
    assert len(_download(stub(emu.base_url), emu.origin + "/big", max_bytes=5000)) == 5000


def test_download_retries_server_errors(emu):
    url = emu.put_file(make_png(16, 16))
    emu.inject("503", on="/img")
    emu.inject("timeout", on="/img", seconds=0.5)
    p = stub(emu.base_url, timeout_s=0.2)
    out = _download(p, emu.origin + "/img")
    assert out == b'{"ok": true, "path": "/img"}'
    assert [r.fault for r in emu.requests("GET", "/img")] == ["503", "timeout", None]
    assert _download(stub(emu.base_url), url) == make_png(16, 16)
