"""The shared HTTP layer against a real loopback server (tests/emulators/harness.py): clients, send
with its retries, download. The pure retry policy, as tables: tests/unit/test_http_policy.py."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from pipelines.errors import (
    AmbiguousError,
    AuthError,
    ProtocolError,
    ProviderError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from providers import http
from providers.base import Capabilities, ImageProvider, ProviderConfig
from tests.emulators.harness import Emulator, Reply, json_reply, key_id
from tests.helpers.images import make_png

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


# -- clients -----------------------------------------------------------------------------------------


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


# -- download ----------------------------------------------------------------------------------------

def _download(p, url, **kw):
    async def body():
        try:
            return await http.download(p, url, **kw)
        finally:
            await p.aclose()

    return asyncio.run(body())


def test_download_from_a_listed_origin_sends_the_key_to_the_vendor_origin_only(emu):
    png = make_png(64, 32)
    url = emu.put_file(png)
    assert _download(stub(emu.base_url + "/v1", download_hosts=emu.download_hosts), url) == png
    [get] = emu.requests("GET", "/files/")
    assert get.key_id == key_id(KEY)  # the key goes to the vendor's own origin only


def test_download_expired_url(emu):
    url = emu.put_file(make_png(16, 16))
    emu.expire(url)
    with pytest.raises(ProtocolError, match="expired or missing"):
        _download(stub(emu.base_url, download_hosts=emu.download_hosts), url)


@pytest.mark.parametrize("url", ["http://example.invalid/img.png", "ftp://x/y.png", "file:///etc/passwd",
                                 "/relative.png"])
def test_download_refuses_non_https_foreign_urls(emu, url):
    with pytest.raises(ProtocolError, match="refusing to download"):
        _download(stub(emu.base_url, download_hosts=emu.download_hosts), url)


def test_download_checks_every_redirect_hop(emu):
    with EchoEmulator() as other:
        foreign = other.put_file(make_png(16, 16))
        url = f"{emu.origin}/redirect?to={foreign}"
        with pytest.raises(ProtocolError, match="refusing to download"):
            _download(stub(emu.base_url, download_hosts=emu.download_hosts), url)
        assert other.requests("GET") == []
    local = emu.put_file(make_png(16, 16))
    assert _download(stub(emu.base_url, download_hosts=emu.download_hosts), f"{emu.origin}/redirect?to={local}") == make_png(16, 16)


def test_download_size_limit(emu):
    with pytest.raises(ProtocolError, match="limit"):
        _download(stub(emu.base_url, download_hosts=emu.download_hosts), emu.origin + "/big", max_bytes=1000)
    assert len(_download(stub(emu.base_url, download_hosts=emu.download_hosts), emu.origin + "/big", max_bytes=5000)) == 5000


def test_download_retries_server_errors(emu):
    url = emu.put_file(make_png(16, 16))
    emu.inject("503", on="/img")
    emu.inject("timeout", on="/img", seconds=0.5)
    p = stub(emu.base_url, timeout_s=0.2, download_hosts=emu.download_hosts)
    out = _download(p, emu.origin + "/img")
    assert out == b'{"ok": true, "path": "/img"}'
    assert [r.fault for r in emu.requests("GET", "/img")] == ["503", "timeout", None]
    assert _download(stub(emu.base_url, download_hosts=emu.download_hosts), url) == make_png(16, 16)
