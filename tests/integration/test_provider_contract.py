"""The contract every vendor keeps, one suite over the four vendor emulators: a 429 is retried and
succeeds; 5xx until the retries run out fails with a retryable error; a bad key is an auth error
and the key shows up nowhere; a moderation block is a rejection, never retried; an answer lost
after the request was sent is reported "maybe billed", unless the vendor's idempotency makes the
retry safe (RunAPI's Idempotency-Key: one task, paid once).

The real provider classes run against the emulators over HTTP on 127.0.0.1, first on their own
(the error's class), then through the engine the Dagster asset runs, to see what a build reports
and records. What differs per vendor is in CONTRACTS; the vendors' own quirks are tested in
test_provider_<vendor>.py."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from pipelines.engine.engine import Engine
from pipelines.engine.outcome import Outcome
from pipelines.outputs.write import write_outputs
from pipelines.plan.project import Project
from providers.errors import (
    AmbiguousError,
    AuthError,
    ModerationBlocked,
    ProviderError,
    RejectedError,
    RetryableError,
)
from tests.emulators.eachlabs import EachLabsEmulator
from tests.emulators.gptimageapi import GptImageApiEmulator
from tests.emulators.harness import Emulator
from tests.emulators.jobs import AsyncJobEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.emulators.runapi import RunApiEmulator
from tests.helpers.catalogs import write_catalog
from tests.helpers.images import image_size
from tests.helpers.providers import PUBLIC_URL, VENDORS, fails, image_request, make_provider, run

WRONG_KEY = "sk-wrong-TESTKEY-0badc0ffee51"


@dataclass(frozen=True)
class Contract:
    vendor: str
    emulator: Callable[..., Emulator]
    create: str  # the path of the paid call (a generation, or a job's create): faults are queued on it
    lost_answer: str  # the fault that loses the create's answer after the vendor has it
    idempotent: bool  # a lost create is asked again safely: one job, paid once


CONTRACTS = {
    "openai": Contract("openai", OpenAIEmulator, "/images/generations", "timeout", idempotent=False),
    "gptimageapi": Contract("gptimageapi", GptImageApiEmulator, "/v1/images/generate", "timeout", idempotent=False),
    "eachlabs": Contract("eachlabs", lambda **kw: EachLabsEmulator(public_url=PUBLIC_URL, **kw), "/v1/prediction",
                         "timeout_after_create", idempotent=False),
    "runapi": Contract("runapi", lambda **kw: RunApiEmulator(public_url=PUBLIC_URL, retry_after_style="seconds",
                                                             **kw), "/api/v1/gpt_image_2", "timeout_after_create",
                       idempotent=True),
}
ASYNC_VENDORS = ["eachlabs", "runapi"]  # a create starts a job that is polled to its end


@pytest.fixture(params=list(CONTRACTS))
def contract(request) -> Contract:
    return CONTRACTS[request.param]


@pytest.fixture
def emu(contract: Contract):
    with contract.emulator(keys={VENDORS[contract.vendor].key}, retry_after=0.01) as e:
        yield e


def creates(contract: Contract, emu: Emulator) -> list:
    """Every paid call the vendor was sent, in order (the ones turned away included)."""
    return emu.requests("POST", contract.create)


def jobs(emu: Emulator) -> int | None:
    """Jobs an async vendor started (each one is billed when it completes); None for sync vendors."""
    return len(emu.jobs) if isinstance(emu, AsyncJobEmulator) else None


def texts_of(err: BaseException) -> list[str]:
    """Everything an error can show a user or a log: its text, fields and causes."""
    out = [str(err), repr(err), *map(str, err.args)]
    if isinstance(err, ProviderError):
        out += [err.vendor_message or "", err.code or "", err.request_id or ""]
    cause, seen = err.__cause__ or err.__context__, 0
    while cause is not None and seen < 10:
        out.append(repr(cause))
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return out


# -- the provider on its own ------------------------------------------------------------------------

def test_a_429_is_retried_and_succeeds(contract, emu):
    emu.inject("429", on=contract.create, method="POST", retry_after=0.01)
    res = run(make_provider(contract.vendor, emu), image_request(w=1024, h=1536))
    assert image_size(res.data)[:2] == (1024, 1536)
    assert [r.fault for r in creates(contract, emu)] == ["429", None]
    assert jobs(emu) in (None, 1)  # the turned-away create started nothing


def test_5xx_until_the_retries_run_out_fails_with_a_retryable_error(contract, emu):
    p = make_provider(contract.vendor, emu)
    tries = p.config.max_retries + 1
    emu.inject("503", on=contract.create, method="POST", times=tries)
    err = fails(p, image_request(), RetryableError)
    assert err.retryable and err.status == 503 and not err.maybe_billed
    assert len(creates(contract, emu)) == tries and emu.pending_faults() == []
    assert jobs(emu) in (None, 0)


def test_a_bad_key_is_an_auth_error_and_shows_nowhere(contract, emu, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    key = VENDORS[contract.vendor].key
    wrong = fails(make_provider(contract.vendor, emu, key=WRONG_KEY), image_request(), AuthError)
    assert wrong.status == 401 and not wrong.retryable
    # a vendor that echoes the key back in its error: the message is redacted before anyone sees it
    emu.inject("401", on=contract.create, method="POST", message=f"bad key {key} (Bearer {key})")
    echoed = fails(make_provider(contract.vendor, emu), image_request(), AuthError)
    assert echoed.status == 401 and "***" in str(echoed)
    assert len(creates(contract, emu)) == 2  # neither was retried
    out, errout = capsys.readouterr()
    shown = texts_of(wrong) + texts_of(echoed) + [out, errout, caplog.text, emu.log_text()]
    for secret in (key, WRONG_KEY):
        assert not [t for t in shown if secret in t]


def test_a_moderation_block_is_a_rejection_and_is_not_retried(contract, emu):
    emu.inject("moderation", on=contract.create, method="POST")
    err = fails(make_provider(contract.vendor, emu), image_request(), ModerationBlocked)
    assert isinstance(err, RejectedError) and not err.retryable and not err.maybe_billed
    assert len(creates(contract, emu)) == 1
    assert jobs(emu) in (None, 1)


def test_an_answer_lost_after_sending_is_maybe_billed_unless_the_retry_is_idempotent(contract, emu):
    emu.inject(contract.lost_answer, on=contract.create, method="POST", seconds=0.8)
    p = make_provider(contract.vendor, emu, timeout_s=0.3)
    if contract.idempotent:
        res = run(p, image_request())  # asked again under the same key: the vendor answers the same job
        posts = creates(contract, emu)
        assert len(posts) == 2 and jobs(emu) == 1 and res.request_id in emu.jobs
        assert len({r.headers["idempotency-key"] for r in posts}) == 1
    else:
        err = fails(p, image_request(), AmbiguousError)
        assert err.maybe_billed and "may have been billed" in str(err)
        assert len(creates(contract, emu)) == 1  # never sent again: a second call could bill a second image
        assert jobs(emu) in (None, 1)


@pytest.mark.parametrize("contract", ASYNC_VENDORS, indirect=True)
def test_a_job_past_the_deadline_is_maybe_billed_and_named(contract, emu):
    emu.run_time = 5.0  # (a deadline under ~0.3 s can expire before the first request: the client's TLS setup)
    err = fails(make_provider(contract.vendor, emu, deadline_s=1.0), image_request(), AmbiguousError)
    assert err.maybe_billed and err.request_id in emu.jobs and err.request_id in str(err)


# -- through the engine: what a build reports and records ----------------------------------------------

def build_one(root: Path, contract: Contract, emu: Emulator, **settings: Any) -> tuple[Outcome, dict[str, Any]]:
    """Build a one-variant catalog through `contract`'s vendor with the engine the Dagster asset
    runs, then write its manifest and gallery: (the outcome, its manifest entry)."""
    conf = {"type": contract.vendor, "base_url": emu.base_url, "api_key_env": VENDORS[contract.vendor].env,
            "timeout_s": 2.0, "deadline_s": 10.0, "poll_interval_s": 0.01, "max_retries": 2,
            "options": {"retry_base_s": 0.01}, "download_hosts": emu.download_hosts, **settings}
    write_catalog(root, {
        "catalog.yaml": f'check_text: "off"\ndefault_provider: {contract.vendor}\n'
                        f"providers:\n  {contract.vendor}: {json.dumps(conf)}\n",
        "campaigns/c.yaml": "campaign: c\nassets:\n  - {name: mug, prompt: A ceramic mug, size: 1024x1024}\n",
    })
    project = Project.load(root)
    plan = project.plan()
    [outcome] = Engine(project.catalog, project.store, project.planner(), project.pool).run(plan.items,
                                                                                           plan.by_key)
    write_outputs(project, project.plan(), {outcome.key: outcome})
    [entry] = json.loads((project.catalog.output_dir / "manifest.json").read_text())["variants"]
    return outcome, entry


def test_a_lost_answer_is_reported_maybe_billed_unless_the_retry_is_idempotent(contract, emu, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv(VENDORS[contract.vendor].env, VENDORS[contract.vendor].key)
    emu.inject(contract.lost_answer, on=contract.create, method="POST", seconds=0.8)
    outcome, entry = build_one(tmp_path / "catalog", contract, emu, timeout_s=0.3)
    if contract.idempotent:
        assert outcome.status == "built" and not outcome.maybe_billed and jobs(emu) == 1
        assert "maybe_billed" not in entry and entry["sha256"]
    else:
        assert outcome.status == "failed" and outcome.maybe_billed
        assert entry["status"] == "failed" and entry["maybe_billed"] is True
        assert "may have been billed" in entry["error"]
        assert len(creates(contract, emu)) == 1


@pytest.mark.parametrize("echoed", [False, True], ids=["refused", "echoed-back"])
def test_a_bad_key_fails_the_variant_and_is_written_nowhere(contract, emu, echoed, tmp_path, monkeypatch, capsys,
                                                            caplog):
    caplog.set_level(logging.DEBUG)
    key = VENDORS[contract.vendor].key if echoed else WRONG_KEY
    monkeypatch.setenv(VENDORS[contract.vendor].env, key)
    if echoed:  # the vendor's 401 repeats the key it was sent
        emu.inject("401", on=contract.create, method="POST", message=f"bad key {key} (Bearer {key})")
    root = tmp_path / "catalog"
    outcome, entry = build_one(root, contract, emu)
    assert outcome.status == "failed" and not outcome.maybe_billed and "HTTP 401" in outcome.error
    assert entry["status"] == "failed" and entry["sha256"] is None and entry["error"] == outcome.error
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files) and any(p.name == "index.html" for p in files)
    assert not [p for p in files if key.encode() in p.read_bytes()]
    out, errout = capsys.readouterr()
    assert not [t for t in (out, errout, caplog.text, outcome.error, emu.log_text()) if key in t]
