"""The draft provider across processes and through OCR: the same request draws the same bytes
under another hash seed, and its text reads back (real OCR, seconds per image)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from tests.helpers.paths import ROOT
from tests.helpers.providers import draft_request, run_draft


def test_same_bytes_in_another_process():
    code = (
        "import asyncio, hashlib, sys;"
        "from providers.base import ImageRequest, ProviderConfig;"
        "from providers.draft import DraftProvider;"
        "req = ImageRequest(cache_key='x'*64, operation='generate', prompt='p', width=640, height=400,"
        " text=('你好世界', 'Hello'), label='c/a/v');"
        "p = DraftProvider('draft', ProviderConfig(type='draft'), env={});"
        "sys.stdout.write(hashlib.sha256(asyncio.run(p.run(req)).data).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):  # a different hash seed must not change the picture
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True, timeout=60)
        digests.add(out.stdout.strip())
    here = run_draft(draft_request("x" * 64, prompt="p", width=640, height=400, text=("你好世界", "Hello"),
                                   label="c/a/v"))
    digests.add(hashlib.sha256(here.data).hexdigest())
    assert len(digests) == 1
