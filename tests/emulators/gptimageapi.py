"""gptimageapi.dev on 127.0.0.1 (docs/protocols.md, gptimageapi.dev).

    POST /v1/images/generate  {prompt, model, size: ratio, quality, n, background}
    -> {"code": 0, "message": "ok", "data": {"images": [{"url"}]}}   (urls on this server)

Errors use the same envelope: a non-2xx status with {"code", "message", "data": null}, or —
the quirk — HTTP 200 with a non-zero code. Content faults: "moderation" (200, code 1003),
"envelope_error" (200, code given by `code=`, default 5000), "truncated_image", "not_image",
"expired_url", "no_images", "b64" (an inline b64 image instead of a url).

    python -m tests.emulators.gptimageapi --port 8300 --latency 2
"""

from __future__ import annotations

import base64
import math
import uuid
from typing import Any

from tests.emulators.harness import Emulator, Reply, Request, json_reply, main
from tests.helpers.images import make_image

RATIOS = {"1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21", "2:1", "1:2"}
QUALITIES = {"low", "medium", "high"}
BACKGROUNDS = {"opaque", "transparent"}


def pixels_for(ratio: str, area: int = 1024 * 1024) -> tuple[int, int]:
    a, b = (int(x) for x in ratio.split(":"))
    w = math.sqrt(area * a / b)
    return int(round(w / 16)) * 16, int(round(w * b / a / 16)) * 16


class GptImageApiEmulator(Emulator):
    name = "gptimageapi"

    def _envelope(self, status: int, code: int | str, message: str) -> Reply:
        return json_reply({"code": code, "message": message, "data": None}, status,
                          {"x-request-id": uuid.uuid4().hex})

    def error_reply(self, req: Request, status: int, message: str) -> Reply:
        return self._envelope(status, status, message)

    def unauthorized(self, req: Request) -> Reply:
        return self._envelope(401, 401, "invalid api key")

    def rate_limited(self, req: Request, retry_after: float) -> Reply:
        reply = self._envelope(429, 429, "too many concurrent requests")
        reply.headers["retry-after"] = f"{retry_after:g}"
        return reply

    def handle(self, req: Request) -> Reply:
        if not (req.method == "POST" and req.path == "/v1/images/generate"):
            return self._envelope(404, 404, f"not found: {req.method} {req.path}")
        body = req.json if isinstance(req.json, dict) else None
        if body is None:
            return self._envelope(400, 400, "body must be JSON")
        if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            return self._envelope(400, 400, "prompt is required")
        if body.get("model", "gpt-image-2") != "gpt-image-2":
            return self._envelope(400, 400, f"unknown model {body.get('model')}")
        size = body.get("size", "1:1")
        if size not in RATIOS:
            return self._envelope(400, 400, f"invalid size {size!r}: use a ratio such as 1:1, 4:3, 16:9")
        if body.get("quality", "medium") not in QUALITIES:
            return self._envelope(400, 400, "quality must be low, medium or high")
        if body.get("background", "opaque") not in BACKGROUNDS:
            return self._envelope(400, 400, "background must be opaque or transparent")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 4:
            return self._envelope(400, 400, "n must be 1..4")
        kind = req.fault.kind if req.fault else None
        if kind == "moderation":
            return self._envelope(200, 1003, "prompt rejected by the content safety system")
        if kind == "envelope_error":
            return self._envelope(200, req.fault.get("code", 5000), req.fault.get("message", "generation failed"))
        w, h = pixels_for(size)
        data = make_image(w, h, "png")
        if kind == "truncated_image":
            data = data[: len(data) // 3]
        elif kind == "not_image":
            data = b"not an image at all"
        images: list[dict[str, Any]] = []
        for _ in range(n):
            if kind == "b64":
                images.append({"b64_json": base64.b64encode(data).decode()})
                continue
            url = self.put_file(data, "png")
            if kind == "expired_url":
                self.expire(url)
            images.append({"url": url})
        if kind == "no_images":
            images = []
        return json_reply({"code": 0, "message": "ok", "data": {"images": images}}, 200,
                          {"x-request-id": uuid.uuid4().hex})


if __name__ == "__main__":
    main(GptImageApiEmulator)
