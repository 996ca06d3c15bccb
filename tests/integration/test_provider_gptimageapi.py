"""GptImageApiProvider against the gptimageapi.dev emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

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
    UnsupportedError,
)
from providers import pricing
from providers.gptimageapi import GptImageApiProvider
from tests.emulators.gptimageapi import GptImageApiEmulator
from tests.emulators.harness import key_id
from tests.helpers.images import image_size
from tests.helpers.providers import VENDORS, image_request, input_image, make_provider, run

KEY = VENDORS["gptimageapi"].key


def provider(emu, **kw) -> GptImageApiProvider:
    return make_provider("gptimageapi", emu, **kw)


def request(w=1024, h=1024, fmt="png", op="generate", **kw):
    return image_request(op, w, h, fmt, **{"prompt": "citrus soda bottle", **kw})


@pytest.fixture
def emu():
    with GptImageApiEmulator() as e:
        yield e


@pytest.mark.parametrize(
    "w,h,ratio",
    [(1024, 1024, "1:1"), (1536, 1024, "4:3"), (1024, 1536, "3:4"), (1920, 1080, "16:9"), (1080, 1920, "9:16"),
     (2048, 1024, "2:1"), (1024, 2048, "1:2"), (900, 2100, "9:21"), (2560, 1080, "21:9")],
)
def test_generate_asks_the_nearest_ratio_and_returns_exact_size(emu, w, h, ratio):
    res = run(provider(emu), request(w, h, quality="high", background="opaque"))
    assert image_size(res.data) == (w, h, "png")
    [post] = emu.requests("POST", "/v1/images/generate")
    assert post.json == {"prompt": "citrus soda bottle", "model": "gpt-image-2", "size": ratio, "quality": "high",
                         "n": 1, "background": "opaque"}
    assert post.key_id == key_id(KEY)
    assert res.vendor_size == ratio and res.request_id
    assert len(emu.requests("GET", "/files/")) == 1


def test_auto_quality_and_background_are_left_to_the_vendor(emu):
    run(provider(emu), request(quality="auto", background="auto"))
    body = emu.requests("POST")[0].json
    assert "quality" not in body and "background" not in body


@pytest.mark.parametrize("quality,credits", [("low", 2), ("medium", 6), ("high", 12)])
def test_cost_from_credits(emu, quality, credits):
    res = run(provider(emu), request(quality=quality))
    assert res.cost_usd == pytest.approx(credits * pricing.GPTIMAGEAPI_USD_PER_CREDIT)


def test_output_format_is_converted_locally(emu):
    res = run(provider(emu), request(1080, 1350, fmt="jpeg", compression=80))
    assert image_size(res.data) == (1080, 1350, "jpeg")


def test_ratio_option_overrides_the_list(emu):
    run(provider(emu, options={"ratios": ["1:1", "16:9"]}), request(1536, 1024))
    assert emu.requests("POST")[0].json["size"] == "16:9"


def test_b64_answers_are_accepted(emu):
    emu.inject("b64")
    assert image_size(run(provider(emu), request()).data) == (1024, 1024, "png")


def test_edit_is_unsupported_before_any_call(emu, tmp_path):
    img = input_image(tmp_path, "a.png", 64, 64)
    p = provider(emu)
    req = request(op="edit", images=(img,))
    assert p.capabilities().edit is False
    assert any("no edit endpoint" in x for x in p.problems(req))
    with pytest.raises(UnsupportedError):
        run(p, req)
    assert emu.log == []


@pytest.mark.parametrize(
    "fault,params,cls",
    [
        ("moderation", {}, ModerationBlocked),
        ("envelope_error", {"code": 1001, "message": "prompt too long"}, RejectedError),
        ("envelope_error", {"code": 402, "message": "insufficient credits"}, PaymentRequired),
        ("envelope_error", {"code": "E_BAD", "message": "odd"}, RejectedError),
        ("400", {"message": "invalid size"}, RejectedError),
        ("401", {}, AuthError),
        ("402", {"message": "insufficient credits"}, PaymentRequired),
        ("404", {}, RejectedError),
        ("malformed_json", {}, AmbiguousError),  # a 200 we cannot read may have been billed
        ("empty", {}, AmbiguousError),  # a 200 we cannot read may have been billed
        ("truncated_image", {}, ProtocolError),
        ("not_image", {}, ProtocolError),
        ("expired_url", {}, AmbiguousError),  # a 200 we cannot read may have been billed
        ("no_images", {}, AmbiguousError),  # a 200 we cannot read may have been billed
    ],
)
def test_error_classes(emu, fault, params, cls):
    emu.inject(fault, **params)
    with pytest.raises(cls) as info:
        run(provider(emu), request())
    assert type(info.value) is cls and info.value.provider == "gptimageapi"
    if "message" in params:
        assert params["message"] in str(info.value)
    assert len(emu.requests("POST")) == 1


def test_envelope_message_is_the_error_text(emu):
    emu.inject("moderation")
    with pytest.raises(ModerationBlocked) as info:
        run(provider(emu), request())
    assert info.value.vendor_message == "prompt rejected by the content safety system"
    assert info.value.code == "1003" and info.value.request_id


def test_http_429_and_5xx_are_retried(emu):
    emu.inject("429", retry_after=0.01)
    emu.inject("502")
    res = run(provider(emu), request())
    assert res.width == 1024
    assert [r.fault for r in emu.requests("POST")] == ["429", "502", None]


def test_retryable_envelope_codes_are_retried_then_raised(emu):
    emu.inject("envelope_error", code=503, message="busy")
    assert run(provider(emu), request()).width == 1024
    assert len(emu.requests("POST")) == 2
    emu.inject("envelope_error", code=429, message="slow down", times=3)
    with pytest.raises(RateLimited):
        run(provider(emu, max_retries=2), request())
    assert len(emu.requests("POST")) == 2 + 3


def test_server_errors_exhausted(emu):
    emu.inject("500", times=3)
    with pytest.raises(RetryableError):
        run(provider(emu, max_retries=2), request())


def test_timeout_is_ambiguous_and_posted_once(emu):
    emu.inject("timeout", seconds=1.0)
    with pytest.raises(AmbiguousError):
        run(provider(emu, timeout_s=0.25), request())
    time.sleep(0.1)
    assert len(emu.requests("POST")) == 1


def test_concurrency_limit_is_respected():
    with GptImageApiEmulator(latency=0.05, limit=3) as e:
        p = provider(e, max_concurrency=3, max_retries=0)

        async def body():
            try:
                return await asyncio.gather(*(p.run(request(prompt=f"soda {i}")) for i in range(12)))
            finally:
                await p.aclose()

        assert len(asyncio.run(body())) == 12
        s = e.stats(KEY)
        assert s.peak <= 3 and s.rejected == 0 and s.total == 12


@pytest.mark.parametrize("fault", ["moderation", "401", "500", "envelope_error", "malformed_json", "timeout",
                                   "expired_url"])
def test_the_key_never_leaks(emu, fault):
    emu.inject(fault, times=4, seconds=0.5, message=f"bad key {KEY}", code=1001)
    with pytest.raises(ProviderError) as info:
        run(provider(emu, timeout_s=0.2), request())
    err = info.value
    for text in (str(err), repr(err), err.vendor_message or "", err.code or "", str(err.__cause__ or "")):
        assert KEY not in text
    assert KEY not in emu.log_text()
