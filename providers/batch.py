"""OpenAI's Files and Batch APIs: the vendor side of the batch lane (docs/protocols.md §1b).

    POST {base}/files                   multipart `file` + `purpose=batch`: the JSONL input
    POST {base}/batches                 {input_file_id, endpoint, completion_window: "24h", metadata}
    GET  {base}/batches/{id}            status: validating, in_progress, finalizing, completed,
                                        failed, expired, cancelling, cancelled
    GET  {base}/batches?limit=&after=   newest first: finds a batch whose create answer was lost
    GET  {base}/files/{id}/content      the output and error files (JSONL), streamed to disk

An input line is `{custom_id, method: "POST", url: "/v1/images/generations" | "/v1/images/edits",
body}`; the custom_id is the variant's cache key (unique in a batch, and what a result is stored
under). Edits go in the edits endpoint's JSON form, inputs as base64 data URLs (`images:
[{image_url}]`, `mask: {image_url}`): documented for /v1/images/edits, readable by the host, and
self-contained, so the batch does not depend on uploaded files outliving the 24 h window.

Uploads are idempotent for billing (a duplicate upload is an orphan file, never a charge), so
they are retried like a GET. A batch create is not: a lost answer raises AmbiguousError and the
caller looks for the batch by its `metadata` token (`find`) instead of creating a second one.

An output line is `{id, custom_id, response: {status_code, request_id, body} | null, error:
{code, message} | null}`. Lines come back in any order: match by custom_id. `read_line` says for
each whether it was billed: a 200 that carries an image (or usage) was; a non-2xx answer, or a
line with no response (batch_expired, batch_cancelled, request_timeout), was not.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from providers import http, pricing
from providers.base import ImageProvider, ImageRequest, InputImage, RawImage
from providers.errors import JobFailedError, ProtocolError, ProviderError

ENDPOINTS = {"generate": "/v1/images/generations", "edit": "/v1/images/edits"}
TERMINAL = {"completed", "failed", "expired", "cancelled"}
MAX_REQUESTS = 50_000  # per input file (the Batch API's limit)
MAX_FILE_BYTES = 190 * 2**20  # under the 200 MB input limit, with room for the JSONL framing
DEFAULT_BATCH_REQUESTS = 1000  # per batch unless options.batch_max_requests says: output files stay small
TOKEN_KEY = "assetpipe_submit"


def supports_batch(provider: ImageProvider) -> bool:
    """Whether an entry offers the Batch API: OpenAI's own host does; any other OpenAI-compatible
    host only when its entry says `options: {batch: true}` (no compatible host documents one)."""
    from providers.openai_compat import DEFAULT_BASE_URL, OpenAIProvider

    if not isinstance(provider, OpenAIProvider):
        return False
    flag = provider.config.options.get("batch")
    if flag is not None:
        return bool(flag)
    return (provider.config.base_url or DEFAULT_BASE_URL).rstrip("/") == DEFAULT_BASE_URL


def data_url(img: InputImage) -> str:
    return f"data:{img.mime};base64,{base64.b64encode(img.read()).decode('ascii')}"


def line_for(provider: Any, req: ImageRequest) -> dict[str, Any]:
    """One JSONL input line: the same parameters as the synchronous call (the provider's
    `params`), custom_id = the cache key."""
    body = provider.params(req)
    if req.operation == "edit":
        if req.fidelity:
            body["input_fidelity"] = req.fidelity
        body["images"] = [{"image_url": data_url(i)} for i in req.images]
        if req.mask is not None:
            body["mask"] = {"image_url": data_url(req.mask)}
    return {"custom_id": req.cache_key, "method": "POST", "url": ENDPOINTS[req.operation], "body": body}


def encode_line(line: dict[str, Any]) -> bytes:
    return (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def chunk(lines: list[bytes], max_requests: int, max_bytes: int = MAX_FILE_BYTES) -> list[list[bytes]]:
    """Input files of at most `max_requests` lines and `max_bytes` bytes (a single line larger
    than the limit is an error the caller reports for that variant)."""
    out: list[list[bytes]] = []
    cur: list[bytes] = []
    size = 0
    for ln in lines:
        if cur and (len(cur) >= max_requests or size + len(ln) > max_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(ln)
        size += len(ln)
    if cur:
        out.append(cur)
    return out


def _url(provider: Any, path: str) -> str:
    return http.join_url(provider.base_url, path)


def _json(provider: Any, resp: httpx.Response) -> dict[str, Any]:
    body = http.json_body(resp, provider)
    if not isinstance(body, dict):
        raise ProtocolError("expected a JSON object", provider=provider.name, request_id=http.request_id_from(resp))
    return body


async def upload(provider: Any, data: bytes, filename: str, purpose: str = "batch") -> str:
    resp = await http.send(provider, "POST", _url(provider, "/files"), idempotent=True,
                           data={"purpose": purpose}, files={"file": (filename, data, "application/jsonl")})
    fid = _json(provider, resp).get("id")
    if not isinstance(fid, str) or not fid:
        raise ProtocolError("the file upload answered no id", provider=provider.name)
    return fid


async def create(provider: Any, file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
    """Create a batch. Not idempotent: a lost answer is an AmbiguousError (the caller `find`s it)."""
    resp = await http.send(provider, "POST", _url(provider, "/batches"), idempotent=False, create=True,
                           json={"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h",
                                 "metadata": metadata})
    return _checked(provider, _json(provider, resp))


def _checked(provider: Any, batch: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(batch.get("id"), str) or not isinstance(batch.get("status"), str):
        raise ProtocolError("a batch object without id or status", provider=provider.name)
    return batch


async def retrieve(provider: Any, batch_id: str) -> dict[str, Any]:
    resp = await http.send(provider, "GET", _url(provider, f"/batches/{batch_id}"), idempotent=True)
    return _checked(provider, _json(provider, resp))


async def cancel(provider: Any, batch_id: str) -> dict[str, Any]:
    resp = await http.send(provider, "POST", _url(provider, f"/batches/{batch_id}/cancel"), idempotent=True)
    return _checked(provider, _json(provider, resp))


async def find(provider: Any, token: str, *, pages: int = 20, created_after: float = 0) -> dict[str, Any] | None:
    """The batch whose metadata carries `token`, looking back page by page (newest first) until a
    batch older than `created_after`; None when there is none."""
    after: str | None = None
    for _ in range(pages):
        params: dict[str, Any] = {"limit": 100}
        if after:
            params["after"] = after
        resp = await http.send(provider, "GET", _url(provider, "/batches"), idempotent=True, params=params)
        page = _json(provider, resp)
        data = [b for b in page.get("data") or [] if isinstance(b, dict)]
        for b in data:
            if (b.get("metadata") or {}).get(TOKEN_KEY) == token:
                return _checked(provider, b)
        if not page.get("has_more") or not data or any((b.get("created_at") or 0) < created_after for b in data):
            return None
        after = data[-1].get("id")
    return None


async def download(provider: Any, file_id: str, dest: Path, max_bytes: int = 8 * 2**30) -> Path:
    """Stream a file's content to `dest` (output files hold base64 images: they can be large)."""
    url = _url(provider, f"/files/{file_id}/content")
    client = http.client_for(provider)
    headers = {"Authorization": f"Bearer {provider.api_key}"}
    secrets = http.secrets_of(provider)

    async def attempt_once() -> Path:
        try:
            async with client.stream("GET", url, headers=headers) as resp:
                if not 200 <= resp.status_code < 300:
                    await resp.aread()
                    raise http.status_error(resp, idempotent=True, provider=provider.name, secrets=secrets)
                size = 0
                with open(dest, "wb") as f:
                    async for part in resp.aiter_bytes():
                        size += len(part)
                        if size > max_bytes:
                            raise ProtocolError(f"batch file {file_id} exceeds {max_bytes:,} bytes", provider=provider.name)
                        f.write(part)
        except httpx.HTTPError as exc:
            raise http.transport_error(exc, idempotent=True, provider=provider.name, secrets=secrets) from exc
        return dest

    return await http.with_retries(attempt_once, max_retries=int(provider.config.max_retries),
                                   base=float(provider.config.options.get("retry_base_s", 0.5)),
                                   what=f"{provider.name} GET /files/…/content")


@dataclass
class LineResult:
    custom_id: str
    raw: RawImage | None = None
    error: ProviderError | None = None
    billed: bool = False


def read_line(provider: Any, line: dict[str, Any]) -> LineResult:
    """What one output or error line means (a RawImage, or the variant's own error and whether the
    vendor billed it)."""
    name = provider.name
    cid = str(line.get("custom_id") or "")
    resp = line.get("response")
    if not isinstance(resp, dict):
        err = line.get("error") if isinstance(line.get("error"), dict) else {}
        code = str(err.get("code") or "no_response")
        msg = http.redact(str(err.get("message") or "no response"), http.secrets_of(provider))[:500]
        return LineResult(cid, error=JobFailedError(f"{code}: {msg}", provider=name, code=code), billed=False)
    status = int(resp.get("status_code") or 0)
    rid = resp.get("request_id") if isinstance(resp.get("request_id"), str) else None
    body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
    if status != 200 or (body.get("error") and not body.get("data")):
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        exc = http.error_for(name, status if status != 200 else None, http.message_of(err) or f"HTTP {status}",
                             err.get("code") if isinstance(err.get("code"), str) else None, rid,
                             secrets=http.secrets_of(provider))
        return LineResult(cid, error=exc, billed=bool(usage and pricing.token_cost(usage)))
    items = body.get("data")
    item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
    cost = pricing.token_cost(usage, provider_type=provider.type_name, lane="batch") if usage else None
    if item is None or not item.get("b64_json"):
        return LineResult(cid, error=ProtocolError("the answer has no b64_json image", provider=name,
                                                   request_id=rid), billed=True)
    try:
        data = http.decode_b64(item["b64_json"])
    except ProtocolError as exc:
        return LineResult(cid, error=ProtocolError(str(exc.args[0]), provider=name, request_id=rid), billed=True)
    return LineResult(cid, RawImage(data=data, request_id=rid, cost_usd=cost, usage=usage,
                                    vendor_size=body.get("size") if isinstance(body.get("size"), str) else None,
                                    billed_basis="usage tokens" if cost is not None else None), billed=True)
