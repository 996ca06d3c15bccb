"""OpenAIProvider against the OpenAI-compatible emulator (tests/emulators/openai.py) on 127.0.0.1."""

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
)
from providers import pricing
from providers.base import ProviderConfig
from providers.openai_compat import OpenAIProvider, vendor_size
from tests.emulators.harness import key_id
from tests.emulators.openai import OpenAIEmulator
from tests.helpers.images import image_size, make_image
from tests.helpers.paths import ROOT
from tests.helpers.providers import VENDORS, image_request, input_image, make_provider, run

KEY = VENDORS["openai"].key
ENV = VENDORS["openai"].env
request = image_request  # a ceramic mug, 1024x1024 png


def provider(emu: OpenAIEmulator, name: str = "openai", **kw) -> OpenAIProvider:
    return make_provider("openai", emu, name=name, **kw)


@pytest.fixture
def emu():
    with OpenAIEmulator() as e:
        yield e


# -- generate ----------------------------------------------------------------------------------------

def test_generate_sends_the_documented_fields_and_returns_exact_size(emu):
    res = run(provider(emu), request(w=1536, h=1024, quality="high", background="opaque"))
    assert (res.width, res.height, res.output_format) == (1536, 1024, "png")
    assert image_size(res.data) == (1536, 1024, "png")
    [post] = emu.requests("POST", "/v1/images/generations")
    assert post.json == {"model": "gpt-image-2", "prompt": "a ceramic mug", "size": "1536x1024", "quality": "high",
                         "background": "opaque", "output_format": "png"}
    assert post.key_id == key_id(KEY)
    assert res.request_id and res.request_id.startswith("req_")
    assert res.vendor_size == "1536x1024" and res.provider == "openai" and res.model == "gpt-image-2"


def test_cost_comes_from_usage(emu):
    res = run(provider(emu), request(quality="low"))
    assert res.usage and res.usage["output_tokens"] == 272
    assert res.cost_usd == pytest.approx(pricing.cost_from_usage(res.usage))
    assert res.cost_usd == pytest.approx((len("a ceramic mug") // 4 * 5 + 272 * 30) / 1e6)


@pytest.mark.parametrize("w,h", [(1080, 1920), (1000, 1000), (4000, 1000), (300, 200)])
def test_invalid_sizes_ask_nearest_valid_then_conform(emu, w, h):
    res = run(provider(emu), request(w=w, h=h))
    assert image_size(res.data) == (w, h, "png")
    [post] = emu.requests("POST")
    assert post.json["size"] == vendor_size(w, h) != f"{w}x{h}"


def test_jpeg_with_compression(emu):
    res = run(provider(emu), request(fmt="jpeg", compression=70, w=1024, h=1536))
    assert image_size(res.data) == (1024, 1536, "jpeg")
    body = emu.requests("POST")[0].json
    assert body["output_format"] == "jpeg" and body["output_compression"] == 70


def test_compression_not_sent_for_png(emu):
    run(provider(emu), request(compression=70))
    assert "output_compression" not in emu.requests("POST")[0].json


def test_transparent_background_never_asks_jpeg(emu):
    res = run(provider(emu), request(fmt="jpeg", background="transparent"))
    assert emu.requests("POST")[0].json["output_format"] == "png"
    assert image_size(res.data)[2] == "jpeg"


def test_modelverse_formats_option_asks_png_for_webp_and_converts():
    with OpenAIEmulator(style="modelverse") as mv:
        p = provider(mv, "modelverse", options={"formats": ["png", "jpeg"]})
        assert p.capabilities().formats == ("png", "jpeg")
        res = run(p, request(fmt="webp"))
        assert image_size(res.data) == (1024, 1024, "webp")
        assert mv.requests("POST")[0].json["output_format"] == "png"
        assert res.request_id is None  # modelverse sends no x-request-id on success


def test_without_formats_option_webp_is_refused_by_modelverse():
    """Why `options.formats` exists: the host answers 400 for webp."""
    with OpenAIEmulator(style="modelverse") as mv:
        with pytest.raises(RejectedError, match="output_format|Supported"):
            run(provider(mv, "modelverse"), request(fmt="webp"))


def test_modelverse_request_id_is_taken_from_error_param():
    with OpenAIEmulator(style="modelverse") as mv:
        mv.inject("moderation")
        with pytest.raises(ModerationBlocked) as info:
            run(provider(mv, "modelverse"), request())
        assert info.value.request_id and info.value.request_id.startswith("req_")
        assert info.value.code == "moderation_blocked"


@pytest.mark.parametrize("style_or_fault", ["style:url", "style:data_prefix", "fault:url", "fault:b64_prefix"])
def test_url_and_data_prefix_answers(style_or_fault):
    kind, _, value = style_or_fault.partition(":")
    with OpenAIEmulator(style=value if kind == "style" else "openai") as e:
        if kind == "fault":
            e.inject(value)
        res = run(provider(e), request(w=1024, h=1536))
        assert image_size(res.data) == (1024, 1536, "png")
        if "url" in value:
            assert len(e.requests("GET", "/files/")) == 1


def test_exact_bytes_are_kept_when_they_already_match(emu):
    res = run(provider(emu), request(w=1024, h=1024))
    assert res.data == make_image(1024, 1024, "png")


# -- edit --------------------------------------------------------------------------------------------

def test_edit_one_image_with_mask_and_fidelity(emu, tmp_path):
    img = input_image(tmp_path, "mug.png", 1024, 1024)
    mask = input_image(tmp_path, "mask.png", 1024, 1024)
    res = run(provider(emu), request("edit", images=(img,), mask=mask, fidelity="high", quality="medium",
                                     prompt="sunlit loft"))
    assert image_size(res.data) == (1024, 1024, "png")
    [post] = emu.requests("POST", "/v1/images/edits")
    assert post.form == {"model": ["gpt-image-2"], "prompt": ["sunlit loft"], "size": ["1024x1024"],
                         "quality": ["medium"], "output_format": ["png"], "input_fidelity": ["high"]}
    assert [f["filename"] for f in post.files["image"]] == ["mug.png"]
    assert post.files["image"][0]["sha256"] == img.digest
    assert post.files["mask"][0]["sha256"] == mask.digest and post.files["mask"][0]["content_type"] == "image/png"
    assert "image[]" not in post.files
    assert res.usage["input_tokens_details"]["image_tokens"] == 1600


def test_edit_several_images_repeat_image_brackets(emu, tmp_path):
    imgs = (input_image(tmp_path, "a.png", 1024, 1024), input_image(tmp_path, "b.jpg", 1024, 1536, "jpeg"),
            input_image(tmp_path, "c.png", 800, 800))
    res = run(provider(emu), request("edit", w=1080, h=1080, fmt="jpeg", images=imgs))
    assert image_size(res.data) == (1080, 1080, "jpeg")
    [post] = emu.requests("POST", "/v1/images/edits")
    parts = post.files["image[]"]
    assert [p["filename"] for p in parts] == ["a.png", "b.jpg", "c.png"]
    assert [p["content_type"] for p in parts] == ["image/png", "image/jpeg", "image/png"]
    assert [p["sha256"] for p in parts] == [i.digest for i in imgs]
    assert "image" not in post.files and "mask" not in post.files
    assert post.form["size"] == [vendor_size(1080, 1080)]


def test_edit_mask_of_another_size_is_rejected(emu, tmp_path):
    img = input_image(tmp_path, "a.png", 1024, 1024)
    mask = input_image(tmp_path, "m.png", 512, 512)
    with pytest.raises(RejectedError, match="same size"):
        run(provider(emu), request("edit", images=(img,), mask=mask))


# -- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fault,cls,posts",
    [
        ("moderation", ModerationBlocked, 1),
        ("invalid_size", RejectedError, 1),
        ("400", RejectedError, 1),
        ("401", AuthError, 1),
        ("403", AuthError, 1),
        ("402", PaymentRequired, 1),
        ("404", RejectedError, 1),
        ("413", RejectedError, 1),
        ("malformed_json", AmbiguousError, 1),  # a 200 we cannot read may have been billed
        ("empty", AmbiguousError, 1),  # a 200 we cannot read may have been billed
        ("truncated_image", ProtocolError, 1),
        ("not_image", ProtocolError, 1),
        ("bad_b64", AmbiguousError, 1),  # a 200 we cannot read may have been billed
        ("no_data", AmbiguousError, 1),  # a 200 we cannot read may have been billed
        ("error_200", ProtocolError, 1),
        ("expired_url", AmbiguousError, 1),  # a 200 we cannot read may have been billed
    ],
)
def test_error_classes(emu, fault, cls, posts):
    emu.inject(fault)
    with pytest.raises(cls) as info:
        run(provider(emu), request())
    assert type(info.value) is cls
    assert info.value.provider == "openai"
    assert len(emu.requests("POST")) == posts


def test_wrong_key_is_an_auth_error():
    with OpenAIEmulator(keys={KEY}) as e:
        with pytest.raises(AuthError, match="Incorrect API key"):
            run(provider(e, key="sk-wrong-0000000000"), request())


def test_moderation_error_carries_vendor_text_and_request_id(emu):
    emu.inject("moderation")
    with pytest.raises(ModerationBlocked) as info:
        run(provider(emu), request())
    err = info.value
    assert "safety system" in err.vendor_message and err.status == 400
    assert err.request_id and err.request_id.startswith("req_")


def test_429_and_5xx_are_retried_honouring_retry_after(emu):
    emu.inject("429", retry_after_ms=30)
    emu.inject("500")
    emu.inject("503", retry_after=0.01)
    res = run(provider(emu, max_retries=3), request())
    assert image_size(res.data)[:2] == (1024, 1024)
    assert [r.fault for r in emu.requests("POST")] == ["429", "500", "503", None]


def test_429_exhausted_is_rate_limited(emu):
    emu.inject("429", retry_after=0.01, times=3)
    with pytest.raises(RateLimited):
        run(provider(emu, max_retries=2), request())
    assert len(emu.requests("POST")) == 3


def test_timeout_after_sending_is_ambiguous_and_posted_once(emu):
    emu.inject("timeout", seconds=1.0)
    t0 = time.monotonic()
    with pytest.raises(AmbiguousError) as info:
        run(provider(emu, timeout_s=0.25, max_retries=4), request())
    assert time.monotonic() - t0 < 1.0
    assert info.value.maybe_billed
    time.sleep(0.2)
    assert len(emu.requests("POST")) == 1  # never re-POSTed: a second POST could bill a second image


def test_edit_timeout_is_ambiguous_and_posted_once(emu, tmp_path):
    emu.inject("timeout", seconds=1.0)
    img = input_image(tmp_path, "a.png", 1024, 1024)
    with pytest.raises(AmbiguousError):
        run(provider(emu, timeout_s=0.25), request("edit", images=(img,)))
    assert len(emu.requests("POST", "/images/edits")) == 1


# -- limits ------------------------------------------------------------------------------------------

def test_thirty_concurrent_runs_never_exceed_max_concurrency():
    with OpenAIEmulator(latency=0.05, limit=3) as e:
        p = provider(e, max_concurrency=3, max_retries=0)

        async def body():
            try:
                return await asyncio.gather(*(p.run(request(prompt=f"mug {i}")) for i in range(30)))
            finally:
                await p.aclose()

        results = asyncio.run(body())
        assert len(results) == 30 and all(r.width == 1024 for r in results)
        stats = e.stats(KEY)
        assert stats.total == 30 and stats.rejected == 0
        assert 2 <= stats.peak <= 3  # the limit was used, and never exceeded
        assert p.limiter.peak_in_flight <= 3


def test_emulator_limit_answers_429_which_the_client_retries():
    with OpenAIEmulator(latency=0.05, limit=1, retry_after=0.02) as e:
        p = provider(e, max_concurrency=2, max_retries=10)

        async def body():
            try:
                return await asyncio.gather(*(p.run(request()) for _ in range(2)))
            finally:
                await p.aclose()

        assert len(asyncio.run(body())) == 2
        assert e.stats(KEY).peak == 1 and e.stats(KEY).rejected >= 1


# -- secrets -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["moderation", "401", "402", "429", "500", "malformed_json", "timeout",
                                   "truncated_image", "expired_url", "disconnect", "bad_b64"])
def test_the_key_never_leaks(emu, fault):
    emu.inject(fault, times=5, seconds=0.5, retry_after=0.001, message=f"key {KEY} rejected")
    with pytest.raises(ProviderError) as info:
        run(provider(emu, timeout_s=0.2), request())
    err = info.value
    texts = [str(err), repr(err), err.vendor_message or "", err.code or "", err.request_id or "", *map(str, err.args)]
    cause = err.__cause__
    while cause is not None:
        texts.append(str(cause))
        cause = cause.__cause__
    for text in texts:
        assert KEY not in text
    assert KEY not in emu.log_text()


# -- the emulator as a process (what benchmarks run) -------------------------------------------------

def test_emulator_runs_as_a_process_and_reports_per_key_stats():
    import json
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "tests.emulators.openai", "--port", "0", "--latency", "0.01",
                             "--limit", "10"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
        config = ProviderConfig(type="openai", base_url=base, api_key_env=ENV)
        res = run(OpenAIProvider("openai", config, env={ENV: KEY}), request(w=1024, h=1024))
        assert res.width == 1024
        with urllib.request.urlopen(base.removesuffix("/v1") + "/_emulator/stats", timeout=5) as r:
            stats = json.load(r)
        assert stats == {key_id(KEY): {"current": 0, "peak": 1, "total": 1, "rejected": 0}}
    finally:
        proc.terminate()
        proc.wait(timeout=5)
