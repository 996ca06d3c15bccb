"""An OpenAI-compatible Images API on 127.0.0.1, with its hosts' quirks (docs/protocols.md, OpenAI).

    POST {base}/images/generations   JSON
    POST {base}/images/edits         multipart: image | image[] (repeated), mask, fields

`style` picks the host: "openai" (b64_json, x-request-id header), "modelverse" (png|jpeg only,
request id in error.param, no header), "url" (data[0].url on this server instead of b64),
"data_prefix" (b64_json with a `data:image/png;base64,` prefix). Content faults:
"moderation", "truncated_image", "not_image", "bad_b64", "expired_url", "url", "b64_prefix",
"invalid_size", "no_data", "error_200". `TakesOpenAI` draws a new picture for every call, as a
real model does, and blocks prompts on a list, for the CLI builds that count calls.

`draw_text=True` draws the prompt's quoted strings into the picture, as a model asked for exact text
does; `misspell` decides which takes get one misspelt letter (two neighbouring letters swapped in
the middle of the first string): a list of booleans per take of one request (the n-th call with the
same size and prompt is its n-th take; past the list's end, its last value), or a share of takes
(0.0-1.0, chosen by a hash of the request and take number, so a run is repeatable).

    python -m tests.emulators.openai --port 8100 --latency 2 --edit-latency 4 --limit 10
"""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from typing import Any

from tests.emulators.drawn_text import draw_text_image, misspelt, quoted, swap_letters
from tests.emulators.harness import Emulator, Reply, Request, json_reply, main
from tests.helpers.images import image_size, make_image

QUALITIES = {"low", "medium", "high", "auto"}
BACKGROUNDS = {"transparent", "opaque", "auto"}
FIDELITIES = {"high", "low"}
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "auto": 4160}


def size_problem(w: int, h: int) -> str | None:
    """gpt-image-2's size rules, written out again here so the client's copy is tested, not trusted."""
    if w % 16 or h % 16:
        return "Width and height must both be divisible by 16."
    if max(w, h) > 3840:
        return "The longest edge must be at most 3840 pixels."
    if max(w, h) > 3 * min(w, h):
        return "The aspect ratio must be between 1:3 and 3:1."
    if not 655_360 <= w * h <= 8_294_400:
        return "The total pixel count must be between 655,360 and 8,294,400."
    return None


class OpenAIEmulator(Emulator):
    name = "openai"
    cli_options = {
        "edit_latency": (float, None, "seconds per edit (default: --latency)"),
        "style": (str, "openai", "openai | modelverse | url | data_prefix"),
    }

    def __init__(self, *, style: str = "openai", edit_latency: float | None = None, prefix: str = "/v1",
                 draw_text: bool = False, misspell: float | list[bool] = 0.0, **kw: Any):
        super().__init__(**kw)
        self.draw_text, self.misspell = draw_text, misspell
        self.takes: dict[str, int] = {}  # "size prompt" -> takes drawn so far
        self.misspelt: list[str] = []  # the strings actually drawn misspelt, in order
        self.style = style
        self.edit_latency = edit_latency
        self.prefix = prefix
        self.formats = {"png", "jpeg"} if style == "modelverse" else {"png", "jpeg", "webp"}

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    def request_latency(self, req: Request) -> float:
        if req.path.endswith("/images/edits") and self.edit_latency is not None:
            return self.edit_latency
        return super().request_latency(req)

    # -- errors in this vendor's envelope
    def _error(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None, request_id: str | None = None) -> Reply:
        rid = request_id or f"req_{uuid.uuid4().hex[:24]}"
        if self.style == "modelverse":
            return json_reply({"error": {"message": message, "type": type_, "param": rid, "code": code}}, status)
        return json_reply({"error": {"message": message, "type": type_, "param": param, "code": code}}, status,
                          {"x-request-id": rid})

    def error_reply(self, req: Request, status: int, message: str) -> Reply:
        return self._error(status, message, type_="server_error" if status >= 500 else "invalid_request_error")

    def unauthorized(self, req: Request) -> Reply:
        return self._error(401, "Incorrect API key provided.", code="invalid_api_key")

    # -- routes
    def handle(self, req: Request) -> Reply:
        if req.method == "POST" and req.path == f"{self.prefix}/images/generations":
            return self._generations(req)
        if req.method == "POST" and req.path == f"{self.prefix}/images/edits":
            return self._edits(req)
        return self._error(404, f"Invalid URL ({req.method} {req.path})")

    def _common(self, params: dict[str, Any]) -> Reply | tuple[int, int, str, str]:
        """Validate the shared fields; (w, h, output_format, quality) or an error reply."""
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self._error(400, "Missing required parameter: 'prompt'.", param="prompt",
                               code="missing_required_parameter")
        if len(prompt) > 32_000:
            return self._error(400, "Prompt is too long.", param="prompt", code="string_above_max_length")
        fmt = params.get("output_format") or "png"
        if fmt not in self.formats:
            return self._error(400, f"Invalid value: '{fmt}'. Supported values are: {sorted(self.formats)}.",
                               param="output_format", code="invalid_value")
        quality = params.get("quality") or "auto"
        if quality not in QUALITIES:
            return self._error(400, f"Invalid value: '{quality}'.", param="quality", code="invalid_value")
        bg = params.get("background") or "auto"
        if bg not in BACKGROUNDS:
            return self._error(400, f"Invalid value: '{bg}'.", param="background", code="invalid_value")
        if bg == "transparent" and fmt == "jpeg":
            return self._error(400, "Transparent background requires png or webp.", param="background")
        size = params.get("size") or "auto"
        if size == "auto":
            w, h = 1024, 1024
        else:
            try:
                w, h = (int(x) for x in str(size).lower().split("x"))
            except ValueError:
                return self._error(400, f"Invalid size '{size}'.", param="size", code="invalid_value")
            problem = size_problem(w, h)
            if problem:
                return self._error(400, f"Invalid size '{size}'. {problem}", param="size", code="invalid_value")
        n = int(params.get("n") or 1)
        if not 1 <= n <= 10:
            return self._error(400, "n must be between 1 and 10.", param="n", code="invalid_value")
        return w, h, fmt, quality

    def _generations(self, req: Request) -> Reply:
        if not isinstance(req.json, dict):
            return self._error(400, "We could not parse the JSON body of your request.")
        checked = self._common(req.json)
        if isinstance(checked, Reply):
            return checked
        w, h, fmt, quality = checked
        return self._answer(req, req.json, w, h, fmt, quality, input_images=0)

    def _edits(self, req: Request) -> Reply:
        if not req.parts:
            return self._error(400, "Edits take multipart/form-data.")
        fields = {k: v[0] for k, v in req.fields().items()}
        files = req.files()
        images = files.get("image", []) + files.get("image[]", [])
        if files.get("image") and files.get("image[]"):
            return self._error(400, "Send either 'image' or 'image[]', not both.", param="image")
        if not images:
            return self._error(400, "Missing required parameter: 'image'.", param="image")
        if len(images) > 16:
            return self._error(400, "At most 16 images.", param="image")
        sizes = []
        for part in images:
            try:
                iw, ih, ifmt = image_size(part.data)
            except Exception:
                return self._error(400, f"Invalid image file '{part.filename}'.", param="image")
            if ifmt not in ("png", "jpeg", "webp"):
                return self._error(400, f"Unsupported image format {ifmt}.", param="image")
            sizes.append((iw, ih))
        mask = (files.get("mask") or [None])[0]
        if mask is not None:
            try:
                mw, mh, mfmt = image_size(mask.data)
            except Exception:
                return self._error(400, "Invalid mask file.", param="mask")
            if mfmt != "png":
                return self._error(400, "The mask must be a PNG.", param="mask")
            if (mw, mh) != sizes[0]:
                return self._error(400, "The mask must be the same size as the first image.", param="mask")
        fidelity = fields.get("input_fidelity")
        if fidelity is not None and fidelity not in FIDELITIES:
            return self._error(400, f"Invalid value: '{fidelity}'.", param="input_fidelity")
        if "size" not in fields or fields["size"] == "auto":
            fields["size"] = "x".join(map(str, sizes[0])) if not size_problem(*sizes[0]) else "1024x1024"
        checked = self._common(fields)
        if isinstance(checked, Reply):
            return checked
        w, h, fmt, quality = checked
        return self._answer(req, fields, w, h, fmt, quality, input_images=len(images))

    def _picture(self, params: dict[str, Any], w: int, h: int, fmt: str) -> bytes:
        prompt = str(params.get("prompt", ""))
        strings = quoted(prompt) if self.draw_text else []
        if not strings:
            return make_image(w, h, fmt)
        request = f"{w}x{h} {prompt}"
        with self._lock:
            take = self.takes.get(request, 0)
            self.takes[request] = take + 1
        if misspelt(self.misspell, request, take):
            strings = [swap_letters(strings[0])] + strings[1:]
            with self._lock:
                self.misspelt.append(strings[0])
        return draw_text_image(w, h, fmt, strings, seed=f"{request} {take}")

    def _answer(self, req: Request, params: dict[str, Any], w: int, h: int, fmt: str, quality: str,
                input_images: int) -> Reply:
        rid = f"req_{uuid.uuid4().hex[:24]}"
        kind = req.fault.kind if req.fault else None
        if kind == "moderation":
            return self._error(400, "Your request was rejected as a result of our safety system.",
                               type_="image_generation_user_error", code="moderation_blocked", request_id=rid)
        if kind == "invalid_size":
            return self._error(400, "Invalid size. Width and height must both be divisible by 16.",
                               param="size", code="invalid_value", request_id=rid)
        data = self._picture(params, w, h, fmt)
        if kind == "truncated_image":
            data = data[: max(64, len(data) // 3)]
        elif kind == "not_image":
            data = b"<html>not an image</html>"
        n = int(params.get("n") or 1)
        items = []
        for _ in range(n):
            item: dict[str, Any] = {}
            if self.style == "url" or kind in ("url", "expired_url") or self.result_url:
                url = self.result_url or self.put_file(data, fmt)
                if kind == "expired_url":
                    self.expire(url)
                item["url"] = url
            else:
                b64 = base64.b64encode(data).decode()
                if kind == "bad_b64":
                    b64 = "!!not*base64!!" + b64[:20]
                if self.style == "data_prefix" or kind == "b64_prefix":
                    b64 = f"data:image/{fmt};base64,{b64}"
                item["b64_json"] = b64
            items.append(item)
        prompt = str(params.get("prompt", ""))
        text_in = max(1, len(prompt) // 4)
        image_in = 1600 * input_images
        image_out = n * round(OUTPUT_TOKENS_1024[quality] * w * h / (1024 * 1024))
        body: dict[str, Any] = {
            "created": int(time.time()),
            "data": items,
            "background": params.get("background") or "opaque",
            "output_format": fmt,
            "quality": quality if quality != "auto" else "high",
            "size": f"{w}x{h}",
            "usage": {
                "input_tokens": text_in + image_in,
                "output_tokens": image_out,
                "total_tokens": text_in + image_in + image_out,
                "input_tokens_details": {"text_tokens": text_in, "image_tokens": image_in},
                "output_tokens_details": {"text_tokens": 0, "image_tokens": image_out},
            },
        }
        if kind == "no_data":
            body["data"] = []
        if kind == "error_200":
            body = {"error": {"message": "upstream failed", "type": "server_error", "param": None, "code": None}}
        headers = {} if self.style == "modelverse" else {"x-request-id": rid}
        return json_reply(body, 200, headers)


class TakesOpenAI(OpenAIEmulator):
    """The OpenAI emulator, but every call draws a different picture, as a real model does: a paid
    retake (`--refresh`) then really changes the bytes its dependants are keyed on."""

    _takes = itertools.count(1)

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        # requests whose "<size> <prompt>" contains one of these are blocked by "moderation"
        self.refuse: list[str] = []

    def handle(self, req: Request) -> Reply:
        fields = req.json if isinstance(req.json, dict) else {k: v[0] for k, v in req.fields().items()}
        seen = f"{fields.get('size')} {fields.get('prompt')}"
        if any(s in seen for s in self.refuse):
            return self._error(400, "Your request was rejected as a result of our safety system.",
                               type_="image_generation_user_error", code="moderation_blocked")
        reply = super().handle(req)
        if self.draw_text:  # its pictures already differ per take: they carry the text
            return reply
        if reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("data"):
            n = next(self._takes)
            w, h = (int(x) for x in reply.body["size"].split("x"))
            color = (n * 37 % 256, n * 91 % 256, n * 53 % 256)
            data = make_image(w, h, reply.body["output_format"], color)
            for item in reply.body["data"]:
                if "b64_json" in item:
                    item["b64_json"] = base64.b64encode(data).decode()
        return reply

    def calls(self) -> int:
        return len(self.requests(method="POST"))


if __name__ == "__main__":
    main(OpenAIEmulator)
