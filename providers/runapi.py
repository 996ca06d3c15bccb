"""RunAPI gpt-image-2 tasks (docs/protocols.md §4): idempotent create, poll, download.

RunAPI honours an `Idempotency-Key`: a create replayed with the same key returns the same task
(`task_replayed: true`) instead of starting a second one, so unlike EachLabs a create whose
answer was lost is simply retried. The key is derived from the request's cache_key, which also
lets two processes building the same variant share one paid task.

The key includes the take. Which take a call starts at comes from the journal of paid calls
(providers.calls): the take an earlier build left in flight is collected by its task id, or replayed
through its key (free either way); otherwise the take after the last one used, so `--refresh` and a
result that proved unusable pay for a new task instead of replaying the old one. A replayed task
that failed (failures are free), whose result URL expired or whose image does not decode makes the
call go on to the next take. A task that this call started and that fails is final:
JobFailedError / ModerationBlocked.

Sizes: `aspect_ratio` is the nearest documented ratio and `output_resolution` the smallest tier at
least as large as asked; ImageProvider.run brings the result to exactly WxH.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from providers import calls, http, pricing
from providers.base import Capabilities, ImageProvider, ImageRequest, RawImage
from providers.errors import (
    JobFailedError,
    ModerationBlocked,
    ProtocolError,
    ProviderError,
    RejectedError,
    UnsupportedError,
)
from providers.sizes import decode, nearest_ratio
from providers.uploads import public_url_problem

DEFAULT_BASE_URL = "https://runapi.ai"
PATHS = {"generate": "/api/v1/gpt_image_2/text_to_image", "edit": "/api/v1/gpt_image_2/edit_image"}
RATIOS = ["1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "2:1", "1:2", "3:1", "1:3", "21:9", "9:21"]

RUNNING = {"pending", "processing", "queued", "running", "in_progress", "starting", "created"}
COMPLETED = {"completed", "success", "complete", "succeeded", "finished"}
FAILED = {"failed", "error", "canceled", "cancelled", "timeout", "timed_out"}
MAX_TAKES = 8  # replayed tasks that failed or expired before we start a fresh one; each replay is free
UNREADABLE_ANSWERS = 3  # consecutive garbled answers before giving up
_MODERATION_WORDS = ("moderation", "safety system", "content policy", "nsfw")


# ---------------------------------------------------------------- pure helpers (tested with tables)


def status_of(body: dict[str, Any]) -> str:
    return str(body.get("status") or "").strip().lower().replace(" ", "_")


def aspect_ratio(width: int, height: int) -> str:
    return nearest_ratio(width, height, RATIOS)


def output_resolution(width: int, height: int, ratio: str) -> str:
    """1k/2k/4k: the smallest tier at least as large as asked (1:1 has no 4k tier); the price
    table owns the rule because the tier is also the price."""
    return pricing.runapi_tier(width, height, ratio)


def idempotency_key(cache_key: str, take: int = 0) -> str:
    """Stable per cache_key (and take): a retried create is the same task, never a second bill."""
    return "assetpipe-" + hashlib.sha256(f"{cache_key}:{take}".encode()).hexdigest()[:40]


def failure_message(body: Any) -> str | None:
    """RunAPI puts a message in `message`, `error`, `detail` or `errors[0]`, as a string or an object."""
    if not isinstance(body, dict):
        return None
    for key in ("error", "message", "detail", "errors"):
        value = body.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("message") or value.get("msg") or value.get("detail")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def image_urls(body: dict[str, Any]) -> list[str]:
    urls = []
    for item in body.get("images") or []:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url.strip():
            urls.append(url.strip())
    return urls


def cost_of(body: dict[str, Any]) -> float | None:
    usage = body.get("usage")
    value = usage.get("cost") if isinstance(usage, dict) else None
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- the provider


class _Stale(Exception):
    """A replayed task cannot give us an image (it failed, its result expired or does not
    decode): take again."""


def _decodes(data: bytes) -> bool:
    try:
        decode(data)
        return True
    except ProviderError:
        return False


class RunApiProvider(ImageProvider):
    type_name = "runapi"
    resume_by = "take"  # the same take's Idempotency-Key replays its task, whoever sent it first

    @property
    def base_url(self) -> str:
        return (self.config.base_url or DEFAULT_BASE_URL).rstrip("/")

    def capabilities(self) -> Capabilities:
        return Capabilities(mask=False, max_input_images=16, needs_public_urls=True)

    def estimate_cost(self, req: ImageRequest) -> float:
        # the tier we will actually ask for (nearest ratio included), which is what is billed
        ratio = aspect_ratio(req.width, req.height)
        return pricing.RUNAPI_TIER_USD[output_resolution(req.width, req.height, ratio)]

    def body_for(self, req: ImageRequest, source_urls: list[str]) -> tuple[dict[str, Any], str]:
        ratio = aspect_ratio(req.width, req.height)
        tier = output_resolution(req.width, req.height, ratio)
        body: dict[str, Any] = {"model": req.model, "prompt": req.prompt, "aspect_ratio": ratio, "output_resolution": tier}
        if req.operation == "edit":
            body["source_image_urls"] = source_urls
        return body, f"{ratio}@{tier}"

    async def _generate(self, req: ImageRequest) -> RawImage:
        return await self._task(req, [])

    async def _edit(self, req: ImageRequest) -> RawImage:
        if self.uploader is None:
            raise UnsupportedError(
                f"provider '{self.name}' needs input images as public URLs: set `uploads:` in catalog.yaml",
                provider=self.name,
            )
        if not 1 <= len(req.images) <= 16:
            raise UnsupportedError(f"an edit takes 1 to 16 input images, got {len(req.images)}", provider=self.name)
        urls = [await self.uploader.url_for(img) for img in req.images]
        for url in urls:
            problem = public_url_problem(url)
            if problem:
                raise RejectedError(f"input image URL refused: {problem}", provider=self.name)
        return await self._task(req, urls)

    async def _task(self, req: ImageRequest, source_urls: list[str]) -> RawImage:
        """Take after take until one gives an image. The journal says where to start: the take an
        earlier build left in flight (collected, free), else the one after the last take used."""
        body, vendor_size = self.body_for(req, source_urls)
        self.api_key  # a missing key fails here, before any network call
        path = f"{self.base_url}{PATHS[req.operation]}"
        journal = calls.current()
        resume = journal.resume
        start = resume.take if resume is not None else journal.first_take
        for take in range(start, start + MAX_TAKES):
            try:
                if resume is not None and take == resume.take and resume.job_id:
                    collected = await self._collect(path, resume.job_id, vendor_size)
                    if collected is not None:
                        return collected
                return await self._one_take(req, path, body, take, vendor_size)
            except _Stale:
                continue
        raise JobFailedError(
            f"the {MAX_TAKES} tasks from take {start} on failed or their results expired (each was free); "
            "the next build starts a fresh take", provider=self.name,
        )

    async def _create(self, path: str, body: dict, headers: dict) -> tuple[dict[str, Any], str]:
        """POST the task; an unreadable answer is asked again, which the Idempotency-Key makes safe."""
        for attempt in range(UNREADABLE_ANSWERS):
            try:
                resp = await http.send(self, "POST", path, json=body, headers=headers, idempotent=True, create=True)
            except RejectedError as exc:
                if exc.status == 409:
                    exc.args = (f"{exc.args[0]} (this cache_key was sent before with a different body: "
                                "did uploads.public_url or the provider settings change?)",)
                raise
            try:
                created = http.json_body(resp, self)
            except ProtocolError:
                if attempt + 1 >= UNREADABLE_ANSWERS:
                    raise
                continue
            task_id = (created.get("id") or created.get("task_id") if isinstance(created, dict) else None) \
                or resp.headers.get("x-runapi-task-id")
            if not isinstance(task_id, str) or not task_id:
                raise ProtocolError("create answered without a task id", provider=self.name)
            return (created if isinstance(created, dict) else {}), task_id
        raise AssertionError("unreachable")

    async def _one_take(self, req: ImageRequest, path: str, body: dict, take: int, vendor_size: str) -> RawImage:
        headers = {"Idempotency-Key": idempotency_key(req.cache_key, take), "X-Client-Request-Id": uuid.uuid4().hex}
        journal = calls.current()
        await journal.sending(take, calls.fingerprint(path, body, take))
        created, task_id = await self._create(path, body, headers)
        await journal.job(task_id)
        replayed = created.get("task_replayed") is True
        final = created if status_of(created) in COMPLETED | FAILED else None
        return await self._finish(path, task_id, final, replayed=replayed, vendor_size=vendor_size)

    async def _collect(self, path: str, task_id: str, vendor_size: str) -> RawImage | None:
        """A task an earlier build created, by its id; None when the vendor no longer knows it
        (then its take is replayed through the Idempotency-Key instead)."""
        try:
            return await self._finish(path, task_id, None, replayed=True, vendor_size=vendor_size)
        except RejectedError as exc:
            if exc.status == 404:
                return None
            raise

    async def _finish(self, path: str, task_id: str, final: dict | None, *, replayed: bool,
                      vendor_size: str) -> RawImage:
        """Wait for the task, then download its image. A replayed task (one an earlier call paid
        for) that failed, expired or gave an unusable image is stale: the caller takes again."""
        try:
            final = final or await self._wait(path, task_id)
            status = status_of(final)
            if status in FAILED:
                if replayed:  # an earlier take failed (free of charge): start the next one
                    raise _Stale()
                reason = http.redact(failure_message(final) or "no reason given", http.secrets_of(self))[:500]
                cls = ModerationBlocked if any(w in reason.lower() for w in _MODERATION_WORDS) else JobFailedError
                raise cls(f"task {status}: {reason}", provider=self.name, vendor_message=reason)
            urls = image_urls(final)
            if not urls:
                raise ProtocolError("task completed with no image URL", provider=self.name)
            try:
                data = await http.download(self, urls[0])  # result URLs are temporary: fetch now
            except ProtocolError as exc:
                if replayed and exc.status in (403, 404, 410):  # an earlier take's result has expired
                    raise _Stale() from exc
                raise
            if replayed and not await asyncio.to_thread(_decodes, data):  # an earlier take's unusable result
                raise _Stale()
        except ProviderError as exc:
            exc.request_id = exc.request_id or task_id
            raise
        cost = cost_of(final)
        return RawImage(data=data, request_id=task_id, cost_usd=cost, vendor_size=vendor_size,
                        replayed=replayed, billed_basis="usage.cost" if cost is not None else None)

    async def _wait(self, path: str, task_id: str) -> dict[str, Any]:
        url = f"{path}/{task_id}"

        unreadable = 0

        async def fetch() -> dict[str, Any]:
            nonlocal unreadable
            resp = await http.send(self, "GET", url, idempotent=True)
            try:
                body = http.json_body(resp, self)
                if not isinstance(body, dict):
                    raise ProtocolError("task status is not a JSON object", provider=self.name)
            except ProtocolError:
                # a garbled status answer is a read gone wrong, not the task's fate: ask again
                unreadable += 1
                if unreadable >= UNREADABLE_ANSWERS:
                    raise
                return {}
            unreadable = 0
            return body

        return await http.poll(
            fetch, lambda b: status_of(b) in COMPLETED | FAILED,
            interval=self.config.poll_interval_s, deadline=self.config.deadline_s,
            max_interval=max(self.config.poll_interval_s, 10.0), what=f"task {task_id}", provider=self.name,
        )
