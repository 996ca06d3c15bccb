"""A RunAPI gpt-image-2 emulator on 127.0.0.1 (docs/protocols.md, RunAPI).

Faithful where clients trip: `Idempotency-Key` (a replay answers the same task with
`task_replayed: true`; the same key with another body is a 409), `X-Client-Request-Id` echoed,
`X-RunAPI-Task-Id` on create, the documented aspect ratios and 1k/2k/4k tiers (1:1 has no 4k,
auto only 1k), unknown fields refused (there is no quality/n/background/format), every status
spelling (configurable per test), error messages in `message`, `error`, `detail` or `errors[0]`
(`error_style`), 429 with Retry-After in seconds or as an HTTP date, source images that must be
public HTTPS URLs under our `public_url`, failed tasks that cost 0.

A task is an async job (tests/emulators/jobs.py: its life, its content faults, queued with
`emu.inject(kind, on="/api/v1/gpt_image_2", method="POST")`); `emu.tasks` are the jobs.

    python -m tests.emulators.runapi --port 8302 --latency 40
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import time
from typing import Any

from tests.emulators.harness import Reply, Request, json_reply, main
from tests.emulators.jobs import AsyncJobEmulator, Job
from tests.helpers.images import make_image

PREFIX = "/api/v1/gpt_image_2/"
ACTIONS = ("text_to_image", "edit_image")
RATIOS = ["auto", "1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "2:1", "1:2", "3:1", "1:3",
          "21:9", "9:21"]
TIERS = {"1k": 0.06, "2k": 0.10, "4k": 0.16}
TIER_PIXELS = {"1k": 1024 * 1024, "2k": 2048 * 2048, "4k": 3840 * 2160}
FIELDS = {"model", "prompt", "aspect_ratio", "output_resolution", "callback_url", "source_image_urls"}


def output_size(ratio: str, tier: str) -> tuple[int, int]:
    """The image a tier draws at a ratio: about the tier's pixel count, sides multiples of 16."""
    a, b = (1, 1) if ratio == "auto" else map(int, ratio.split(":"))
    pixels = TIER_PIXELS[tier]
    w = math.sqrt(pixels * a / b)
    h = w * b / a
    return max(16, int(w // 16) * 16), max(16, int(h // 16) * 16)


class RunApiEmulator(AsyncJobEmulator):
    """Knobs are plain attributes: set them in a test before (or between) calls."""

    name = "runapi"
    cli_options = {"public_url": (str, None, "source images must lie under this https URL")}
    failures = {
        "job_failed": ("failed", "Generation failed upstream"),
        "moderation": ("failed", "Request blocked by the content policy (moderation)"),
        "cancelled": ("cancelled", "Task was canceled"),
    }

    def __init__(
        self,
        *,
        created_status: str = "pending",
        running_statuses: tuple[str, ...] = ("pending", "processing", "running"),
        cancelled_status: str = "canceled",
        error_style: str = "message",  # message | error | detail | errors
        retry_after_style: str = "date",  # date | seconds
        **kw: Any,  # latency (a task's run time), limit, public_url, request_delay, statuses: see jobs.py
    ):
        super().__init__(running_statuses=running_statuses, cancelled_status=cancelled_status, **kw)
        self.created_status = created_status
        self.error_style = error_style
        self.retry_after_style = retry_after_style
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}  # (key id, Idempotency-Key) -> (body hash, task)

    @property
    def tasks(self) -> dict[str, Job]:
        return self.jobs

    # -- vendor shapes
    def _err(self, status: int, message: str, headers: dict | None = None) -> Reply:
        style = self.error_style
        body: dict[str, Any]
        if style == "errors":
            body = {"errors": [{"message": message}]}
        elif style in ("error", "detail"):
            body = {style: message}
        else:
            body = {"message": message, "code": status}
        return json_reply(body, status, headers)

    def error_reply(self, req: Request, status: int, message: str) -> Reply:
        return self._err(status, message)

    def unauthorized(self, req: Request) -> Reply:
        return self._err(401, "Invalid API key")

    def rate_limited(self, req: Request, retry_after: float) -> Reply:
        if self.retry_after_style == "date":
            # HTTP dates have whole seconds: round up so the client never comes back early
            value = email.utils.formatdate(math.ceil(time.time() + retry_after), usegmt=True)
        else:
            value = f"{retry_after:g}"
        return self._err(429, "Rate limit exceeded: too many tasks in flight", {"retry-after": value})

    def is_create(self, path: str) -> bool:
        return path.startswith(PREFIX)

    # -- routes
    def handle(self, req: Request) -> Reply | None:
        if not req.path.startswith(PREFIX):
            return self._err(404, f"no route for {req.method} {req.path}")
        rest = req.path[len(PREFIX):].strip("/").split("/")
        if rest[0] not in ACTIONS:
            return self._err(404, f"unknown endpoint {req.path}")
        if req.method == "POST" and len(rest) == 1:
            reply = self._create(req, rest[0])
        elif req.method == "GET" and len(rest) == 2:
            reply = self._get(req, rest[0], rest[1])
        else:
            reply = self._err(404, f"no route for {req.method} {req.path}")
        if reply is not None and req.headers.get("x-client-request-id"):
            reply.headers["X-Client-Request-Id"] = req.headers["x-client-request-id"]
        return reply

    def _validate(self, action: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a JSON object"
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            return f"unknown field(s): {', '.join(unknown)}"
        if body.get("model") != "gpt-image-2":
            return "model must be gpt-image-2"
        if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            return "prompt is required"
        ratio = body.get("aspect_ratio", "auto")
        tier = body.get("output_resolution", "1k")
        if ratio not in RATIOS:
            return f"aspect_ratio must be one of {', '.join(RATIOS)}"
        if tier not in TIERS:
            return "output_resolution must be 1k, 2k or 4k"
        if ratio == "1:1" and tier == "4k":
            return "1:1 is not available at 4k"
        if ratio == "auto" and tier != "1k":
            return "aspect_ratio auto is only available at 1k"
        return self._sources_problem(action, body.get("source_image_urls"))

    def _sources_problem(self, action: str, urls: Any) -> str | None:
        if action == "text_to_image":
            return "source_image_urls is only accepted by edit_image" if urls is not None else None
        if not isinstance(urls, list) or not 1 <= len(urls) <= 16:
            return "source_image_urls must hold 1 to 16 URLs"
        for url in urls:
            bad = self.url_problem(url)
            if bad:
                return f"source_image_urls: {bad}"
        return None

    def _create(self, req: Request, action: str) -> Reply | None:
        body = req.json
        problem = self._validate(action, body)
        if problem:
            return self._err(422 if isinstance(body, dict) else 400, problem)
        digest = hashlib.sha256(json.dumps([action, body], sort_keys=True).encode()).hexdigest()
        idem = req.headers.get("idempotency-key")
        with self.jobs_lock:
            self._sweep()
            if idem:
                seen = self.idempotency.get((req.key_id, idem))
                if seen is not None:
                    if seen[0] != digest:
                        return self._err(409, "Idempotency-Key was already used with a different request body")
                    task = self.jobs[seen[1]]
                    return json_reply(self._view(task) | {"task_replayed": True}, 200,
                                      {"X-RunAPI-Task-Id": task.id})
            task = self.start_job(req, action, body)
            if task is None:
                return self.rate_limited(req, self.retry_after)
            if idem:
                self.idempotency[(req.key_id, idem)] = (digest, task.id)
        if self.answer_lost(req, task):
            return None
        return json_reply({"id": task.id, "status": self.created_status}, 200, {"X-RunAPI-Task-Id": task.id})

    # -- the life of a task
    def result(self, job: Job) -> tuple[bytes, str, float]:
        tier = job.input.get("output_resolution", "1k")
        w, h = output_size(job.input.get("aspect_ratio", "auto"), tier)
        return make_image(w, h, "png"), "png", TIERS[tier]

    def _view(self, task: Job, status: str | None = None) -> dict[str, Any]:
        if status is None:
            status = self.created_status if task.state == "running" else self.status_of(task)
        body: dict[str, Any] = {"id": task.id, "status": status, "model": "gpt-image-2"}
        if task.state == "completed":
            body["images"] = [{"url": task.url}] if task.url else []
            body["usage"] = {"cost": task.cost}
        elif task.state in ("failed", "cancelled"):
            body["error"] = task.error
            body["usage"] = {"cost": 0}
        return body

    def _get(self, req: Request, action: str, task_id: str) -> Reply:
        polled = self.poll(req, task_id, action)
        if polled is None:
            return self._err(404, f"task {task_id} not found")
        task, running = polled
        return json_reply(self._view(task, running))


if __name__ == "__main__":
    main(RunApiEmulator)
