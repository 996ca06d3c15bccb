"""EachLabsProvider against the EachLabs emulator: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
import io
import logging
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
from providers import pricing
from providers.eachlabs import EachLabsProvider
from providers.uploads import Uploader
from tests.emulators.eachlabs import EDIT, TEXT_TO_IMAGE, EachLabsEmulator, text_to_image_schema
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

KEY = VENDORS["eachlabs"].key
PUB = PUBLIC_URL
gen = functools.partial(image_request, "generate", prompt='A poster reading "BREW LAB"')
edit = edit_request


@pytest.fixture
def emu():
    with EachLabsEmulator(public_url=PUB, keys={KEY}) as e:
        yield e


def provider(emu, **kw) -> EachLabsProvider:
    return make_provider("eachlabs", emu, **kw)


# -- the happy paths ---------------------------------------------------------------------------


def test_generate_builds_input_from_schema_and_conforms_output(emu):
    p = provider(emu)
    res = run(p, gen(1200, 800, "jpeg", quality="high"))
    img = Image.open(io.BytesIO(res.data))
    assert (img.width, img.height, img.format) == (1200, 800, "JPEG")
    assert (res.width, res.height, res.output_format) == (1200, 800, "jpeg")
    [post] = emu.creates
    assert post.json["model"] == TEXT_TO_IMAGE and post.json["version"] == "0.0.1"
    assert post.json["input"] == {"prompt": 'A poster reading "BREW LAB"', "image_size": "1536x1024",
                                  "quality": "high", "output_format": "jpeg", "num_images": 1}
    pred = emu.predictions[res.request_id]  # the predictionID is the stored request id
    assert res.cost_usd == pytest.approx(pred.cost) and res.cost_usd > 0
    assert res.vendor_size == "1536x1024"


def test_schema_is_fetched_once_per_provider_and_without_key(emu):
    p = provider(emu)
    run(p, gen(), gen(1024, 1536))
    schema_gets = emu.requests("GET", "/v1/model")
    assert len(schema_gets) == 1 and schema_gets[0].key_id == "anonymous"
    assert [c.json["input"]["image_size"] for c in emu.creates] == ["1024x1024", "1024x1536"]


@pytest.mark.parametrize("id_field", ["predictionID", "id"])
@pytest.mark.parametrize("shape", ["list", "string"])
def test_create_id_spellings_and_output_shapes(emu, id_field, shape):
    emu.id_field, emu.output_shape = id_field, shape
    res = run(provider(emu), gen(1024, 1024, "png"))
    assert res.request_id in emu.predictions
    assert Image.open(io.BytesIO(res.data)).size == (1024, 1024)


@pytest.mark.parametrize(
    "running, success",
    [
        (("created", "starting", "processing"), "success"),
        (("queued", "in_progress"), "succeeded"),
        (("Processing",), "SUCCESS"),
        ((), "success"),
    ],
)
def test_polls_through_every_running_spelling(emu, running, success):
    emu.running_statuses, emu.success_status = running, success
    res = run(provider(emu), gen())
    polls = emu.requests("GET", "/v1/prediction/")
    assert len(polls) == max(1, len(running) + 1)
    assert res.width == 1024


def test_job_runtime_is_waited_for(emu):
    emu.run_time = 0.15
    res = run(provider(emu), gen())
    assert res.latency_s >= 0.15
    assert len(emu.requests("GET", "/v1/prediction/")) >= 2


@pytest.mark.parametrize("variant", ["image_urls", "image_url"])
def test_edit_sends_uploaded_urls_in_the_schemas_field(emu, tmp_path, variant):
    emu.image_field = variant
    p = provider(emu)
    req = edit(tmp_path)
    res = run(p, req)
    assert (res.width, res.height) == (1024, 1024)
    [post] = emu.creates
    assert post.json["model"] == EDIT
    url = f"{PUB}/{req.images[0].digest}.png"
    assert post.json["input"][variant] == ([url] if variant == "image_urls" else url)
    assert "image_urls" not in post.json["input"] or variant == "image_urls"
    # the bytes the vendor will fetch are really in our storage, under a hash name
    fs, root = p.uploader._fs, p.uploader._root
    assert fs.cat_file(f"{root}/{req.images[0].digest}.png") == req.images[0].read()


def test_edit_with_several_images_uses_the_array(emu, tmp_path):
    res = run(provider(emu), edit(tmp_path, n=3))
    assert res.request_id
    assert len(emu.creates[0].json["input"]["image_urls"]) == 3


def test_single_url_schema_refuses_several_images_before_paying(emu, tmp_path):
    emu.image_field = "image_url"
    err = fails(provider(emu), edit(tmp_path, n=2), UnsupportedError)
    assert "one image" in str(err)
    assert emu.creates == []


def test_only_declared_properties_are_sent(emu):
    emu.schemas[TEXT_TO_IMAGE] = {"type": "object", "properties": {"prompt": {"type": "string"},
                                                                   "image_size": {"type": "string",
                                                                                  "enum": ["1024x1024"]}},
                                  "required": ["prompt"]}
    res = run(provider(emu), gen(1536, 1024, "webp", quality="low", background="opaque"))
    assert emu.creates[0].json["input"] == {"prompt": 'A poster reading "BREW LAB"', "image_size": "1024x1024"}
    assert Image.open(io.BytesIO(res.data)).format == "WEBP" and res.width == 1536


def test_schema_requiring_an_unknown_field_is_unsupported(emu):
    schema = text_to_image_schema()
    schema["properties"]["style_preset"] = {"type": "string"}
    schema["required"] = ["prompt", "style_preset"]
    emu.schemas[TEXT_TO_IMAGE] = schema
    err = fails(provider(emu), gen(), UnsupportedError)
    assert "style_preset" in str(err)
    assert emu.creates == []


@pytest.mark.parametrize("report, expect", [("metrics", "metrics"), ("usage", "tokens"), ("none", "estimate")])
def test_cost_sources(emu, report, expect):
    emu.report_cost = report
    req = gen(1024, 1024, "png", quality="medium")
    res = run(provider(emu), req)
    if expect == "metrics":
        assert res.cost_usd == pytest.approx(emu.predictions[res.request_id].cost)
        assert (res.billed_usd, res.billed_basis) == (res.cost_usd, "metrics.cost")
    elif expect == "tokens":
        assert res.cost_usd == pytest.approx(pricing.tokens_usd(text_in=50, image_out=1056, provider_type="eachlabs"))
        assert (res.billed_usd, res.billed_basis) == (res.cost_usd, "usage tokens")
    else:
        assert res.cost_usd == pytest.approx(pricing.estimate("eachlabs", req))
        assert (res.billed_usd, res.billed_basis) == (None, None)  # an estimate is not a bill


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status_word", ["error", "failed", "FAILED"])
def test_failed_prediction(emu, status_word):
    emu.failed_status = status_word
    emu.inject("job_failed", on="/v1/prediction", method="POST")
    err = fails(provider(emu), gen(), JobFailedError)
    assert err.request_id in emu.predictions and "upstream model error" in str(err)


@pytest.mark.parametrize("status_word", ["cancelled", "canceled"])
def test_cancelled_prediction(emu, status_word):
    emu.cancelled_status = status_word
    emu.inject("cancelled", on="/v1/prediction", method="POST")
    err = fails(provider(emu), gen(), JobFailedError)
    assert status_word in str(err)


def test_moderation_failure(emu):
    emu.inject("moderation", on="/v1/prediction", method="POST")
    err = fails(provider(emu), gen(), ModerationBlocked)
    assert err.request_id in emu.predictions


@pytest.mark.parametrize(
    "status, cls",
    [("400", RejectedError), ("401", AuthError), ("403", AuthError), ("402", PaymentRequired),
     ("404", RejectedError), ("422", RejectedError)],
)
@pytest.mark.parametrize("style", ["error", "status"])
def test_create_errors_map_to_the_tree(emu, status, cls, style):
    emu.error_style = style
    emu.inject(status, on="/v1/prediction", method="POST", message="vendor says no")
    err = fails(provider(emu), gen(), cls)
    assert type(err) is cls and err.status == int(status) and "vendor says no" in str(err)
    assert len(emu.creates) == 1  # not retried


def test_invalid_input_message_carries_details(emu):
    emu.error_style = "status"
    emu.schemas[TEXT_TO_IMAGE] = text_to_image_schema()
    emu.schemas[TEXT_TO_IMAGE]["properties"]["prompt"]["enum"] = ["only this"]
    err = fails(provider(emu), gen(), RejectedError)
    assert "Invalid input" in str(err) and "prompt must be one of" in str(err)


def test_wrong_key_is_auth_error(emu):
    err = fails(provider(emu, key="el-wrong-key-000000"), gen(), AuthError)
    assert err.status == 401


def test_missing_key_fails_before_any_request(emu):
    fails(provider(emu, key=None), gen(), AuthError)
    assert emu.log == []


def test_429_and_5xx_are_retried_without_duplicating_the_prediction(emu):
    emu.inject("429", on="/v1/prediction", method="POST", retry_after=0.01)
    emu.inject("503", on="/v1/prediction", method="POST")
    emu.inject("500", on="/v1/prediction/", method="GET")
    res = run(provider(emu), gen())
    assert len(emu.creates) == 3 and len(emu.predictions) == 1 and res.request_id in emu.predictions


def test_rate_limit_exhausted(emu):
    emu.inject("429", on="/v1/prediction", method="POST", times=4, retry_after=0.01)
    err = fails(provider(emu), gen(), RateLimited)
    assert err.status == 429 and len(emu.creates) == 4 and emu.predictions == {}


def test_server_errors_exhausted(emu):
    emu.inject("502", on="/v1/prediction", method="POST", times=4)
    err = fails(provider(emu), gen(), RetryableError)
    assert err.status == 502


def test_gateway_timeout_on_create_is_ambiguous(emu):
    emu.inject("504", on="/v1/prediction", method="POST")
    fails(provider(emu), gen(), AmbiguousError)
    assert len(emu.creates) == 1


def test_create_timeout_is_ambiguous_and_never_reposted(emu):
    emu.inject("timeout_after_create", on="/v1/prediction", method="POST", seconds=0.8)
    err = fails(provider(emu, timeout_s=0.3), gen(), AmbiguousError)
    assert err.maybe_billed
    assert len(emu.creates) == 1 and len(emu.predictions) == 1  # one job exists, paid for once


def test_poll_timeouts_are_retried(emu):
    emu.inject("timeout", on="/v1/prediction/", method="GET", seconds=0.6)
    res = run(provider(emu, timeout_s=0.3), gen())
    assert len(emu.predictions) == 1 and res.request_id in emu.predictions


def test_malformed_create_answer_is_ambiguous(emu):
    emu.inject("malformed_json", on="/v1/prediction", method="POST")
    fails(provider(emu), gen(), AmbiguousError)
    assert len(emu.creates) == 1


def test_one_garbled_poll_is_tolerated_three_are_not(emu):
    emu.inject("malformed_json", on="/v1/prediction/", method="GET")
    assert run(provider(emu), gen()).request_id
    emu.running_statuses = ("processing",) * 5
    emu.inject("malformed_json", on="/v1/prediction/", method="GET", times=3)
    err = fails(provider(emu), gen(), ProtocolError)
    assert err.request_id in emu.predictions


def test_deadline_while_polling_is_ambiguous_with_the_id(emu):
    emu.run_time = 5.0
    err = fails(provider(emu, deadline_s=1.0), gen(), AmbiguousError)
    assert err.request_id in emu.predictions and err.request_id in str(err)


@pytest.mark.parametrize("fault", ["expired_url", "truncated_image"])
def test_bad_result_images(emu, fault):
    emu.inject(fault, on="/v1/prediction", method="POST")
    fails(provider(emu), gen(), ProtocolError)


def test_success_without_output(emu):
    emu.inject("no_output", on="/v1/prediction", method="POST")
    err = fails(provider(emu), gen(), ProtocolError)
    assert err.request_id in emu.predictions


@pytest.mark.parametrize("url", ["data:image/png;base64,iVBORw0KGgo=", "https://127.0.0.1/x.png",
                                 "https://localhost/refs/x.png", "http://cdn.example.test/refs/x.png"])
def test_refuses_to_send_non_public_input_urls(emu, tmp_path, url):
    fails(provider(emu, uploader=StubUploader(url)), edit(tmp_path), RejectedError)
    assert emu.creates == []


def test_edit_without_uploads_is_unsupported(emu, tmp_path):
    p = provider(emu)
    p.uploader = None
    fails(p, edit(tmp_path), UnsupportedError)
    assert emu.log == []


def test_emulator_refuses_urls_outside_public_url(emu, tmp_path):
    p = provider(emu, uploader=Uploader(f"memory://x-{uuid.uuid4().hex}", "https://elsewhere.example.test/r"))
    err = fails(p, edit(tmp_path), RejectedError)
    assert "not under the allowed storage" in str(err)


# -- limits -------------------------------------------------------------------------------------


def test_in_flight_never_exceeds_max_concurrency(emu):
    emu.run_time = 0.08
    p = provider(emu, max_concurrency=3)
    results = run(p, *(gen() for _ in range(8)), concurrent=True)
    assert all(not isinstance(r, Exception) for r in results), results
    s = emu.stats(KEY)
    assert s.peak == 3 and s.rejected == 0 and s.total == 8 and s.current == 0


def test_emulator_allows_ten_predictions_in_flight_per_key(emu):
    emu.run_time = 30.0
    body = {"model": TEXT_TO_IMAGE, "version": "0.0.1", "input": {"prompt": "x"}}
    with httpx.Client(base_url=emu.base_url) as c:
        codes = [c.post("/v1/prediction", json=body, headers={"X-API-Key": KEY}).status_code for _ in range(11)]
        other = c.post("/v1/prediction/", json=body, headers={"Authorization": "Bearer " + KEY})
    assert codes == [200] * 10 + [429] and other.status_code == 429
    assert emu.stats(KEY).peak == 10


# -- secrets ------------------------------------------------------------------------------------


def test_the_key_never_leaks(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    res = run(provider(emu), edit(tmp_path))
    texts += [repr(res.__dict__ | {"data": None})]
    # a vendor error that echoes the key back
    emu.inject("400", on="/v1/prediction", method="POST", message=f"bad key {KEY} in Bearer {KEY}")
    err = fails(provider(emu), gen(), RejectedError)
    texts += [str(err), repr(err.__dict__)]
    emu.inject("job_failed", on="/v1/prediction", method="POST")
    texts += [str(fails(provider(emu), gen(), JobFailedError))]
    emu.inject("503", on="/v1/prediction", method="POST")
    run(provider(emu), gen())
    texts += [caplog.text, emu.log_text()]
    for text in texts:
        assert KEY not in text
    assert all(r.key_id.startswith("key-") for r in emu.creates)


