"""A vendor, or a proxy in front of it, that echoes the API key back (in x-request-id, in
OpenAI's error.param, in a job's failure text) must not make assetpipe write it anywhere: not on
stdout or stderr, not in the cache, the journal, the manifest, the gallery, nor Dagster's storage.
Every vendor-supplied string passes through the same redaction as error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.eachlabs import EachLabsEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.emulators.runapi import RunApiEmulator
from tests.helpers.catalogs import manifest
from tests.helpers.cli import run_cli
from tests.helpers.paid import ENV, paid_catalog
from tests.helpers.vendors import TEST_KEY

pytestmark = pytest.mark.slow

FAILING = {  # vendor -> (emulator, the fault that makes a call fail, where it is injected)
    "openai": (OpenAIEmulator, "400", "/images/generations"),
    "eachlabs": (EachLabsEmulator, "job_failed", "/v1/prediction"),
    "runapi": (RunApiEmulator, "job_failed", "/api/v1/gpt_image_2"),
}


def files_holding(root: Path, secret: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


@pytest.mark.parametrize("vendor", sorted(FAILING))
def test_a_key_echoed_by_the_vendor_is_written_and_printed_nowhere(vendor, tmp_path):
    emulator, fault, path = FAILING[vendor]
    with emulator() as emu:
        emu.echo_key = True
        emu.inject(fault, on=path, method="POST")
        cat = paid_catalog(tmp_path / "cat", emu, vendor, 3, max_concurrency=1, max_retries=0)
        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 1, out + err  # one variant failed, with the key in what the vendor said
    assert TEST_KEY not in out + err
    assert files_holding(tmp_path, TEST_KEY.encode()) == []
    entries = manifest(cat)["variants"]
    failed = [e for e in entries if e.get("error")]
    assert len(failed) == 1 and "***" in failed[0]["error"], failed  # the echo arrived, redacted
    if vendor == "openai":  # x-request-id carried the key on every answer: the id is kept, redacted
        assert {e["request_id"] for e in entries if not e.get("error")} == {"***"}
