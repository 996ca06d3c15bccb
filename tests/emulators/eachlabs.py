"""An EachLabs Predictions API emulator on 127.0.0.1 (docs/protocols.md, EachLabs).

Faithful where clients trip: the live `request_schema` (with the `image_urls` array or the
`image_url` string variant), input validated against it (unknown fields are refused, so a client
that sends undeclared properties fails), `predictionID` or `id` on create, every status spelling
(configurable per test), output as a list or a single string, `{"error": "..."}` or
`{"status": "error", "message", "details"}` envelopes, 10 predictions in flight per key -> 429,
image inputs that must be public HTTPS URLs under our `public_url`.

A prediction is an async job (tests/emulators/jobs.py: its life, its content faults, queued with
`emu.inject(kind, on="/v1/prediction", method="POST")`); `emu.predictions` are the jobs.

    python -m tests.emulators.eachlabs --port 8301 --latency 40
"""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.emulators.harness import Reply, Request, json_reply, main
from tests.emulators.jobs import AsyncJobEmulator, Job
from tests.helpers.images import make_image

TEXT_TO_IMAGE = "gpt-image-v2-text-to-image"
EDIT = "gpt-image-v2-edit"
VERSION = "0.0.1"
SIZES = ["1024x1024", "1536x1024", "1024x1536"]
FORMATS = {"png": "png", "jpeg": "jpeg", "webp": "webp"}


def text_to_image_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "description": "What to draw"},
            "image_size": {"type": "string", "enum": list(SIZES), "default": "1024x1024"},
            "quality": {"type": "string", "enum": ["low", "medium", "high"], "default": "medium"},
            "background": {"type": "string", "enum": ["auto", "transparent", "opaque"], "default": "auto"},
            "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
            "output_format": {"type": "string", "enum": ["jpeg", "png", "webp"], "default": "png"},
        },
        "required": ["prompt"],
    }


def edit_schema(image_field: str = "image_urls") -> dict[str, Any]:
    schema = text_to_image_schema()
    if image_field == "image_urls":
        schema["properties"]["image_urls"] = {"type": "array", "items": {"type": "string", "format": "uri"},
                                              "minItems": 1, "maxItems": 16}
    else:
        schema["properties"][image_field] = {"type": "string", "format": "uri"}
    schema["required"] = ["prompt", image_field]
    return schema


class EachLabsEmulator(AsyncJobEmulator):
    """Knobs are plain attributes: set them in a test before (or between) calls."""

    name = "eachlabs"
    cli_options = {
        "public_url": (str, None, "image inputs must lie under this https URL"),
        "id_field": (str, "predictionID", "create answers predictionID or id"),
    }
    failures = {
        "job_failed": ("failed", "Generation failed: upstream model error"),
        "moderation": ("failed", "Your request was rejected by the safety system (moderation_blocked)"),
        "cancelled": ("cancelled", "Prediction was cancelled"),
    }

    def __init__(
        self,
        *,
        id_field: str = "predictionID",
        image_field: str = "image_urls",  # the edit schema's variant: image_urls | image_url
        output_shape: str = "list",  # list | string
        running_statuses: tuple[str, ...] = ("created", "starting", "processing"),
        success_status: str = "success",
        failed_status: str = "error",
        cancelled_status: str = "cancelled",
        error_style: str = "error",  # error: {"error": "..."}; status: {"status":"error","message","details"}
        report_cost: str = "metrics",  # metrics: metrics.cost | usage: token usage only | none
        **kw: Any,  # latency (a prediction's run time), limit, public_url, request_delay: see jobs.py
    ):
        super().__init__(running_statuses=running_statuses, completed_status=success_status,
                         failed_status=failed_status, cancelled_status=cancelled_status, **kw)
        self.id_field = id_field
        self.image_field = image_field
        self.output_shape = output_shape
        self.error_style = error_style
        self.report_cost = report_cost
        self.schemas: dict[str, dict[str, Any]] = {}  # slug -> schema, overriding the defaults

    @property
    def predictions(self) -> dict[str, Job]:
        return self.jobs

    @property
    def success_status(self) -> str:
        return self.completed_status

    @success_status.setter
    def success_status(self, word: str) -> None:
        self.completed_status = word

    # -- vendor shapes
    def _err(self, status: int, message: str, details: str | None = None, headers: dict | None = None) -> Reply:
        if self.error_style == "status":
            body: dict[str, Any] = {"status": "error", "message": message}
            if details:
                body["details"] = details
        else:
            body = {"error": message + (f": {details}" if details else "")}
        return json_reply(body, status, headers)

    def error_reply(self, req: Request, status: int, message: str) -> Reply:
        return self._err(status, message)

    def unauthorized(self, req: Request) -> Reply:
        return self._err(401, "Invalid or missing API key")

    def rate_limited(self, req: Request, retry_after: float) -> Reply:
        return self._err(429, "Too many requests: 10 predictions in flight per key",
                         headers={"retry-after": f"{retry_after:g}"} if retry_after else None)

    def authorized(self, req: Request) -> bool:
        if req.path.rstrip("/") == "/v1/model":
            return True  # the schema endpoint needs no key
        return super().authorized(req)

    def is_create(self, path: str) -> bool:
        return path.rstrip("/") == "/v1/prediction"

    def schema_for(self, slug: str) -> dict[str, Any] | None:
        if slug in self.schemas:
            return self.schemas[slug]
        if slug == TEXT_TO_IMAGE:
            return text_to_image_schema()
        if slug == EDIT:
            return edit_schema(self.image_field)
        return None

    # -- routes
    def handle(self, req: Request) -> Reply | None:
        path = req.path.rstrip("/")
        if req.method == "GET" and path == "/v1/model":
            return self._model(req)
        if req.method == "POST" and path == "/v1/prediction":
            return self._create(req)
        if req.method == "GET" and path.startswith("/v1/prediction/"):
            return self._get(req, path.rsplit("/", 1)[-1])
        return self._err(404, f"no route for {req.method} {req.path}")

    def _model(self, req: Request) -> Reply:
        slug = (req.query.get("slug") or [""])[0]
        schema = self.schema_for(slug)
        if schema is None:
            return self._err(404, f"model {slug!r} not found")
        return json_reply({"title": "GPT Image v2", "slug": slug, "version": VERSION, "output_type": "array",
                           "request_schema": copy.deepcopy(schema)})

    def _create(self, req: Request) -> Reply | None:
        body = req.json
        if not isinstance(body, dict):
            return self._err(400, "Invalid input", "body must be a JSON object")
        slug = body.get("model")
        schema = self.schema_for(str(slug))
        if schema is None:
            return self._err(404, f"model {slug!r} not found")
        if body.get("version") != VERSION:
            return self._err(400, "Invalid input", f"unknown version {body.get('version')!r}")
        inp = body.get("input")
        problem = self._validate(schema, inp)
        if problem:
            return self._err(400, "Invalid input", problem)
        with self.jobs_lock:
            pred = self.start_job(req, str(slug), inp)
        if pred is None:
            return self.rate_limited(req, self.retry_after)
        if self.answer_lost(req, pred):
            return None
        return json_reply({"status": "success", "message": "Prediction created successfully",
                           self.id_field: pred.id})

    def _validate(self, schema: dict[str, Any], inp: Any) -> str | None:
        if not isinstance(inp, dict):
            return "input must be an object"
        props = schema.get("properties", {})
        for name, value in inp.items():
            if name not in props:
                return f"unknown input field {name!r}"
            problem = self._field_problem(name, props[name], value)
            if problem:
                return problem
        for name in schema.get("required", []):
            if name not in inp or inp[name] in ("", None, []):
                return f"{name} is required"
        return None

    def _field_problem(self, name: str, prop: dict[str, Any], value: Any) -> str | None:
        enum = prop.get("enum")
        if enum is not None and value not in enum:
            return f"{name} must be one of {', '.join(map(str, enum))}"
        kind = prop.get("type")
        if kind == "array":
            if not isinstance(value, list) or not value:
                return f"{name} must be a non-empty array"
            if len(value) > prop.get("maxItems", 10**6):
                return f"{name} takes at most {prop['maxItems']} items"
        elif kind == "string" and not isinstance(value, str):
            return f"{name} must be a string"
        elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
            return f"{name} must be an integer"
        if prop.get("format") == "uri" or (kind == "array" and prop.get("items", {}).get("format") == "uri"):
            for url in value if isinstance(value, list) else [value]:
                bad = self.url_problem(url)
                if bad:
                    return f"{name}: {bad}"
        return None

    # -- the life of a prediction
    def result(self, job: Job) -> tuple[bytes, str, float]:
        w, h = map(int, str(job.input.get("image_size", "1024x1024")).split("x"))
        fmt = FORMATS.get(str(job.input.get("output_format", "png")), "png")
        n_in = len(job.input.get("image_urls") or []) + (1 if job.input.get("image_url") else 0)
        cost = round((1056 * w * h / 1024**2 * 30 + 1600 * n_in * 10 + 50 * 5) / 1e6, 6)
        return make_image(w, h, fmt), "jpg" if fmt == "jpeg" else fmt, cost

    def _get(self, req: Request, pred_id: str) -> Reply:
        polled = self.poll(req, pred_id)
        if polled is None:
            return self._err(404, f"prediction {pred_id} not found")
        pred, running = polled
        body: dict[str, Any] = {"id": pred.id, "input": pred.input, "status": running or self.status_of(pred),
                                "output": None, "logs": None,
                                "metrics": {"predict_time": round(time.monotonic() - pred.started, 3)},
                                "urls": {"get": f"{self.origin}/v1/prediction/{pred.id}"}}
        if pred.state == "completed":
            if pred.url:
                body["output"] = [pred.url] if self.output_shape == "list" else pred.url
            if self.report_cost == "metrics":
                body["metrics"]["cost"] = pred.cost
            elif self.report_cost == "usage":
                body["usage"] = {"input_tokens": 50, "output_tokens": 1056, "total_tokens": 1106,
                                 "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}
        elif pred.state in ("failed", "cancelled"):
            body["error"] = pred.error
            body["logs"] = f"starting\n{pred.error}"
        return json_reply(body)


if __name__ == "__main__":
    main(EachLabsEmulator)
