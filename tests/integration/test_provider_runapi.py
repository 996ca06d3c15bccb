"""RunApiProvider against the RunAPI emulator: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import time
import uuid

import httpx
import pytest
from PIL import Image

from pipelines.errors import (
    AmbiguousError,
    AuthError,
    JobFailedError,
    ModerationBlocked,
    PaymentRequired,
    ProtocolError,
    RateLimited,
    RejectedError,
    RetryableError,
    UnsupportedError,
)
from providers.base import ImageRequest, InputImage
from providers.runapi import MAX_TAKES, RunApiProvider, idempotency_key
from providers.uploads import Uploader
from tests.emulators.runapi import RunApiEmulator
from tests.helpers.providers import (
    PUBLIC_URL,
    VENDORS,
    StubUploader,
    edit_request,
    fails,
    image_request,
    make_provider,
    run,
)

KEY = VENDORS["runapi"].key
PUB = PUBLIC_URL
T2I = "/api/v1/gpt_image_2/text_to_image"
EDIT = "/api/v1/gpt_image_2/edit_image"
gen = functools.partial(image_request, "generate", prompt="A greeting card reading 'Happy New Year'")
edit = functools.partial(edit_request, prompt="Make it night")


@pytest.fixture
def emu():
    with RunApiEmulator(public_url=PUB, keys={KEY}, retry_after=0.01, retry_after_style="seconds") as e:
        yield e


def provider(emu, **kw) -> RunApiProvider:
    return make_provider("runapi", emu, **kw)


# -- the happy paths ---------------------------------------------------------------------------


def test_generate(emu):
    req = gen(1200, 800, "jpeg")
    res = run(provider(emu), req)
    img = Image.open(io.BytesIO(res.data))
    assert (img.width, img.height, img.format) == (1200, 800, "JPEG")
    [post] = emu.creates
    assert post.path == T2I
    assert post.json == {"model": "gpt-image-2", "prompt": req.prompt, "aspect_ratio": "3:2", "output_resolution": "1k"}
    assert post.headers["idempotency-key"] == idempotency_key(req.cache_key)
    assert post.headers["x-client-request-id"]
    assert res.request_id in emu.tasks and res.cost_usd == pytest.approx(0.06) and res.vendor_size == "3:2@1k"
    assert (res.billed_usd, res.billed_basis) == (res.cost_usd, "usage.cost")
    polls = emu.requests("GET", T2I + "/")
    assert polls and all(r.path == f"{T2I}/{res.request_id}" for r in polls)


@pytest.mark.parametrize(
    "size, ratio, tier, cost",
    [((2048, 2048), "1:1", "2k", 0.10), ((3840, 2160), "16:9", "4k", 0.16),
     ((1080, 1920), "9:16", "2k", 0.10), ((1536, 1024), "3:2", "1k", 0.06)],
)
def test_ratio_and_tier_follow_the_size(emu, size, ratio, tier, cost):
    p = provider(emu)
    req = gen(*size)
    assert p.estimate_cost(req) == pytest.approx(cost)
    res = run(p, req)
    assert emu.creates[0].json["aspect_ratio"] == ratio and emu.creates[0].json["output_resolution"] == tier
    assert (res.width, res.height) == size and res.cost_usd == pytest.approx(cost)


@pytest.mark.parametrize(
    "created, running, done",
    [("pending", ("pending", "processing", "running"), "completed"),
     ("queued", ("queued",), "success"),
     ("processing", ("processing",), "complete"),
     ("pending", ("running",), "succeeded"),
     ("pending", (), "finished"),
     ("pending", ("PROCESSING",), "Completed")],
)
def test_polls_through_every_spelling(emu, created, running, done):
    emu.created_status, emu.running_statuses, emu.completed_status = created, running, done
    res = run(provider(emu), gen())
    assert len(emu.requests("GET", T2I + "/")) == max(1, len(running) + 1)
    assert res.request_id in emu.tasks


def test_client_request_id_is_echoed_and_task_id_header_is_given(emu):
    body = {"model": "gpt-image-2", "prompt": "x"}
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        r = c.post(T2I, json=body, headers={"X-Client-Request-Id": "abc123"})
    assert r.headers["x-client-request-id"] == "abc123"
    assert r.headers["x-runapi-task-id"] == r.json()["id"] and r.json()["status"] == "pending"


def test_edit_sends_uploaded_urls(emu, tmp_path):
    req = edit(tmp_path, n=2, width=1536, height=1024)
    res = run(provider(emu), req)
    [post] = emu.creates
    assert post.path == EDIT
    assert post.json["source_image_urls"] == [f"{PUB}/{i.digest}.png" for i in req.images]
    assert set(post.json) == {"model", "prompt", "aspect_ratio", "output_resolution", "source_image_urls"}
    assert (res.width, res.height) == (1536, 1024)
    assert all(r.path.startswith(EDIT + "/") for r in emu.requests("GET", "/api/"))


def test_edit_urls_outside_public_url_are_rejected_by_the_vendor(emu, tmp_path):
    p = provider(emu, uploader=Uploader(f"memory://x-{uuid.uuid4().hex}", "https://elsewhere.example.test/r"))
    err = fails(p, edit(tmp_path), RejectedError)
    assert err.status == 422 and "allowed storage" in str(err)


@pytest.mark.parametrize("url", ["data:image/png;base64,iVBORw0KGgo=", "https://127.0.0.1/x.png",
                                 "https://10.0.0.8/refs/x.png", "http://cdn.example.test/refs/x.png"])
def test_refuses_to_send_non_public_input_urls(emu, tmp_path, url):
    fails(provider(emu, uploader=StubUploader(url)), edit(tmp_path), RejectedError)
    assert emu.creates == []


def test_edit_without_uploads_is_unsupported(emu, tmp_path):
    p = provider(emu)
    p.uploader = None
    fails(p, edit(tmp_path), UnsupportedError)
    assert emu.log == []


def test_mask_is_applied_locally_since_the_vendor_takes_none(emu, tmp_path):
    # RunAPI has no mask field: the edit goes out unmasked and the mask's opaque (protected) region
    # is copied back from the input, so switching vendors keeps what the mask protects.
    req = edit(tmp_path)
    Image.new("RGB", (64, 64), (0, 0, 255)).save(req.images[0].path)  # unlike anything the emulator draws
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    mask.paste((0, 0, 0, 255), (0, 0, 32, 64))  # left half protected
    mpath = tmp_path / "mask.png"
    mask.save(mpath)
    minput = InputImage(path=mpath, digest=hashlib.sha256(mpath.read_bytes()).hexdigest(), filename="mask.png")
    req = ImageRequest(**{**req.__dict__, "mask": minput})
    res = run(provider(emu), req)
    body = emu.creates[0].json
    assert not any("mask" in k for k in body)
    out = Image.open(io.BytesIO(res.data)).convert("RGB")
    original = Image.open(req.images[0].path).convert("RGB").resize((1024, 1024))
    assert out.size == (1024, 1024)
    assert out.getpixel((100, 500)) == original.getpixel((100, 500)) == (0, 0, 255)  # protected: the input's
    assert out.getpixel((900, 500)) != original.getpixel((900, 500))  # editable: the vendor's pixels


# -- idempotency ------------------------------------------------------------------------------


def test_create_timeout_is_retried_safely_and_ends_with_one_task(emu):
    emu.inject("timeout_after_create", on=T2I, method="POST", seconds=0.8)
    req = gen()
    res = run(provider(emu, timeout_s=0.3), req)
    posts = emu.creates
    assert len(posts) == 2 and len(emu.tasks) == 1 and res.request_id in emu.tasks
    assert {p.headers["idempotency-key"] for p in posts} == {idempotency_key(req.cache_key)}
    assert len({p.headers["x-client-request-id"] for p in posts}) == 1  # the same logical request
    assert emu.stats(KEY).total == 1


def test_a_second_run_of_the_same_request_reuses_the_task(emu):
    req = gen()
    first = run(provider(emu), req)
    second = run(provider(emu), req)
    assert first.request_id == second.request_id and len(emu.tasks) == 1
    assert emu.stats(KEY).total == 1


def test_same_key_different_body_is_rejected(emu):
    run(provider(emu), gen(cache_key="same-key", prompt="one"))
    err = fails(provider(emu), gen(cache_key="same-key", prompt="two"), RejectedError)
    assert err.status == 409 and "different body" in str(err)
    assert len(emu.tasks) == 1


def test_replayed_failed_task_starts_a_fresh_take(emu):
    req = gen()
    emu.inject("job_failed", on=T2I, method="POST")
    fails(provider(emu), req, JobFailedError)  # our own task failed: final for this call
    res = run(provider(emu), req)  # the next build: the replay shows the failure, a new take runs
    keys = [p.headers["idempotency-key"] for p in emu.creates]
    assert keys == [idempotency_key(req.cache_key, 0), idempotency_key(req.cache_key, 0),
                    idempotency_key(req.cache_key, 1)]
    assert len(emu.tasks) == 2 and emu.tasks[res.request_id].state == "completed"


def test_replayed_task_with_an_expired_result_starts_a_fresh_take(emu):
    req = gen()
    first = run(provider(emu), req)
    emu.expire(emu.tasks[first.request_id].url)
    second = run(provider(emu), req)
    assert second.request_id != first.request_id and len(emu.tasks) == 2


def test_gives_up_after_max_takes_of_failed_replays_without_a_journal(emu):
    req = gen()
    emu.default_fault, emu.running_statuses = "job_failed", ()
    p = provider(emu)

    async def builds():
        errors = []
        try:
            for _ in range(MAX_TAKES + 1):  # each build replays the failed takes, then its own fresh take fails
                try:
                    await p.run(req)
                except JobFailedError as exc:
                    errors.append(exc)
        finally:
            await p.aclose()
        return errors

    errors = asyncio.run(builds())
    assert len(errors) == MAX_TAKES + 1
    assert all("fresh take" not in str(e) for e in errors[:-1]) and "the next build starts a fresh take" in str(errors[-1])
    assert len(emu.tasks) == MAX_TAKES


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["failed", "error", "timeout"])
def test_failed_task(emu, word):
    emu.failed_status = word
    emu.inject("job_failed", on=T2I, method="POST")
    err = fails(provider(emu), gen(), JobFailedError)
    assert err.request_id in emu.tasks and "Generation failed upstream" in str(err)


@pytest.mark.parametrize("word", ["canceled", "cancelled"])
def test_cancelled_task(emu, word):
    emu.cancelled_status = word
    emu.inject("cancelled", on=T2I, method="POST")
    err = fails(provider(emu), gen(), JobFailedError)
    assert word in str(err)


def test_moderation(emu):
    emu.inject("moderation", on=T2I, method="POST")
    fails(provider(emu), gen(), ModerationBlocked)


@pytest.mark.parametrize(
    "status, cls",
    [("400", RejectedError), ("422", RejectedError), ("401", AuthError), ("402", PaymentRequired),
     ("404", RejectedError), ("409", RejectedError)],
)
@pytest.mark.parametrize("style", ["message", "error", "detail", "errors"])
def test_errors_map_to_the_tree_in_every_envelope(emu, status, cls, style):
    emu.error_style = style
    emu.inject(status, on=T2I, method="POST", message="vendor says no")
    err = fails(provider(emu), gen(), cls)
    assert type(err) is cls and err.status == int(status) and "vendor says no" in str(err)
    assert len(emu.creates) == 1


def test_wrong_key(emu):
    err = fails(provider(emu, key="ra-wrong-key-000000"), gen(), AuthError)
    assert err.status == 401


def test_missing_key_fails_before_any_request(emu):
    fails(provider(emu, key=None), gen(), AuthError)
    assert emu.log == []


def test_retry_after_as_http_date_is_honoured(emu):
    emu.retry_after_style = "date"
    emu.limit = 1
    blocker = gen()
    emu.run_time, emu.running_statuses = 0.3, ()  # the other task ends by itself after 0.3 s
    t0 = time.monotonic()
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        assert c.post(T2I, json={"model": "gpt-image-2", "prompt": "other process"}).status_code == 200
    res = run(provider(emu), blocker)  # 429 with an HTTP-date Retry-After, then room
    elapsed = time.monotonic() - t0
    assert res.request_id in emu.tasks and emu.stats(KEY).rejected >= 1
    assert elapsed >= 0.3  # it waited, rather than hammering


def test_429_503_and_poll_errors_are_retried(emu):
    emu.inject("429", on=T2I, method="POST", retry_after=0.01)
    emu.inject("503", on=T2I, method="POST")
    emu.inject("500", on=T2I + "/", method="GET")
    res = run(provider(emu), gen())
    assert len(emu.creates) == 3 and len(emu.tasks) == 1 and res.request_id in emu.tasks


def test_rate_limit_exhausted(emu):
    emu.inject("429", on=T2I, method="POST", times=4, retry_after=0.01)
    err = fails(provider(emu), gen(), RateLimited)
    assert err.status == 429 and emu.tasks == {}


def test_server_errors_exhausted(emu):
    emu.inject("503", on=T2I, method="POST", times=4)
    fails(provider(emu), gen(), RetryableError)


def test_malformed_create_answer_is_asked_again(emu):
    emu.inject("malformed_json", on=T2I, method="POST")
    res = run(provider(emu), gen())
    assert len(emu.creates) == 2 and res.request_id in emu.tasks
    assert emu.stats(KEY).total == 1  # the second POST was a replay, not a new task


def test_garbled_polls(emu):
    emu.inject("malformed_json", on=T2I + "/", method="GET")
    assert run(provider(emu), gen()).request_id
    emu.running_statuses = ("processing",) * 5
    emu.inject("malformed_json", on=T2I + "/", method="GET", times=3)
    err = fails(provider(emu), gen(), ProtocolError)
    assert err.request_id in emu.tasks


def test_deadline_is_ambiguous(emu):
    emu.run_time = 5.0
    err = fails(provider(emu, deadline_s=1.0), gen(), AmbiguousError)
    assert err.request_id in emu.tasks


@pytest.mark.parametrize("fault", ["expired_url", "truncated_image", "no_output"])
def test_bad_results(emu, fault):
    emu.inject(fault, on=T2I, method="POST")
    fails(provider(emu), gen(), ProtocolError)


def test_emulator_validates_tiers():
    with RunApiEmulator(keys={KEY}) as e, httpx.Client(base_url=e.base_url,
                                                      headers={"Authorization": f"Bearer {KEY}"}) as c:
        def post(**body):
            return c.post(T2I, json={"model": "gpt-image-2", "prompt": "x", **body}).status_code

        assert post(aspect_ratio="1:1", output_resolution="4k") == 422
        assert post(aspect_ratio="auto", output_resolution="2k") == 422
        assert post(aspect_ratio="7:5") == 422
        assert post(quality="high") == 422
        assert post(aspect_ratio="16:9", output_resolution="4k") == 200


# -- limits -------------------------------------------------------------------------------------


def test_in_flight_never_exceeds_max_concurrency(emu):
    emu.run_time = 0.08
    results = run(provider(emu, max_concurrency=3), *(gen() for _ in range(8)), concurrent=True)
    assert all(not isinstance(r, Exception) for r in results), results
    s = emu.stats(KEY)
    assert s.peak == 3 and s.rejected == 0 and s.total == 8 and s.current == 0


# -- secrets ------------------------------------------------------------------------------------


def test_the_key_never_leaks(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    res = run(provider(emu), edit(tmp_path))
    texts.append(repr(res.__dict__ | {"data": None}))
    emu.inject("400", on=T2I, method="POST", message=f"bad key {KEY}")
    err = fails(provider(emu), gen(), RejectedError)
    texts += [str(err), repr(err.__dict__)]
    emu.inject("job_failed", on=T2I, method="POST")
    texts.append(str(fails(provider(emu), gen(), JobFailedError)))
    emu.inject("503", on=T2I, method="POST")
    run(provider(emu), gen())
    texts += [caplog.text, emu.log_text()]
    for text in texts:
        assert KEY not in text
    assert all(KEY not in p.headers.get("idempotency-key", "") for p in emu.creates)


