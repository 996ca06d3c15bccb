"""OpenAI-compatible Images API (docs/protocols.md §1): api.openai.com, api.modelverse.cn, any compatible host.

Synchronous: one POST per image, which the server may bill even when the answer is lost. The
Images API has no idempotency key, so a POST is never sent twice after it may have arrived
(`idempotent=False`: a read timeout is an AmbiguousError, not a retry).

Options (catalog.yaml `options:`): `formats` — the output formats the host can make (modelverse:
[png, jpeg]); any other requested format is asked as png and converted locally. `moderation` —
sent as is (low|auto).
"""

from __future__ import annotations

from typing import Any

import httpx

from providers import calls, http, pricing
from providers.base import Capabilities, ImageProvider, ImageRequest, RawImage
from providers.errors import AmbiguousError, ProtocolError, ProviderError
from providers.sizes import gpt_image_2_problems, nearest_valid

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ALL_FORMATS = ("png", "jpeg", "webp")
# `error.param` names the offending field on OpenAI; modelverse puts its request id there instead
KNOWN_PARAMS = {
    "prompt", "model", "n", "size", "quality", "background", "output_format", "output_compression",
    "moderation", "user", "stream", "partial_images", "image", "image[]", "images", "mask", "input_fidelity",
}


def parse_error(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    message, code, request_id = http.default_error_parser(response)
    if request_id is None:
        try:
            err = response.json().get("error")
        except (ValueError, AttributeError):
            err = None
        param = err.get("param") if isinstance(err, dict) else None
        if isinstance(param, str) and param and param not in KNOWN_PARAMS and not param.startswith("image"):
            request_id = param
    return message, code, request_id


def vendor_size(width: int, height: int) -> str:
    """The size to ask for: WxH itself when gpt-image-2 accepts it, else the nearest valid size."""
    if not gpt_image_2_problems(width, height):
        return f"{width}x{height}"
    w, h = nearest_valid(width, height)
    return f"{w}x{h}"


class OpenAIProvider(ImageProvider):
    type_name = "openai"

    @property
    def base_url(self) -> str:
        return self.config.base_url or DEFAULT_BASE_URL

    @property
    def formats(self) -> tuple[str, ...]:
        fmts = self.config.options.get("formats")
        return tuple(f for f in fmts if f in ALL_FORMATS) if fmts else ALL_FORMATS

    def capabilities(self) -> Capabilities:
        return Capabilities(formats=self.formats)

    def estimate_cost(self, req: ImageRequest) -> float:
        return pricing.estimate(self.type_name, req)

    def params(self, req: ImageRequest) -> dict[str, Any]:
        """The fields generations and edits share."""
        fmt = req.output_format if req.output_format in self.formats else "png"
        if fmt not in self.formats:
            fmt = self.formats[0]
        if req.background == "transparent" and fmt == "jpeg":
            fmt = "png" if "png" in self.formats else fmt
        out: dict[str, Any] = {"model": req.model, "prompt": req.prompt, "size": vendor_size(req.width, req.height)}
        if req.n != 1:
            out["n"] = req.n
        if req.quality:
            out["quality"] = req.quality
        if req.background:
            out["background"] = req.background
        out["output_format"] = fmt
        if req.compression is not None and fmt in ("jpeg", "webp"):
            out["output_compression"] = int(req.compression)
        if self.config.options.get("moderation"):
            out["moderation"] = self.config.options["moderation"]
        return out

    async def _generate(self, req: ImageRequest) -> RawImage:
        body = self.params(req)
        await calls.current().sending(0, calls.fingerprint("generations", body))
        resp = await http.send(self, "POST", http.join_url(self.base_url, "/images/generations"),
                               idempotent=False, create=True, error_parser=parse_error, json=body)
        return await self._result(resp, body["size"])

    async def _edit(self, req: ImageRequest) -> RawImage:
        fields = self.params(req)
        if req.fidelity:
            fields["input_fidelity"] = req.fidelity
        name = "image" if len(req.images) == 1 else "image[]"
        files: list[tuple[str, tuple[str, bytes, str]]] = [
            (name, (img.filename, img.read(), img.mime)) for img in req.images
        ]
        if req.mask is not None:
            files.append(("mask", (req.mask.filename, req.mask.read(), "image/png")))
        await calls.current().sending(0, calls.fingerprint("edits", fields, [(n, f[0], f[1]) for n, f in files]))
        resp = await http.send(self, "POST", http.join_url(self.base_url, "/images/edits"),
                               idempotent=False, create=True, error_parser=parse_error,
                               data={k: str(v) for k, v in fields.items()}, files=files)
        return await self._result(resp, fields["size"])

    async def _result(self, resp: httpx.Response, size: str) -> RawImage:
        """The image of a 2xx answer. The vendor has done the work by now: an answer we cannot
        read (empty, not JSON, no image, bad base64, a result URL we cannot fetch) may have been
        billed, so it is an AmbiguousError. Only an explicit error envelope is a plain failure."""
        request_id = http.request_id_from(resp)
        try:
            body = http.json_body(resp, self)
        except ProviderError as exc:
            raise self._unreadable(exc, resp, request_id) from exc
        if isinstance(body, dict) and body.get("error") and not body.get("data"):
            # an error envelope in a 200: only its `code` (not its `type`) says the input was refused
            message, _, rid = parse_error(resp)
            err = body["error"]
            code = err.get("code") if isinstance(err, dict) and isinstance(err.get("code"), str) else None
            raise http.error_for(self.name, None, message, code, rid or request_id, secrets=http.secrets_of(self))
        try:
            return await self._image(body, request_id, size)
        except ProviderError as exc:
            raise self._unreadable(exc, resp, request_id) from exc

    def _unreadable(self, exc: ProviderError, resp: httpx.Response, request_id: str | None) -> AmbiguousError:
        return AmbiguousError(f"{exc.args[0]}: the vendor answered {resp.status_code}, so the call may have been "
                              "billed; not re-sent", provider=self.name, status=resp.status_code,
                              request_id=exc.request_id or request_id)

    async def _image(self, body: object, request_id: str | None, size: str) -> RawImage:
        if not isinstance(body, dict):
            raise ProtocolError("expected a JSON object", provider=self.name, request_id=request_id)
        items = body.get("data")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ProtocolError("answer has no image in `data`", provider=self.name, request_id=request_id)
        item = items[0]
        if item.get("b64_json"):
            data = http.decode_b64(item["b64_json"])
        elif item.get("url"):
            data = await http.download(self, str(item["url"]))
        else:
            raise ProtocolError("image has neither b64_json nor url", provider=self.name, request_id=request_id)
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        cost = pricing.token_cost(usage, provider_type=self.type_name) if usage else None
        return RawImage(
            data=data,
            request_id=request_id,
            cost_usd=cost,
            billed_basis="usage tokens" if cost is not None else None,
            usage=usage,
            revised_prompt=item.get("revised_prompt"),
            vendor_size=size,
        )

