"""The batch lane through the real CLI against the Files + Batch emulator on 127.0.0.1, whose clock
the test moves by hand (a batch's progress is a function of that clock, so nothing sleeps):

- generations and edits of them go in batches (the edits once their upstream is collected), a later
  build collects them, and every stored image is byte for byte what the vendor's output file held;
- a batch that expires half-done: the finished half is kept, the rest (not billed) goes into a new
  batch, nothing is paid twice;
- a build killed between submit and collect, and a create whose answer was lost: the next build
  finds the batch, nothing is resubmitted and nothing is lost."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from providers import pricing
from tests.emulators.openai_batch import OpenAIBatchEmulator
from tests.emulators.openai_batch_jobs import ManualClock
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paths import ASSETPIPE

KEY_ENV, KEY = "BATCH_TEST_KEY", "sk-batch-test-2b7e91c4"
ENV = {KEY_ENV: KEY}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def emu(clock):
    with OpenAIBatchEmulator(clock=clock, validate_s=1, per_request_s=1, parallel=2, finalize_s=1, cancel_s=1) as e:
        yield e


def catalog(root: Path, emu, *, gens: int = 3, edits: int = 3, lane: str | None = None, retries: int = 1,
            cache: str | None = None) -> Path:
    assets = f"""
          - name: hero
            matrix: {{n: {list(range(gens))}}}
            prompt: Product photo number {{{{ n }}}} of a ceramic mug
        """
    if edits:
        assets += f"""
          - name: loft
            matrix: {{n: {list(range(edits))}}}
            edit: {{image: hero}}
            prompt: Put mug {{{{ n }}}} in a sunlit loft
          - name: thumb
            render: {{from: loft, size: 256x256}}
            matrix: {{n: {list(range(edits))}}}
        """
    return write_catalog(root, {
        "catalog.yaml": f"""
            check_text: "off"
            {f"cache: {cache}" if cache else ""}
            default_provider: oa
            lane: {lane or "sync"}
            providers:
              oa: {{type: openai, base_url: "{emu.base_url}", api_key_env: {KEY_ENV}, timeout_s: 10,
                    max_retries: {retries}, options: {{batch: true, batch_poll_s: 0.05, retry_base_s: 0.01}}}}
            defaults: {{size: 1024x1024, quality: low}}
            """,
        "campaigns/c.yaml": "campaign: c\nassets:" + assets,
    })


def sync_calls(emu) -> int:
    return len([r for r in emu.requests(method="POST") if "/images/" in r.path])


def batches(emu) -> list:
    return [emu.batch(bid) for bid in list(emu._batches)]


def output_images(emu) -> dict[str, tuple[bytes, dict]]:
    """custom_id -> (the image bytes the vendor put in its output files, the line's usage)."""
    out = {}
    for b in batches(emu):
        for line, ok in zip(b.results, b.ok):
            if ok:
                body = line["response"]["body"]
                out[line["custom_id"]] = (base64.b64decode(body["data"][0]["b64_json"]), body["usage"])
    return out


def build(cat: Path, *args: str) -> str:
    code, out, err = run_cli("build", *args, catalog=cat, env=ENV)
    assert code == 0, out + err
    assert KEY not in out + err
    return out


def test_generations_and_edits_in_batches_collected_byte_for_byte(tmp_path, emu, clock):
    cat = catalog(tmp_path / "cat", emu)
    rows = plan_json(cat, "--lane", "batch", env=ENV)
    gen = [r for r in rows.values() if r["asset"] == "hero"]
    sync_rows = plan_json(cat, env=ENV)
    assert all(r["estimated_cost_usd"] == pytest.approx(sync_rows[r["key"]]["estimated_cost_usd"] / 2, abs=1e-4)
               for r in gen)
    code, out, _ = run_cli("plan", "--lane", "batch", catalog=cat, env=ENV)
    assert "the batch lane: $" in out and "in the sync lane (saving $" in out

    out = build(cat, "--lane", "batch")
    assert "submitted batch batch_" in out and "3 variant(s) for /v1/images/generations" in out
    assert sync_calls(emu) == 0 and len(batches(emu)) == 1
    rows = plan_json(cat, env=ENV)
    assert all("in batch batch_" in r["reason"] for r in rows.values() if r["asset"] == "hero")

    clock.advance(10)  # the generations' batch completes
    out = build(cat, "--lane", "batch")  # collects them, then submits the edits of them
    assert "collected batch" in out and "3 of 3 image(s) stored" in out
    assert "3 variant(s) for /v1/images/edits" in out
    clock.advance(10)
    out = build(cat)  # a plain (sync) build collects the edits and renders the thumbnails
    assert "collected batch" in out
    assert sync_calls(emu) == 0 and len(batches(emu)) == 2
    assert all(n == 1 for n in emu.billed.values()) and len(emu.billed) == 6

    doc = manifest(cat)
    entries = {e["key"]: e for e in doc["variants"]}
    assert all(e["status"] == "fresh" for e in entries.values()), entries
    sent = output_images(emu)
    for e in entries.values():
        data = (cat / "out" / e["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"]
        if e["operation"] == "render":
            continue
        image, usage = sent[e["cache_key"]]
        assert data == image  # byte for byte what the vendor's output file held
        assert e["lane"] == "batch" and e["batch_id"].startswith("batch_") and e["billed_basis"] == "usage tokens"
        assert e["billed_usd"] == pytest.approx(pricing.cost_from_usage(usage, lane="batch"), abs=1e-6)
        assert e["billed_usd"] == pytest.approx(pricing.cost_from_usage(usage) / 2, abs=1e-6)
    edit_batch = [b for b in batches(emu) if b.endpoint == "/v1/images/edits"][0]
    for req in edit_batch.requests:  # edit inputs went as data URLs of the collected upstream images
        url = req["body"]["images"][0]["image_url"]
        assert url.startswith("data:image/png;base64,")
        up = entries[f"c/hero/{req['body']['prompt'].split()[2]}"]
        assert base64.b64decode(url.split(",", 1)[1]) == (cat / "out" / up["path"]).read_bytes()
    assert "nothing to do" in build(cat)


def test_a_batch_that_expires_half_done(tmp_path, emu, clock):
    emu.timing.window_s = 3  # validating 1 s, then two lines a second: half of 8 done at expiry
    cat = catalog(tmp_path / "cat", emu, gens=8, edits=0, lane="batch")
    build(cat)
    clock.advance(10)
    out = build(cat)
    assert "(expired): 4 of 8 image(s) stored" in out
    assert out.count("batch_expired") == 4 and out.count("not billed: goes into a new batch") == 4
    assert "4 variant(s) for /v1/images/generations" in out  # the unbilled half, in a new batch
    assert len(batches(emu)) == 2
    clock.advance(10)
    out = build(cat)
    assert "4 of 4 image(s) stored" in out
    assert sorted(emu.billed.values()) == [1] * 8 and sync_calls(emu) == 0
    assert all(e["status"] == "fresh" for e in manifest(cat)["variants"])


def test_a_build_killed_between_submit_and_collect_loses_nothing(tmp_path, emu, clock):
    cat = catalog(tmp_path / "cat", emu, gens=4, edits=0)
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")} | ENV
    proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(cat), "build", "--lane", "batch", "--wait"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not emu._batches and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # now polling the batch (the clock does not move: it stays in progress)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    rows = plan_json(cat, env=ENV)
    assert all("in batch batch_" in r["reason"] and r["estimated_cost_usd"] == 0 for r in rows.values())
    clock.advance(10)
    out = build(cat)  # the sync lane: it collects, it does not pay again
    assert "4 of 4 image(s) stored" in out
    assert len(batches(emu)) == 1 and sync_calls(emu) == 0 and sorted(emu.billed.values()) == [1] * 4
    assert all(e["status"] == "fresh" for e in manifest(cat)["variants"])


def test_a_lost_create_answer_is_found_again_never_created_twice(tmp_path, emu, clock):
    cat = catalog(tmp_path / "cat", emu, gens=3, edits=0, retries=0)
    emu.inject("disconnect_after_create", on="/batches", method="POST")
    emu.inject("500", on="/batches", method="GET", times=2)  # and the lookup fails at first too
    out = build(cat, "--lane", "batch")
    assert "answer lost" in out
    assert len(batches(emu)) == 1
    open_records = list((cat / ".assetpipe" / "cache" / "batches" / "open").iterdir())
    assert len(open_records) == 1 and json.loads(open_records[0].read_text())["state"] == "submitting"
    rows = plan_json(cat, env=ENV)  # the submitting build is gone: plan finds the batch by its token
    assert all("in batch batch_" in r["reason"] for r in rows.values()), rows
    clock.advance(10)
    out = build(cat, "--lane", "batch")
    assert "3 of 3 image(s) stored" in out
    assert len(batches(emu)) == 1 and sorted(emu.billed.values()) == [1] * 3


def test_a_schedule_tick_of_a_batch_lane_campaign_submits_then_collects(tmp_path, emu, clock, monkeypatch):
    from pipelines.orchestration.schedules import batch_tick
    from pipelines.plan.project import Project

    cat = catalog(tmp_path / "cat", emu, gens=2, edits=0)
    text = (cat / "campaigns" / "c.yaml").read_text().replace("campaign: c\n", "campaign: c\nlane: batch\n")
    (cat / "campaigns" / "c.yaml").write_text(text)
    monkeypatch.setenv(KEY_ENV, KEY)
    todo, estimate, note, _ = batch_tick(Project.load(cat), ["c/*"])
    assert todo == [] and "submitted batch batch_" in note and len(batches(emu)) == 1
    todo, _, note, _ = batch_tick(Project.load(cat), ["c/*"])
    assert todo == [] and "pending batch" in note  # still running: nothing submitted again
    clock.advance(10)
    todo, estimate, note, _ = batch_tick(Project.load(cat), ["c/*"])
    assert "2 of 2 image(s) stored" in note
    assert sorted(p.key for p in todo) == ["c/hero/0", "c/hero/1"] and estimate == 0.0  # cache hits: free
    assert len(batches(emu)) == 1 and sync_calls(emu) == 0


def test_a_partially_failed_batch_retries_only_what_was_not_billed(tmp_path, emu, clock):
    cat = catalog(tmp_path / "cat", emu, gens=3, edits=0, lane="batch")
    keys = {r["key"]: r["cache_key"] for r in plan_json(cat, env=ENV).values()}
    emu.inject_line("moderation", custom_id=keys["c/hero/0"])  # a 400 line: not billed
    emu.inject_line("truncated_image", custom_id=keys["c/hero/1"])  # a 200 with a broken image: billed
    build(cat)
    clock.advance(10)
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 1, out + err  # a billed failure is this build's failure
    assert "1 of 3 image(s) stored" in out
    assert "c/hero/0" in out and "moderation" in out and "not billed: goes into a new batch" in out
    assert "c/hero/1" in out and "billed: not sent again on its own (--refresh pays again)" in out
    assert "1 variant(s) for /v1/images/generations" in out  # only the unbilled one, in a new batch
    clock.advance(10)
    code, out, err = run_cli("build", catalog=cat, env=ENV)
    assert code == 1 and "1 of 1 image(s) stored" in out
    assert "c/hero/1" in out and "--refresh" in out  # still reported, still not paid again
    assert emu.billed[(next(iter(emu.billed))[0], keys["c/hero/1"])] == 1
    assert len(batches(emu)) == 2 and sync_calls(emu) == 0
    code, out, err = run_cli("build", "--refresh", "--select", "c/hero/1", catalog=cat, env=ENV)
    assert code == 0, out + err
    assert sync_calls(emu) == 1 and all(e["status"] == "fresh" for e in manifest(cat)["variants"])


def test_two_builds_that_planned_the_same_keys_submit_them_once(tmp_path, emu, clock, monkeypatch):
    """A schedule tick and a manual build (or two machines) plan the same missing keys at once:
    submitting is one build at a time, and the second finds the keys in the first one's batch."""
    from pipelines.batch.lane import BatchLane
    from pipelines.plan.project import Project
    from pipelines.plan.worklist import plan_build

    monkeypatch.setenv(KEY_ENV, KEY)
    cat = catalog(tmp_path / "cat", emu, gens=3, edits=0, lane="batch")
    first, second = Project.load(cat), Project.load(cat)
    _, todo_first, _ = plan_build(first)
    _, todo_second, _ = plan_build(second)  # planned before the first one submitted
    BatchLane(first, echo=lambda m: None).submit(todo_first)
    said: list[str] = []
    sub = BatchLane(second, echo=said.append).submit(todo_second)
    assert len(batches(emu)) == 1 and sub.records == [] and len(sub.taken) == 3
    assert sum("another build got there first (in batch batch_" in m for m in said) == 3, said
    clock.advance(10)
    out = build(cat)
    assert "3 of 3 image(s) stored" in out and sorted(emu.billed.values()) == [1] * 3


@pytest.mark.deploy
def test_the_batch_lane_on_an_s3_cache(tmp_path, emu, clock, s3_env):
    """The lane's records live in the bucket: a build on another machine (another catalog directory,
    the same bucket) sees the open batch, never submits it again, and collects it; a bucket that is
    gone is a clear StoreError before anything is sent."""
    bucket = s3_env.bucket()
    env = ENV | s3_env.env
    here = catalog(tmp_path / "here", emu, gens=2, edits=0, lane="batch", cache=f"s3://{bucket}/team")
    there = catalog(tmp_path / "there", emu, gens=2, edits=0, lane="batch", cache=f"s3://{bucket}/team")
    code, out, err = run_cli("build", catalog=here, env=env)
    assert code == 0 and "submitted batch batch_" in out, out + err
    assert [k for k in s3_env.keys(bucket) if k.startswith("team/batches/open/")]
    rows = plan_json(there, env=env)  # another machine: only the bucket in common
    assert all("in batch batch_" in r["reason"] and r["estimated_cost_usd"] == 0 for r in rows.values()), rows
    code, out, err = run_cli("build", catalog=there, env=env)
    assert code == 0 and "submitted batch" not in out and len(batches(emu)) == 1, out + err
    clock.advance(10)
    code, out, err = run_cli("build", catalog=there, env=env)
    assert code == 0 and "2 of 2 image(s) stored" in out, out + err
    keys = s3_env.keys(bucket)
    assert not [k for k in keys if k.startswith("team/batches/open/")]
    assert len([k for k in keys if k.startswith("team/batches/closed/")]) == 1
    assert sorted(emu.billed.values()) == [1, 1] and sync_calls(emu) == 0

    gone = catalog(tmp_path / "gone", emu, gens=3, edits=0, lane="batch", cache="s3://no-such-bucket-a1b2/c")
    code, out, err = run_cli("build", catalog=gone, env=env)
    assert code == 1 and "Traceback" not in out + err and "no-such-bucket-a1b2" in out + err, out + err
    assert "cannot" in (out + err) and len(batches(emu)) == 1 and KEY not in out + err
