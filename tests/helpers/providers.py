"""The real provider classes wired to a vendor emulator, image requests, and running a provider to
its result or its error: what the per-vendor provider tests and the contract suite share.

Settings are the vendor's usual ones made fast (retries after milliseconds, polls every 10 ms),
never a mock: every call goes over HTTP to the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from providers.base import ImageProvider, ImageRequest, InputImage, ProviderConfig
from providers.draft import DraftProvider
from providers.eachlabs import EachLabsProvider
from providers.gptimageapi import GptImageApiProvider
from providers.openai_compat import OpenAIProvider
from providers.runapi import RunApiProvider
from providers.uploads import Uploader
from tests.helpers.images import make_image

PUBLIC_URL = "https://cdn.example.test/refs"  # where uploaded inputs are served from, as vendors see it
SYNC = {"max_retries": 2, "timeout_s": 5.0, "options": {"retry_base_s": 0.005}}
ASYNC = {"timeout_s": 2.0, "deadline_s": 10.0, "poll_interval_s": 0.01, "max_retries": 3,
         "options": {"retry_base_s": 0.01}}


@dataclass(frozen=True)
class Vendor:
    cls: type[ImageProvider]
    key: str  # the test key: it must never show up in any text the client writes
    env: str  # the variable the provider reads it from
    settings: dict[str, Any] = field(default_factory=dict)
    uploads: bool = False  # takes image inputs as public URLs only


VENDORS = {
    "openai": Vendor(OpenAIProvider, "sk-proj-TESTKEY-8c1f0e9a2b7d4e6f", "OPENAI_TEST_KEY", SYNC),
    "gptimageapi": Vendor(GptImageApiProvider, "gia-live-TESTKEY-3e8d1c55a0b94f27", "GPTIMAGEAPI_TEST_KEY", SYNC),
    "eachlabs": Vendor(EachLabsProvider, "el-test-key-5f2b9c0e7d", "EACHLABS_API_KEY", ASYNC, uploads=True),
    "runapi": Vendor(RunApiProvider, "ra-test-key-8c1d44e0a9", "RUNAPI_API_KEY", ASYNC, uploads=True),
}


def make_provider(vendor: str, emu: Any, *, name: str | None = None, key: str | None = "", uploader: Any = None,
                  **cfg: Any) -> ImageProvider:
    """`vendor`'s provider class pointed at `emu`. `key`: "" for the vendor's test key, None for no
    key in the environment at all; `cfg` overrides settings (`options` are merged)."""
    v = VENDORS[vendor]
    settings = dict(v.settings)
    options = {**settings.pop("options", {}), **cfg.pop("options", {})}
    settings.update(cfg)
    settings.setdefault("download_hosts", emu.download_hosts)  # its result files: http on 127.0.0.1
    config = ProviderConfig(type=vendor, base_url=emu.base_url, api_key_env=v.env, options=options, **settings)
    extra: dict[str, Any] = {}
    if v.uploads:
        extra["uploader"] = uploader or Uploader(f"memory://{vendor}-{uuid.uuid4().hex}/refs", PUBLIC_URL)
    key = v.key if key == "" else key
    return v.cls(name or vendor, config, env={v.env: key} if key else {}, **extra)


def image_request(op: str = "generate", w: int = 1024, h: int = 1024, fmt: str = "png", *,
                  prompt: str = "a ceramic mug", cache_key: str | None = None, **kw: Any) -> ImageRequest:
    """A request with a fresh cache key unless one is given (RunAPI derives its idempotency key from it)."""
    return ImageRequest(cache_key=cache_key or uuid.uuid4().hex, operation=op, prompt=prompt, width=w, height=h,
                        output_format=fmt, **kw)


def input_image(tmp_path: Path, name: str, w: int, h: int, fmt: str = "png") -> InputImage:
    """A real image file of w x h as an edit's input."""
    data = make_image(w, h, fmt)
    path = tmp_path / name
    path.write_bytes(data)
    return InputImage(path, hashlib.sha256(data).hexdigest(), name)


def edit_request(tmp_path: Path, n: int = 1, width: int = 1024, height: int = 1024, *,
                 prompt: str = "Replace the background", **kw: Any) -> ImageRequest:
    """An edit of `n` small reference PNGs (ref0.png, ref1.png ...)."""
    images = tuple(input_image(tmp_path, f"ref{i}.png", 64 + i, 64) for i in range(n))
    return image_request("edit", width, height, prompt=prompt, images=images, **kw)


def run(p: ImageProvider, *reqs: ImageRequest, concurrent: bool = False):
    """Run the requests (one after another, or together) and close the provider's client: one
    result for one request, else a list (with the exceptions in it when concurrent)."""
    async def go():
        try:
            if concurrent:
                return await asyncio.gather(*(p.run(r) for r in reqs), return_exceptions=True)
            return [await p.run(r) for r in reqs]
        finally:
            await p.aclose()

    out = asyncio.run(go())
    return out[0] if len(reqs) == 1 else out


def fails(p: ImageProvider, req: ImageRequest, cls: type[Exception]) -> Exception:
    """The error of type `cls` that running `req` raises."""
    with pytest.raises(cls) as info:
        run(p, req)
    return info.value


def draft_request(key: str = "k" * 64, **kw: Any) -> ImageRequest:
    """A request for the offline draft provider (a 512x512 poster unless told otherwise)."""
    kw.setdefault("operation", "generate")
    kw.setdefault("prompt", 'A minimalist poster reading "Fresh" with a ceramic mug')
    kw.setdefault("width", 512)
    kw.setdefault("height", 512)
    kw.setdefault("label", "brewlab/launch_poster/en/512x512")
    return ImageRequest(cache_key=key, **kw)


def run_draft(req: ImageRequest, **options: Any):
    """The draft provider's result for `req` (`options` as in catalog.yaml)."""
    provider = DraftProvider("draft", ProviderConfig(type="draft", options=options), env={})
    return asyncio.run(provider.run(req))


class StubUploader:
    """A misconfigured storage that hands out URLs a vendor must never be sent."""

    def __init__(self, url: str):
        self.url = url

    async def url_for(self, img: InputImage) -> str:
        return self.url
