"""EachLabs Predictions API (docs/protocols.md §2): schema-driven input, create, poll, download.

The vendor tells clients to build `input` from the model's live `request_schema`, and the two
public descriptions of the edit model disagree (`image_urls` array vs `image_url` string), so we
fetch the schema once per slug and send only what it declares. Creates are NOT de-duplicated by
the vendor: a create whose answer is lost is an AmbiguousError and is never re-sent; polls are
plain reads and retry freely.

Statuses: created/starting/processing/queued (running), success/succeeded (done), error/failed
(failed), cancelled/canceled. Output is a list of URLs or a single URL string; URLs expire, so
the image is downloaded as soon as the prediction succeeds.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx

from providers import calls, http, pricing
from providers.base import Capabilities, ImageProvider, ImageRequest, RawImage
from providers.errors import (
    AmbiguousError,
    JobFailedError,
    ModerationBlocked,
    ProtocolError,
    ProviderError,
    RejectedError,
    UnsupportedError,
)
from providers.sizes import parse_size
from providers.uploads import public_url_problem

DEFAULT_BASE_URL = "https://api.eachlabs.ai"
SLUGS = {"generate": "gpt-image-v2-text-to-image", "edit": "gpt-image-v2-edit"}
VERSION = "0.0.1"

RUNNING = {"created", "starting", "processing", "queued", "pending", "running", "in_progress", "in_queue"}
SUCCEEDED = {"success", "succeeded", "completed", "complete", "finished", "done"}
FAILED = {"error", "failed", "failure"}
CANCELLED = {"cancelled", "canceled"}
TERMINAL = SUCCEEDED | FAILED | CANCELLED
UNREADABLE_POLLS = 3  # consecutive garbled status answers before giving up
_MODERATION_WORDS = ("moderation", "safety system", "content policy", "nsfw")
# used when the schema offers no sizes at all: the three sizes the vendor documents
_FALLBACK_SIZES = ("1024x1024", "1536x1024", "1024x1536")

# ---------------------------------------------------------------- pure helpers (tested with tables)


def status_of(body: dict[str, Any]) -> str:
    return str(body.get("status") or "").strip().lower().replace(" ", "_")


def schema_properties(schema: Any) -> tuple[dict[str, dict], set[str]]:
    """(properties, required) of a request_schema, tolerating a schema wrapped one level deeper."""
    if not isinstance(schema, dict):
        return {}, set()
    if "properties" not in schema:
        for wrapper in ("input", "request_schema", "schema"):
            inner = schema.get(wrapper)
            if isinstance(inner, dict) and "properties" in inner:
                schema = inner
                break
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}, set()
    required = schema.get("required") or []
    return {k: v if isinstance(v, dict) else {} for k, v in props.items()}, {str(r) for r in required if r}


def _enum(prop: dict) -> list[Any] | None:
    values = prop.get("enum")
    if isinstance(values, list) and values:
        return values
    items = prop.get("items")
    if isinstance(items, dict) and isinstance(items.get("enum"), list):
        return items["enum"]
    return None


def nearest_enum_size(width: int, height: int, values: list[Any]) -> str | None:
    """The WxH value closest to the requested shape (ratio first, then area); None if none is WxH."""
    sizes = []
    for v in values:
        try:
            sizes.append((str(v), *parse_size(str(v))))
        except ValueError:
            continue
    if not sizes:
        return None
    target_ratio, target_area = math.log(width / height), math.log(width * height)

    def score(item: tuple[str, int, int]) -> tuple[float, float]:
        _, w, h = item
        return (round(abs(math.log(w / h) - target_ratio), 6), abs(math.log(w * h) - target_area))

    return min(sizes, key=score)[0]


def _pick(prop: dict, wanted: Any) -> Any:
    """`wanted` if the property allows it (no enum, or in the enum), else None (leave it out)."""
    if wanted is None:
        return None
    values = _enum(prop)
    if values is None:
        return wanted
    lowered = {str(v).lower(): v for v in values}
    return lowered.get(str(wanted).lower())


def build_input(
    schema: Any, req: ImageRequest, image_urls: list[str], *, provider: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """The prediction `input` for `req`, holding only properties the live schema declares.

    Returns (input, vendor_size). Raises UnsupportedError when the schema cannot carry the request
    (no prompt field, no image field for an edit, one image field but several images, a required
    field we cannot fill)."""
    props, required = schema_properties(schema)
    if not props:
        raise ProtocolError("the model's request_schema declares no properties", provider=provider)
    out: dict[str, Any] = {}
    if "prompt" not in props:
        raise UnsupportedError("the model's request_schema has no `prompt` field", provider=provider)
    out["prompt"] = req.prompt

    if req.operation == "edit":
        out.update(_image_field(props, image_urls, provider))
    vendor_size = _size_field(props, req, out)
    _optional_fields(props, req, out)
    missing = sorted(r for r in required if r not in out and "default" not in props.get(r, {}))
    if missing:
        raise UnsupportedError(
            f"the model's request_schema requires fields assetpipe does not fill: {', '.join(missing)}",
            provider=provider,
        )
    return out, vendor_size


def _image_field(props: dict, image_urls: list[str], provider: str | None) -> dict[str, Any]:
    """The edit's input images under whichever field the schema declares (a list or one URL)."""
    field = next((f for f in ("image_urls", "image_url", "images", "image") if f in props), None)
    if field is None:
        raise UnsupportedError("the edit model's request_schema has no image URL field", provider=provider)
    if props[field].get("type") == "array" or (field.endswith("s") and props[field].get("type") is None):
        max_items = props[field].get("maxItems")
        if isinstance(max_items, int) and len(image_urls) > max_items:
            raise UnsupportedError(
                f"the edit model takes at most {max_items} input images, got {len(image_urls)}", provider=provider
            )
        return {field: list(image_urls)}
    if len(image_urls) != 1:
        raise UnsupportedError(
            f"the edit model's schema takes one image (`{field}`), got {len(image_urls)}", provider=provider
        )
    return {field: image_urls[0]}


def _size_field(props: dict, req: ImageRequest, out: dict[str, Any]) -> str | None:
    """The nearest size the schema's enum offers (the image is conformed to WxH afterwards)."""
    for field in ("image_size", "size"):
        if field in props:
            values = _enum(props[field])
            vendor_size = nearest_enum_size(req.width, req.height, list(values or _FALLBACK_SIZES))
            if vendor_size is not None:
                out[field] = vendor_size
            return vendor_size
    return None


def _optional_fields(props: dict, req: ImageRequest, out: dict[str, Any]) -> None:
    optional = {
        "quality": req.quality,
        "background": req.background,
        "output_format": req.output_format,
        "output_compression": req.compression,
        "input_fidelity": req.fidelity,
        "num_images": 1,  # one image per variant; more would be paid for and thrown away
    }
    for field, wanted in optional.items():
        if field in props:
            value = _pick(props[field], wanted)
            if value is None and field == "output_format":
                value = _pick(props[field], "png")  # lossless, conformed to the asked format later
            if value is not None:
                out[field] = value


def output_urls(output: Any) -> list[str]:
    """Image URLs from `output`: a list of URLs, one URL string, or objects with a `url`."""
    if isinstance(output, str):
        return [output] if output.strip() else []
    if isinstance(output, dict):
        output = [output]
    urls = []
    if isinstance(output, list):
        for item in output:
            if isinstance(item, str) and item.strip():
                urls.append(item.strip())
            elif isinstance(item, dict):
                url = item.get("url") or item.get("image_url") or item.get("image")
                if isinstance(url, str) and url.strip():
                    urls.append(url.strip())
    return urls


def failure_message(body: dict[str, Any]) -> str:
    """The vendor's reason for a failed prediction, wherever it put it."""
    for key in ("error", "message", "details", "detail"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return value["message"]
    output = body.get("output")
    if isinstance(output, list) and output and isinstance(output[0], dict) and output[0].get("error"):
        return str(output[0]["error"])
    logs = body.get("logs")
    if isinstance(logs, str) and logs.strip():
        return logs.strip().splitlines()[-1]
    return "no reason given"


def parse_error(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(message, code, request_id) of an error answer: `{"error": "..."}` or
    `{"status": "error", "message", "details"}`; details are kept, they name the bad field."""
    message, code, request_id = http.default_error_parser(response)
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        details = body.get("details")
        if isinstance(details, str) and details.strip() and message and details.strip() not in message:
            message = f"{message}: {details.strip()}"
    return message, code, request_id


def billed(body: dict[str, Any]) -> tuple[float | None, str | None]:
    """(USD, where it comes from): `metrics.cost` (or a top-level `cost`), else the token `usage`
    at EachLabs' own rates, else (None, None)."""
    metrics = body.get("metrics") if isinstance(body.get("metrics"), dict) else {}
    for value, basis in ((metrics.get("cost"), "metrics.cost"), (body.get("cost"), "cost")):
        try:
            if value is not None and not isinstance(value, bool):
                return float(value), basis
        except (TypeError, ValueError):
            pass
    usage = body.get("usage") or metrics.get("usage")
    if isinstance(usage, dict):
        cost = pricing.token_cost(usage, provider_type="eachlabs")
        return cost, ("usage tokens" if cost is not None else None)
    return None, None


def cost_of(body: dict[str, Any]) -> float | None:
    return billed(body)[0]


# ---------------------------------------------------------------- the provider


class EachLabsProvider(ImageProvider):
    type_name = "eachlabs"
    resume_by = "job"  # a prediction is polled by its id, whichever process created it

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._schemas: dict[str, Any] = {}
        self._schema_locks: dict[tuple[int, str], asyncio.Lock] = {}

    @property
    def base_url(self) -> str:
        return (self.config.base_url or DEFAULT_BASE_URL).rstrip("/")

    def slug(self, operation: str) -> str:
        return str(self.config.options.get(f"{operation}_slug") or SLUGS[operation])

    def capabilities(self) -> Capabilities:
        return Capabilities(mask=False, max_input_images=16, needs_public_urls=True)

    def estimate_cost(self, req: ImageRequest) -> float:
        return pricing.estimate(self.type_name, req)

    async def schema(self, slug: str) -> Any:
        """The live request_schema of `slug`, fetched once per provider instance."""
        if slug in self._schemas:
            return self._schemas[slug]
        loop_id = id(asyncio.get_running_loop())
        lock = self._schema_locks.setdefault((loop_id, slug), asyncio.Lock())
        async with lock:
            if slug not in self._schemas:
                # public endpoint: the key is not sent where it is not needed
                resp = await http.send(
                    self, "GET", f"{self.base_url}/v1/model", params={"slug": slug}, idempotent=True,
                    error_parser=parse_error, auth=False,
                )
                body = http.json_body(resp, self)
                schema = body.get("request_schema") if isinstance(body, dict) else None
                if not isinstance(schema, dict):
                    raise ProtocolError(f"model {slug} has no request_schema", provider=self.name)
                self._schemas[slug] = schema
        return self._schemas[slug]

    def _redact(self, text: str) -> str:
        return http.redact(text, http.secrets_of(self))

    async def _generate(self, req: ImageRequest) -> RawImage:
        return await self._predict(req, [])

    async def _edit(self, req: ImageRequest) -> RawImage:
        if self.uploader is None:
            raise UnsupportedError(
                f"provider '{self.name}' needs input images as public URLs: set `uploads:` in catalog.yaml",
                provider=self.name,
            )
        urls = [await self.uploader.url_for(img) for img in req.images]
        for url in urls:
            problem = public_url_problem(url)
            if problem:  # the vendor would fetch it from the internet: refuse before anything is paid
                raise RejectedError(f"input image URL refused: {problem}", provider=self.name)
        return await self._predict(req, urls)

    async def _predict(self, req: ImageRequest, image_urls: list[str]) -> RawImage:
        slug = self.slug(req.operation)
        self.api_key  # a missing key fails here, before any network call
        schema = await self.schema(slug)
        payload, vendor_size = build_input(schema, req, image_urls, provider=self.name)
        journal = calls.current()
        if journal.resume is not None and journal.resume.job_id:  # an earlier build created it: collect it
            return await self._collect(journal.resume.job_id, vendor_size)
        create = {"model": slug, "version": str(self.config.options.get("version", VERSION)), "input": payload}
        await journal.sending(journal.first_take, calls.fingerprint(create))
        resp = await http.send(self, "POST", f"{self.base_url}/v1/prediction", json=create,
                               idempotent=False, create=True, error_parser=parse_error)
        try:
            created = http.json_body(resp, self)
        except ProtocolError as exc:
            created = {"unreadable": str(exc)}
        pred_id = created.get("predictionID") or created.get("prediction_id") or created.get("id") \
            if isinstance(created, dict) else None
        if not isinstance(pred_id, str) or not pred_id:
            if isinstance(created, dict) and status_of(created) in FAILED:
                reason = self._redact(failure_message(created))[:500]
                raise RejectedError(f"prediction not created: {reason}", provider=self.name, vendor_message=reason)
            # a 2xx means the vendor accepted the create; without its id we cannot follow or cancel it
            raise AmbiguousError(
                "create accepted but its answer carries no readable predictionID: it may run and be billed",
                provider=self.name, status=resp.status_code,
            )
        await journal.job(pred_id)  # before anything else can go wrong: the next build can collect it
        return await self._collect(pred_id, vendor_size)

    async def _collect(self, pred_id: str, vendor_size: str | None) -> RawImage:
        """Poll the prediction to its end and download its image."""
        try:
            body = await self._wait(pred_id)
            urls = output_urls(body.get("output"))
            if not urls:
                raise ProtocolError("prediction succeeded with no output URL", provider=self.name)
            data = await http.download(self, urls[0])  # URLs expire: fetch now, not later
        except ProviderError as exc:
            exc.request_id = exc.request_id or pred_id  # the paid job's id is what support asks for
            raise
        cost, basis = billed(body)
        return RawImage(
            data=data, request_id=pred_id, cost_usd=cost, vendor_size=vendor_size,
            usage=body.get("usage") if isinstance(body.get("usage"), dict) else None, billed_basis=basis,
        )

    async def _wait(self, pred_id: str) -> dict[str, Any]:
        url = f"{self.base_url}/v1/prediction/{pred_id}"

        unreadable = 0

        async def fetch() -> dict[str, Any]:
            nonlocal unreadable
            resp = await http.send(self, "GET", url, idempotent=True, error_parser=parse_error)
            try:
                body = http.json_body(resp, self)
                if not isinstance(body, dict):
                    raise ProtocolError("prediction status is not a JSON object", provider=self.name)
            except ProtocolError:
                # a garbled status answer is a read gone wrong, not the job's fate: ask again
                unreadable += 1
                if unreadable >= UNREADABLE_POLLS:
                    raise
                return {}
            unreadable = 0
            return body

        body = await http.poll(
            fetch, lambda b: status_of(b) in TERMINAL,
            interval=self.config.poll_interval_s, deadline=self.config.deadline_s,
            max_interval=max(self.config.poll_interval_s, 10.0), what=f"prediction {pred_id}", provider=self.name,
        )
        status = status_of(body)
        if status in SUCCEEDED:
            return body
        reason = self._redact(failure_message(body))[:500]
        if status in CANCELLED:
            raise JobFailedError(f"prediction was {status}: {reason}", provider=self.name, request_id=pred_id,
                                 vendor_message=reason)
        cls = ModerationBlocked if any(w in reason.lower() for w in _MODERATION_WORDS) else JobFailedError
        raise cls(f"prediction failed: {reason}", provider=self.name, request_id=pred_id, vendor_message=reason)
