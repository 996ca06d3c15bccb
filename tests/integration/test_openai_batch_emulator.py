"""The Files + Batch emulator's own test: plain httpx, as any client would, against the real server
(what assetpipe's batch client is tested against must itself follow the vendor's documentation)."""

from __future__ import annotations

import base64
import io
import json
import time

import httpx
import pytest
from PIL import Image

from tests.emulators.openai_batch import OpenAIBatchEmulator
from tests.emulators.openai_batch_jobs import ManualClock
from tests.helpers.images import make_image

KEY = "sk-test-batch-key"
GEN = "/v1/images/generations"
EDIT = "/v1/images/edits"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def emu(clock):
    with OpenAIBatchEmulator(clock=clock, validate_s=1, per_request_s=1, parallel=2, finalize_s=1,
                             cancel_s=1) as e:
        yield e


@pytest.fixture
def api(emu):
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as c:
        yield c


def gen_line(cid, size="1024x1024", quality="low", **extra):
    return {"custom_id": cid, "method": "POST", "url": GEN,
            "body": {"model": "gpt-image-2", "prompt": f"poster {cid}", "size": size, "quality": quality, **extra}}


def jsonl(lines) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def upload(api, data: bytes, purpose="batch", name="in.jsonl", **fields):
    return api.post("/files", data={"purpose": purpose, **fields}, files={"file": (name, data, "application/jsonl")})


def submit(api, lines, endpoint=GEN, **extra):
    f = upload(api, jsonl(lines))
    assert f.status_code == 200, f.text
    r = api.post("/batches", json={"input_file_id": f.json()["id"], "endpoint": endpoint,
                                   "completion_window": "24h", **extra})
    assert r.status_code == 200, r.text
    return r.json()


def get(api, bid):
    r = api.get(f"/batches/{bid}")
    assert r.status_code == 200, r.text
    return r.json()


def read_lines(api, file_id):
    r = api.get(f"/files/{file_id}/content")
    assert r.status_code == 200
    return {x["custom_id"]: x for x in map(json.loads, r.content.decode().splitlines())}


def make_png(w: int, h: int) -> bytes:
    return make_image(w, h, "png")


def png_of(body) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"])))
    img.load()
    return img


# -- synchronous endpoints are still there ---------------------------------------------------------

def test_sync_generation_still_served(api):
    r = api.post("/images/generations", json={"model": "gpt-image-2", "prompt": "a cat", "size": "1536x1024", "quality": "medium"})
    assert r.status_code == 200 and r.headers["x-request-id"].startswith("req_")
    assert png_of(r.json()).size == (1536, 1024)
    usage = r.json()["usage"]
    assert usage["output_tokens"] == 1367 and usage["output_tokens_details"]["image_tokens"] == 1367
    assert usage["total_tokens"] == usage["input_tokens"] + 1367


def test_usage_matches_published_gpt_image_2_prices(api):
    """$30 per 1M output tokens times the emulator's tokens gives OpenAI's per-image figures."""
    published = {("1024x1024", "low"): 0.006, ("1024x1024", "medium"): 0.053, ("1024x1024", "high"): 0.211,
                 ("1024x1536", "medium"): 0.041, ("1536x1024", "high"): 0.165}
    for (size, quality), usd in published.items():
        r = api.post("/images/generations", json={"model": "gpt-image-2", "prompt": "p", "size": size, "quality": quality})
        assert abs(r.json()["usage"]["output_tokens"] * 30 / 1e6 - usd) < 0.0005, (size, quality)


def test_json_edits_take_file_ids_and_data_urls(api):
    png = make_png(1024, 1024)
    fid = upload(api, png, purpose="vision", name="in.png").json()["id"]
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    r = api.post("/images/edits", json={"model": "gpt-image-2", "prompt": "add a hat",
                             "images": [{"file_id": fid}, {"image_url": data_url}]})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["input_tokens_details"]["image_tokens"] == 2 * 1600
    bad = api.post("/images/edits", json={"prompt": "x", "images": [{"image_url": "https://example.com/a.png"}]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_image_url"
    both = api.post("/images/edits", json={"prompt": "x", "images": [{"image_url": data_url, "file_id": fid}]})
    assert both.status_code == 400
    small = "data:image/png;base64," + base64.b64encode(make_png(512, 512)).decode()
    mask = api.post("/images/edits", json={"prompt": "x", "images": [{"file_id": fid}], "mask": {"image_url": small}})
    assert mask.status_code == 400 and mask.json()["error"]["param"] == "mask"


# -- files ------------------------------------------------------------------------------------------

def test_upload_rules_and_ownership(emu, api):
    data = jsonl([gen_line("a")])
    f = upload(api, data).json()
    assert f["object"] == "file" and f["purpose"] == "batch" and f["bytes"] == len(data) and f["expires_at"]
    assert api.get(f"/files/{f['id']}/content").content == data
    assert upload(api, data, name="in.json").status_code == 400
    assert upload(api, data, purpose="nonsense").status_code == 400
    assert upload(api, data, **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "60"}).status_code == 400
    other = httpx.get(f"{emu.base_url}/files/{f['id']}", headers={"Authorization": "Bearer sk-other"})
    assert other.status_code == 404
    assert api.delete(f"/files/{f['id']}").json()["deleted"] is True
    assert api.get(f"/files/{f['id']}").status_code == 404


def test_batch_file_size_limit():
    with OpenAIBatchEmulator(max_batch_file_bytes=100) as e, httpx.Client(
            base_url=e.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        assert upload(c, jsonl([gen_line("a"), gen_line("b")])).status_code == 400


# -- the life of a batch ----------------------------------------------------------------------------

def test_progression_to_completed_with_files_and_usage(api, clock, emu):
    lines = [gen_line(f"k{i}") for i in range(5)]
    b = submit(api, lines, metadata={"build": "b1"})
    assert b["status"] == "validating" and b["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert b["output_file_id"] is None and b["expires_at"] == b["created_at"] + 86400
    clock.advance(1)
    b = get(api, b["id"])
    assert b["status"] == "in_progress" and b["in_progress_at"] and b["request_counts"]["total"] == 5
    clock.advance(1)  # two parallel slots: lines 0 and 1 are done
    assert get(api, b["id"])["request_counts"]["completed"] == 2
    clock.advance(2)
    b = get(api, b["id"])
    assert b["status"] == "finalizing" and b["finalizing_at"] and b["output_file_id"] is None
    clock.advance(1)
    b = get(api, b["id"])
    assert b["status"] == "completed" and b["completed_at"] and b["error_file_id"] is None
    assert b["request_counts"] == {"total": 5, "completed": 5, "failed": 0}
    out = read_lines(api, b["output_file_id"])
    assert set(out) == {f"k{i}" for i in range(5)}
    for line in out.values():
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200 and line["response"]["request_id"].startswith("req_")
        assert png_of(line["response"]["body"]).size == (1024, 1024)
    tokens = sum(x["response"]["body"]["usage"]["output_tokens"] for x in out.values())
    assert b["usage"]["output_tokens"] == tokens and b["metadata"] == {"build": "b1"}
    assert api.get(f"/files/{b['output_file_id']}").json()["purpose"] == "batch_output"
    assert all(emu.billed[(k, c)] == 1 for (k, c) in emu.billed) and len(emu.billed) == 5


def test_edits_batch_with_file_ids_and_data_urls(api, clock):
    png = make_png(1024, 1536)
    fid = upload(api, png, purpose="user_data", name="p.png").json()["id"]
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": EDIT,
              "body": {"model": "gpt-image-2", "prompt": "relight", "images": [ref], "quality": "low"}}
             for i, ref in enumerate([{"file_id": fid}, {"image_url": url}])]
    b = submit(api, lines, endpoint=EDIT)
    clock.advance(10)
    b = get(api, b["id"])
    assert b["status"] == "completed", b
    for line in read_lines(api, b["output_file_id"]).values():
        assert png_of(line["response"]["body"]).size == (1024, 1536)


def test_per_line_failures_go_to_the_error_file(api, clock, emu):
    lines = [gen_line(f"k{i}") for i in range(4)] + [gen_line("bad-size", size="1000x1000")]
    emu.inject_line("moderation", custom_id="k1")
    emu.inject_line("request_timeout", custom_id="k2")
    b = submit(api, lines)
    clock.advance(10)
    b = get(api, b["id"])
    assert b["status"] == "completed"
    assert b["request_counts"] == {"total": 5, "completed": 2, "failed": 3}
    assert set(read_lines(api, b["output_file_id"])) == {"k0", "k3"}
    err = read_lines(api, b["error_file_id"])
    assert set(err) == {"k1", "k2", "bad-size"}
    assert err["k1"]["response"]["status_code"] == 400
    assert err["k1"]["response"]["body"]["error"]["code"] == "moderation_blocked" and err["k1"]["error"] is None
    assert err["k2"]["response"] is None and err["k2"]["error"]["code"] == "request_timeout"
    assert err["bad-size"]["response"]["body"]["error"]["param"] == "size"
    assert {c for (_, c) in emu.billed} == {"k0", "k3"}


def test_expiry_half_done(api, clock, emu):
    emu.timing.window_s = 3  # the window shortened for the test: validating 1 s, 2 lines a second
    b = submit(api, [gen_line(f"k{i}") for i in range(8)])
    clock.advance(2.5)
    assert get(api, b["id"])["status"] == "in_progress"
    clock.advance(1)
    b = get(api, b["id"])
    assert b["status"] == "expired" and b["expired_at"] == b["expires_at"]
    assert b["request_counts"]["completed"] == 4
    done = read_lines(api, b["output_file_id"])
    err = read_lines(api, b["error_file_id"])
    assert set(done) == {"k0", "k1", "k2", "k3"} and set(err) == {"k4", "k5", "k6", "k7"}
    for line in err.values():
        assert line["response"] is None and line["error"]["code"] == "batch_expired"
    assert len(emu.billed) == 4


def test_cancel_keeps_partial_results(api, clock, emu):
    b = submit(api, [gen_line(f"k{i}") for i in range(6)])
    clock.advance(2)  # two lines finished
    c = api.post(f"/batches/{b['id']}/cancel")
    assert c.status_code == 200 and c.json()["status"] == "cancelling" and c.json()["cancelling_at"]
    clock.advance(1)
    b = get(api, b["id"])
    assert b["status"] == "cancelled" and b["cancelled_at"]
    assert set(read_lines(api, b["output_file_id"])) == {"k0", "k1"}
    err = read_lines(api, b["error_file_id"])
    assert {x["error"]["code"] for x in err.values()} == {"batch_cancelled"} and len(err) == 4
    assert api.post(f"/batches/{b['id']}/cancel").status_code == 400


def test_cancel_while_validating_runs_nothing(api, clock, emu):
    b = submit(api, [gen_line("k0")])
    assert api.post(f"/batches/{b['id']}/cancel").json()["status"] == "cancelling"
    clock.advance(5)
    b = get(api, b["id"])
    assert b["status"] == "cancelled" and b["output_file_id"] is None and b["in_progress_at"] is None
    assert not emu.billed


def test_failed_validation(api, clock):
    good = json.dumps(gen_line("a"))
    bad = "\n".join([good, "{not json", good, json.dumps({**gen_line("b"), "url": EDIT}),
                     json.dumps({**gen_line("c"), "method": "GET"})]) + "\n"
    fid = upload(api, bad.encode()).json()["id"]
    b = api.post("/batches", json={"input_file_id": fid, "endpoint": GEN, "completion_window": "24h"}).json()
    assert b["status"] == "validating" and b["errors"] is None
    clock.advance(1)
    b = get(api, b["id"])
    assert b["status"] == "failed" and b["failed_at"] and b["output_file_id"] is None
    got = {(e["code"], e["line"]) for e in b["errors"]["data"]}
    assert got == {("invalid_json_line", 2), ("duplicate_custom_id", 3), ("invalid_value", 4), ("invalid_value", 5)}


def test_create_time_refusals(api):
    fid = upload(api, jsonl([gen_line("a")])).json()["id"]
    body = {"input_file_id": fid, "endpoint": GEN, "completion_window": "24h"}
    assert api.post("/batches", json={**body, "completion_window": "1h"}).status_code == 400
    assert api.post("/batches", json={**body, "endpoint": "/v1/images/variations"}).status_code == 400
    assert api.post("/batches", json={**body, "input_file_id": "file-nope"}).status_code == 400
    assert api.post("/batches", json={**body, "metadata": {f"k{i}": "v" for i in range(17)}}).status_code == 400
    img = upload(api, make_png(1024, 1024), purpose="vision", name="a.png").json()["id"]
    assert api.post("/batches", json={**body, "input_file_id": img}).status_code == 400


def test_too_many_requests_and_mixed_models(clock):
    with OpenAIBatchEmulator(clock=clock, max_requests=2) as e, httpx.Client(
            base_url=e.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        b = submit(c, [gen_line(f"k{i}") for i in range(3)])
        mixed = submit(c, [gen_line("a"), gen_line("b", model="gpt-image-1")])
        clock.advance(1)
        assert get(c, b["id"])["errors"]["data"][0]["code"] == "too_many_requests"
        assert get(c, mixed["id"])["errors"]["data"][0]["code"] == "mismatched_model"


def test_lost_create_answer_is_found_again_by_listing(api, emu, clock):
    fid = upload(api, jsonl([gen_line("k0")])).json()["id"]
    emu.inject("disconnect_after_create", on="/batches", method="POST")
    with pytest.raises(httpx.TransportError):
        api.post("/batches", json={"input_file_id": fid, "endpoint": GEN, "completion_window": "24h",
                                   "metadata": {"assetpipe_submit": "s-1"}})
    listed = api.get("/batches", params={"limit": 5}).json()
    assert [b["metadata"] for b in listed["data"]] == [{"assetpipe_submit": "s-1"}]
    other = httpx.get(f"{emu.base_url}/batches", headers={"Authorization": "Bearer sk-other"}).json()
    assert other["data"] == []


def test_token_limit_exceeded_fails_the_batch(api, emu, clock):
    emu.inject("token_limit_exceeded", on="/batches", method="POST")
    b = submit(api, [gen_line("k0")])
    clock.advance(1)
    assert get(api, b["id"])["errors"]["data"][0]["code"] == "token_limit_exceeded"


def test_transport_faults_from_the_harness(api, emu):
    emu.inject("503", on="/batches", method="GET")
    b = submit(api, [gen_line("k0")])
    assert api.get(f"/batches/{b['id']}").status_code == 503
    assert api.get(f"/batches/{b['id']}").status_code == 200


def test_real_clock_end_to_end():
    with OpenAIBatchEmulator(validate_s=0.05, per_request_s=0.05, parallel=2, finalize_s=0.05) as e, httpx.Client(
            base_url=e.base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        b = submit(c, [gen_line(f"k{i}") for i in range(4)])
        seen = []
        deadline = time.monotonic() + 5
        while b["status"] not in ("completed", "failed", "expired", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.02)
            b = get(c, b["id"])
            seen.append(b["status"])
        assert b["status"] == "completed" and "in_progress" in seen
        assert len(read_lines(c, b["output_file_id"])) == 4
