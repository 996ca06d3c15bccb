"""The provider interface: one abstract image provider, one module per vendor protocol.

A provider turns an `ImageRequest` into an `ImageResult`. Subclasses implement `_generate` and
(if they can) `_edit`, returning the vendor's raw bytes as a `RawImage`; `ImageProvider.run`
verifies the bytes decode as an image and brings them to exactly the requested size and format,
so nothing unverified ever reaches the store.

Registering a vendor is one module plus one line in `providers.registry` (or an entry point in
the `assetpipe.providers` group for third-party packages).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncContextManager, ClassVar, Literal, Mapping, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers import calls as call_journal
from providers.answers import redact, redact_error, redact_value, secrets_of
from providers.calls import CallJournal, ResumeBy
from providers.errors import AmbiguousError, AuthError, ProviderError, UnsupportedError
from providers.http import ProviderClient
from providers.limits import Limiter
from providers.sizes import apply_mask, conform

Operation = Literal["generate", "edit"]
DEFAULT_MODEL = "gpt-image-2"


class ProviderConfig(BaseModel):
    """One entry of `providers:` in catalog.yaml."""

    model_config = ConfigDict(extra="forbid")

    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    model: str = DEFAULT_MODEL
    max_concurrency: int = Field(default=10, ge=1, le=1000)
    requests_per_minute: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=180.0, gt=0)  # one HTTP request: connect, and each gap between bytes
    deadline_s: float = Field(default=900.0, gt=0)  # one whole call: create, polls, download, whatever the byte rate
    poll_interval_s: float = Field(default=2.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    options: dict[str, Any] = Field(default_factory=dict)  # vendor-specific knobs
    # origins results may also be downloaded from (`https://cdn.example`, `http://127.0.0.1:8301`):
    # beside them only https URLs of public addresses are fetched (providers.netpolicy)
    download_hosts: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class InputImage:
    """An input image on local disk (a ref file, or an upstream variant's blob)."""

    path: Path
    digest: str  # sha256 hex of the file's bytes
    filename: str  # a readable name for multipart uploads and logs

    @property
    def mime(self) -> str:
        ext = self.filename.rsplit(".", 1)[-1].lower()
        return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}.get(ext, "image/png")

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class ImageRequest:
    cache_key: str
    operation: Operation
    prompt: str
    width: int
    height: int
    output_format: Literal["png", "jpeg", "webp"] = "png"
    model: str = DEFAULT_MODEL
    quality: str | None = None  # low|medium|high|auto
    background: str | None = None  # transparent|opaque|auto
    compression: int | None = None  # 0-100 for jpeg/webp
    fidelity: str | None = None  # input_fidelity for edits: high|low
    n: int = 1
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    label: str = ""  # campaign/asset/variant, for logs and the draft proof
    text: tuple[str, ...] = ()  # expected in-image text
    locale: str | None = None  # the language of `text` (the draft proof shapes and breaks it by it)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass
class RawImage:
    """What a vendor returned, before verification."""

    data: bytes
    request_id: str | None = None
    cost_usd: float | None = None  # what the vendor says (or its usage implies) this call cost
    usage: dict[str, Any] | None = None
    revised_prompt: str | None = None
    vendor_size: str | None = None  # the size/ratio/tier we asked the vendor for
    replayed: bool = False  # an existing job answered (RunAPI's Idempotency-Key): no new charge
    # where cost_usd comes from when it is the vendor's own figure ("usage tokens", "metrics.cost",
    # "usage.cost"); None when cost_usd is our estimate
    billed_basis: str | None = None


@dataclass
class ImageResult:
    data: bytes  # exactly width x height, in output_format
    width: int
    height: int
    output_format: str
    provider: str
    model: str
    request_id: str | None
    cost_usd: float
    latency_s: float
    usage: dict[str, Any] | None = None
    vendor_size: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    billed_usd: float | None = None  # what the vendor reported it billed (None: it did not say)
    billed_basis: str | None = None


@dataclass(frozen=True)
class Capabilities:
    generate: bool = True
    edit: bool = True
    mask: bool = True
    max_input_images: int = 16
    formats: tuple[str, ...] = ("png", "jpeg", "webp")
    needs_public_urls: bool = False  # inputs must be uploaded to `uploads:` first


class SlotLimiter(Protocol):
    """A vendor's limits: `slot()` is held for a whole job (vendors count jobs in flight),
    `pace()` waits for the requests-per-minute budget before a create."""

    def slot(self) -> AsyncContextManager[None]: ...

    async def pace(self) -> None: ...


class InputUploader(Protocol):
    """Makes an input image reachable by a URL-only vendor (providers.uploads.Uploader)."""

    async def url_for(self, img: InputImage) -> str: ...


class ImageProvider(ABC):
    """A configured vendor endpoint (`name` is the catalog's key, e.g. `modelverse`)."""

    type_name: ClassVar[str]
    needs_key: ClassVar[bool] = True
    # how a call in flight when its build stopped is picked up again (providers.calls)
    resume_by: ClassVar[ResumeBy] = "none"

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        *,
        client: httpx.AsyncClient | None = None,  # injected (tests, benchmarks); else made on first use
        uploader: InputUploader | None = None,  # for URL-only vendors
        env: Mapping[str, str] | None = None,
        limiter: SlotLimiter | None = None,  # shared by every process when it keeps slot files
    ):
        self.name = name
        self.config = config
        self.http = ProviderClient(config, client)
        self.uploader = uploader
        self._env = os.environ if env is None else env
        self.limiter = limiter or Limiter(name, config.max_concurrency, config.requests_per_minute)

    # -- what the vendor can do: used at validation time, before anything is spent
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    def problems(self, req: ImageRequest) -> list[str]:
        """Why this request cannot be served by this vendor (empty when it can)."""
        caps = self.capabilities()
        out: list[str] = []
        if req.operation == "edit" and not caps.edit:
            out.append(f"provider '{self.name}' ({self.type_name}) has no edit endpoint; route this asset to a vendor that edits with `provider:`")
        elif req.operation == "edit" and len(req.images) > caps.max_input_images:
            out.append(
                f"provider '{self.name}' takes at most {caps.max_input_images} input images, got {len(req.images)}"
            )
        if caps.needs_public_urls and req.operation == "edit" and self.uploader is None:
            out.append(
                f"provider '{self.name}' needs input images as public URLs: set `uploads:` in catalog.yaml"
            )
        return out

    @abstractmethod
    def estimate_cost(self, req: ImageRequest) -> float:
        """USD estimate for one call, from providers.pricing (no network)."""

    # -- the calls
    @property
    def api_key(self) -> str:
        env = self.config.api_key_env
        key = self._env.get(env) if env else None
        if not key:
            raise AuthError(
                f"no API key: export {env or 'the api_key_env named in catalog.yaml'}", provider=self.name
            )
        return key

    async def run(self, req: ImageRequest, journal: CallJournal | None = None) -> ImageResult:
        """Call the vendor, then verify and conform the image. The only entry point callers use.

        `journal` hears of the create before it is sent and of the vendor's job id (providers.calls).
        The whole call is bounded by `deadline_s`, whatever the vendor's byte rate; the slot is
        released when it fires. Every vendor-supplied string that leaves here is redacted."""
        secrets = secrets_of(self)
        try:
            return await self._run(req, call_journal.Tracked(journal or call_journal.NoJournal()))
        except ProviderError as exc:
            raise redact_error(exc, secrets)

    async def _run(self, req: ImageRequest, calls: call_journal.Tracked) -> ImageResult:
        problems = self.problems(req)
        if problems:
            raise UnsupportedError("; ".join(problems), provider=self.name)
        # a vendor without masks gets the edit unmasked; the mask is then applied locally (below)
        local_mask = req.mask if (req.mask is not None and not self.capabilities().mask) else None
        call = dataclasses.replace(req, mask=None) if local_mask is not None else req
        async with self.limiter.slot():  # held for the whole job: vendors count jobs in flight
            t0 = time.monotonic()
            token = call_journal.bind(calls)
            deadline = asyncio.timeout(self.config.deadline_s)
            try:
                async with deadline:
                    raw = await (self._edit(call) if call.operation == "edit" else self._generate(call))
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise self._deadline_error(calls) from None
            finally:
                call_journal.unbind(token)
            latency = time.monotonic() - t0
        try:  # decoding and resizing are CPU work: off the event loop, so other jobs keep polling
            data, w, h = await asyncio.to_thread(
                conform, raw.data, req.width, req.height, req.output_format, req.compression, provider=self.name)
        except ProviderError as exc:
            exc.maybe_billed = True  # the vendor made (and billed) this result: it is unusable
            exc.request_id = exc.request_id or raw.request_id
            raise
        if local_mask is not None:
            data = await asyncio.to_thread(apply_mask, data, req.images[0].read(), local_mask.read(),
                                           req.output_format, req.compression)
        cost = raw.cost_usd if raw.cost_usd is not None else self.estimate_cost(req)
        secrets = secrets_of(self)
        return ImageResult(
            data=data,
            width=w,
            height=h,
            output_format=req.output_format,
            provider=self.name,
            model=req.model,
            request_id=redact(raw.request_id, secrets) if raw.request_id else None,
            cost_usd=float(cost),
            latency_s=latency,
            usage=redact_value(raw.usage, secrets),
            vendor_size=raw.vendor_size,
            extra={"replayed": True} if raw.replayed else {},
            billed_usd=float(raw.cost_usd) if raw.billed_basis and raw.cost_usd is not None else None,
            billed_basis=raw.billed_basis,
        )

    def _deadline_error(self, calls: call_journal.Tracked) -> ProviderError:
        d = f"{self.config.deadline_s:g}"
        if calls.job_id:
            return AmbiguousError(
                f"job {calls.job_id} not finished within deadline_s {d} s; it may still finish and be billed: "
                "its id is kept in the journal and the next build collects it instead of paying again",
                provider=self.name, request_id=calls.job_id)
        if calls.sent:
            return AmbiguousError(
                f"no complete answer within deadline_s {d} s: the call was sent and may have been billed; "
                "it is not re-sent", provider=self.name)
        return ProviderError(f"nothing was sent within deadline_s {d} s (nothing billed)", provider=self.name)

    @abstractmethod
    async def _generate(self, req: ImageRequest) -> RawImage: ...

    async def _edit(self, req: ImageRequest) -> RawImage:
        raise UnsupportedError(f"provider '{self.name}' ({self.type_name}) has no edit endpoint", provider=self.name)

    async def aclose(self) -> None:
        await self.http.aclose()
