"""gptimageapi.dev (docs/protocols.md §3): one synchronous JSON POST, aspect-ratio sizes, a code/message envelope.

    POST {base}/v1/images/generate  {prompt, model, size: "4:3", quality, n, background}
    -> {"code": 0, "message": "ok", "data": {"images": [{"url": ...}]}}

A non-2xx status or a non-zero `code` is an error whose text is `message`. Error codes are not
documented: a `code` that looks like an HTTP status (400-599) is classified as that status, any
other non-zero code as a rejection (or moderation, when the message says so). An error envelope
means no image was made, so a retryable one (429/5xx-like) is re-POSTed like an HTTP 429/5xx.

There is no edit endpoint: `capabilities().edit` is False, so validation reports an edit routed
here before anything is spent.

Sizes are ratio strings. The docs list 1:1, 4:3, 16:9, 9:21, 1:2, 2:1 "…"; we also use the
inverses (3:4, 9:16, 21:9), since 9:21 shows both orientations exist. `options.ratios` overrides
the list. The vendor picks the pixels; `run()` resizes/crops to the catalog's exact WxH.
"""

from __future__ import annotations

from typing import Any

from providers import calls, http, pricing
from providers.base import Capabilities, ImageProvider, ImageRequest, RawImage
from providers.errors import AmbiguousError, ProtocolError, ProviderError
from providers.sizes import nearest_ratio

DEFAULT_BASE_URL = "https://api.gptimageapi.dev"
RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21", "2:1", "1:2")
QUALITIES = {"low", "medium", "high"}
BACKGROUNDS = {"opaque", "transparent"}


def _code(value: Any) -> int | None:
    """The envelope's code as an int (0 = ok); None when absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return -1  # a non-numeric code is still an error code


def envelope_error(name: str, body: dict[str, Any], request_id: str | None, secrets: list[str]) -> ProviderError:
    code = _code(body.get("code"))
    message = http.message_of(body.get("message")) or http.message_of(body.get("error")) or "no message"
    status = code if code is not None and 400 <= code <= 599 else None
    return http.error_for(name, status, message, str(body.get("code")), request_id, secrets=secrets)


class GptImageApiProvider(ImageProvider):
    type_name = "gptimageapi"

    @property
    def base_url(self) -> str:
        return self.config.base_url or DEFAULT_BASE_URL

    @property
    def ratios(self) -> list[str]:
        return list(self.config.options.get("ratios") or RATIOS)

    def capabilities(self) -> Capabilities:
        return Capabilities(edit=False, mask=False, max_input_images=0)

    def estimate_cost(self, req: ImageRequest) -> float:
        return pricing.estimate(self.type_name, req)

    def body_for(self, req: ImageRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": req.prompt, "model": req.model,
                                "size": nearest_ratio(req.width, req.height, self.ratios), "n": req.n}
        if req.quality in QUALITIES:  # auto/unset: the vendor's default (priced as high)
            body["quality"] = req.quality
        if req.background in BACKGROUNDS:
            body["background"] = req.background
        return body

    async def _generate(self, req: ImageRequest) -> RawImage:
        body = self.body_for(req)
        url = http.join_url(self.base_url, "/v1/images/generate")
        # an error envelope in a 200 is checked inside send(): a retryable one is re-POSTed under
        # the same retry policy as an HTTP 429/5xx (no image was made, nothing was billed)
        await calls.current().sending(0, calls.fingerprint("generate", body))
        resp = await http.send(self, "POST", url, idempotent=False, create=True, json=body, check=self._envelope_ok)
        answer = http.json_body(resp, self)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        request_id = self._request_id(resp, answer)
        try:
            return await self._image(data, request_id, req, body["size"])
        except ProviderError as exc:  # a 2xx with code 0: the image was made, and may have been billed
            raise AmbiguousError(f"{exc.args[0]}: the vendor answered {resp.status_code} (code 0), so the call may "
                                 "have been billed; not re-sent", provider=self.name, status=resp.status_code,
                                 request_id=exc.request_id or request_id) from exc

    def _envelope_ok(self, resp) -> None:
        try:
            answer = http.json_body(resp, self)
            if not isinstance(answer, dict):
                raise ProtocolError("expected a JSON object", provider=self.name)
        except ProtocolError as exc:  # a garbled 2xx: we cannot tell whether an image was made
            raise AmbiguousError(f"{exc.args[0]}: the vendor answered {resp.status_code}, so the call may have "
                                 "been billed; not re-sent", provider=self.name, status=resp.status_code,
                                 request_id=http.request_id_from(resp)) from exc
        if _code(answer.get("code")) not in (0, None):
            raise envelope_error(self.name, answer, self._request_id(resp, answer), http.secrets_of(self))

    @staticmethod
    def _request_id(resp, answer: dict[str, Any]) -> str | None:
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        return http.request_id_from(resp) or http.first_str(answer.get("request_id"), data.get("request_id"),
                                                             data.get("id"), answer.get("id"))

    async def _image(self, data: dict[str, Any], request_id: str | None, req: ImageRequest, ratio: str) -> RawImage:
        images = data.get("images")
        first = images[0] if isinstance(images, list) and images else None
        if isinstance(first, str):
            first = {"url": first}
        if not isinstance(first, dict):
            raise ProtocolError("answer has no image in data.images", provider=self.name, request_id=request_id)
        if first.get("url"):
            raw = await http.download(self, str(first["url"]))
        elif first.get("b64_json") or first.get("b64"):
            raw = http.decode_b64(first.get("b64_json") or first.get("b64"))
        else:
            raise ProtocolError("image has no url", provider=self.name, request_id=request_id)
        return RawImage(data=raw, request_id=request_id, cost_usd=self.estimate_cost(req), vendor_size=ratio)
