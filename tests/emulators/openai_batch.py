"""OpenAI's Files and Batch APIs on 127.0.0.1, on top of the Images API emulator (tests/emulators/openai.py).

    POST   {base}/files                  multipart: file, purpose[, expires_after[anchor], expires_after[seconds]]
    GET    {base}/files[?purpose=]       list
    GET    {base}/files/{id}             file object
    GET    {base}/files/{id}/content     the bytes
    DELETE {base}/files/{id}
    POST   {base}/batches                JSON {input_file_id, endpoint, completion_window: "24h", metadata?,
                                         output_expires_after?}
    GET    {base}/batches[?limit=&after=]  newest first
    GET    {base}/batches/{id}
    POST   {base}/batches/{id}/cancel
    POST   {base}/images/generations     synchronous, as OpenAIEmulator
    POST   {base}/images/edits           multipart as OpenAIEmulator, or JSON {images: [{image_url} | {file_id}],
                                         mask?: {image_url} | {file_id}, ...}

A batch's life is timed by `Timing` (see tests/emulators/openai_batch_jobs.py) against an injectable `clock`; a test passes
`ManualClock()` and moves it. Each line runs through the same code as the synchronous endpoint, so its
`response.body` is exactly what the sync call would answer (usage included) and a body the sync
endpoint refuses becomes a 400 line in the error file. Files and batches belong to the key that made
them (another key gets 404), as they belong to a project on the real API.

Faults, besides the harness's transport faults (`emu.inject("500", on="/batches", method="POST")`):
- `emu.inject("disconnect_after_create", on="/batches", method="POST")` (or on="/files"): the object is created,
  then the connection drops — the client lost the answer of a request that took effect;
- `emu.inject("token_limit_exceeded", on="/batches", method="POST")`: the batch is created and then fails
  validation with that code (the enqueued-token limit);
- `emu.inject_line(kind, custom_id=None, times=1)`: the next executed line (with that custom_id)
  gets the sync emulator's content fault `kind` ("moderation", "invalid_size", "truncated_image",
  "not_image", "bad_b64", "no_data", "error_200", "url", "expired_url"), or "server_error" (a 500
  line) or "request_timeout" (`response: null`, `error.code: request_timeout`).

`emu.billed` counts successful line executions per (key id, custom_id): "never paid twice" tests.

    python -m tests.emulators.openai_batch --port 8101 --per-request-s 2 --window-s 60

Keep `prefix="/v1"` (the default): with an empty prefix the harness's `GET /files/{id}` result-URL
route would shadow the Files API.
"""

from __future__ import annotations

import base64
import binascii
import collections
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

from tests.emulators.harness import Fault, Reply, Request, json_reply, main
from tests.emulators.openai import OpenAIEmulator, size_problem
from tests.emulators.openai_batch_jobs import (
    EMULATED_ENDPOINTS,
    SUPPORTED_ENDPOINTS,
    Batch,
    Runner,
    Timing,
    new_id,
    validate_jsonl,
)
from tests.helpers.images import image_size

PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}
IMAGE_INPUT_PURPOSES = {"vision", "user_data"}  # which purposes /images/edits accepts as file_id: not documented
MB = 1024 * 1024
THIRTY_DAYS = 30 * 24 * 3600
# gpt-image-2 output image tokens, derived from OpenAI's published per-image prices ($30 per 1M image
# output tokens): 1024x1024 $0.006 / $0.053 / $0.211, 1024x1536 and 1536x1024 $0.005 / $0.041 / $0.165
# (low / medium / high; NOTES.md has the sources). Other sizes: the square rate scaled by area.
GPT_IMAGE_2_OUTPUT_TOKENS = {
    (1024, 1024): {"low": 200, "medium": 1767, "high": 7033},
    (1024, 1536): {"low": 167, "medium": 1367, "high": 5500},
    (1536, 1024): {"low": 167, "medium": 1367, "high": 5500},
}


@dataclass
class StoredFile:
    id: str
    owner: str
    filename: str
    purpose: str
    data: bytes
    created_at: float
    expires_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": int(self.created_at),
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "expires_at": None if self.expires_at is None else int(self.expires_at), "status_details": None}


class OpenAIBatchEmulator(OpenAIEmulator):
    name = "openai_batch"
    cli_options = {
        **OpenAIEmulator.cli_options,
        "validate_s": (float, 0.05, "seconds a batch stays validating"),
        "per_request_s": (float, 0.05, "seconds per line (per parallel slot)"),
        "parallel": (int, 4, "lines run at once"),
        "finalize_s": (float, 0.05, "seconds a batch stays finalizing"),
        "cancel_s": (float, 0.05, "seconds a batch stays cancelling"),
        "window_s": (float, 86400.0, "the completion window, in seconds"),
    }

    def __init__(self, *, clock: Callable[[], float] | None = None, validate_s: float = 0.05,
                 per_request_s: float = 0.05, parallel: int = 4, finalize_s: float = 0.05, cancel_s: float = 0.05,
                 window_s: float = 86400.0, max_requests: int = 50_000, max_batch_file_bytes: int = 200 * MB,
                 max_file_bytes: int = 512 * MB, url_fetcher: Callable[[str], bytes] | None = None, **kw: Any):
        super().__init__(**kw)
        self.clock = clock or time.time
        self.timing = Timing(validate_s, per_request_s, parallel, finalize_s, cancel_s, window_s)
        self.max_requests, self.max_batch_file_bytes, self.max_file_bytes = max_requests, max_batch_file_bytes, max_file_bytes
        self.url_fetcher = url_fetcher or _loopback_fetch
        self._blk = threading.RLock()
        self._store: dict[str, StoredFile] = {}
        self._batches: dict[str, Batch] = {}
        self._line_faults: list[tuple[str | None, Fault]] = []
        self.billed: collections.Counter[tuple[str, str]] = collections.Counter()
        self._runner = Runner(self.clock, self._execute, self._write_output)

    # -- harness hooks: uploads and polls are neither throttled nor slowed like image calls
    def counted(self, req: Request) -> bool:
        return req.method == "POST" and "/images/" in req.path

    def request_latency(self, req: Request) -> float:
        return super().request_latency(req) if "/images/" in req.path else 0.0

    def _answer(self, req: Request, params: dict[str, Any], w: int, h: int, fmt: str, quality: str,
                input_images: int) -> Reply:
        """The sync answer, with gpt-image-2's own (published) output token counts in `usage`."""
        reply = super()._answer(req, params, w, h, fmt, quality, input_images)
        usage = reply.body.get("usage") if isinstance(reply.body, dict) else None
        if usage and str(params.get("model") or "").startswith("gpt-image-2"):
            q = quality if quality in ("low", "medium", "high") else "high"
            table = GPT_IMAGE_2_OUTPUT_TOKENS.get((w, h))
            per = table[q] if table else round(GPT_IMAGE_2_OUTPUT_TOKENS[(1024, 1024)][q] * w * h / 1024 ** 2)
            out = int(params.get("n") or 1) * per
            usage.update(output_tokens=out, total_tokens=usage["input_tokens"] + out,
                         output_tokens_details={"text_tokens": 0, "image_tokens": out})
        return reply

    def inject_line(self, kind: str, custom_id: str | None = None, times: int = 1, **params: Any) -> None:
        with self._blk:
            for _ in range(times):
                self._line_faults.append((custom_id, Fault(kind, None, None, dict(params))))

    def batch(self, batch_id: str) -> Batch:
        """The batch object as the emulator holds it (tests read `.status`, `.results`)."""
        with self._blk:
            b = self._batches[batch_id]
            self._runner.advance(b)
            return b

    # -- routes
    def handle(self, req: Request) -> Reply | None:
        p, m = req.path, req.method
        if not p.startswith(self.prefix + "/"):
            return super().handle(req)
        parts = p[len(self.prefix) + 1:].split("/")
        with self._blk:
            if parts[0] == "files":
                return self._files_route(req, m, parts[1:])
            if parts[0] == "batches":
                return self._batches_route(req, m, parts[1:])
        if m == "POST" and p == f"{self.prefix}/images/edits" and isinstance(req.json, dict):
            with self._blk:
                return self._edits_json(req)
        return super().handle(req)

    def _files_route(self, req: Request, m: str, rest: list[str]) -> Reply | None:
        if m == "POST" and not rest:
            return self._upload(req)
        if m == "GET" and not rest:
            purpose = (req.query.get("purpose") or [None])[0]
            data = [f.to_json() for f in self._owned_files(req) if purpose in (None, f.purpose)]
            return json_reply({"object": "list", "data": data, "has_more": False})
        f = self._file(req, rest[0]) if rest else None
        if f is None:
            return self._error(404, f"No such File object: {rest[0] if rest else ''}", param="id")
        if m == "GET" and len(rest) == 1:
            return json_reply(f.to_json())
        if m == "GET" and rest[1:] == ["content"]:
            return Reply(200, f.data, content_type="application/octet-stream")
        if m == "DELETE" and len(rest) == 1:
            del self._store[f.id]
            return json_reply({"id": f.id, "object": "file", "deleted": True})
        return self._error(404, f"Invalid URL ({m} {req.path})")

    def _batches_route(self, req: Request, m: str, rest: list[str]) -> Reply | None:
        if m == "POST" and not rest:
            return self._create_batch(req)
        if m == "GET" and not rest:
            return self._list_batches(req)
        b = self._batches.get(rest[0])
        if b is None or b.owner != req.key_id:
            return self._error(404, f"No batch found with id '{rest[0]}'.", param="batch_id")
        self._runner.advance(b)
        if m == "GET" and len(rest) == 1:
            return json_reply(b.to_json())
        if m == "POST" and rest[1:] == ["cancel"]:
            if b.status not in ("validating", "in_progress"):
                return self._error(400, f"Cannot cancel a batch with status '{b.status}'.")
            b.cancel_at = self.clock()
            self._runner.advance(b)
            return json_reply(b.to_json())
        return self._error(404, f"Invalid URL ({m} {req.path})")

    # -- files
    def _owned_files(self, req: Request) -> list[StoredFile]:
        now = self.clock()
        return [f for f in self._store.values()
                if f.owner == req.key_id and (f.expires_at is None or f.expires_at > now)]

    def _file(self, req: Request, file_id: str) -> StoredFile | None:
        f = self._store.get(file_id)
        if f is None or f.owner != req.key_id or (f.expires_at is not None and f.expires_at <= self.clock()):
            return None
        return f

    def _upload(self, req: Request) -> Reply | None:
        if not req.parts:
            return self._error(400, "Uploads take multipart/form-data.")
        files = req.files().get("file") or []
        if len(files) != 1:
            return self._error(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        purpose = req.form_value("purpose")
        if purpose not in PURPOSES:
            return self._error(400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose", code="invalid_value")
        part = files[0]
        name = part.filename or "upload"
        if len(part.data) > self.max_file_bytes:
            return self._error(400, "File is larger than the 512 MB limit.", param="file")
        if purpose == "batch" and not name.lower().endswith(".jsonl"):
            return self._error(400, "Invalid file format for Batch API. Must be .jsonl", param="file")
        if purpose == "batch" and len(part.data) > self.max_batch_file_bytes:
            return self._error(400, "Batch input files can be up to 200 MB.", param="file")
        expires = self._expiry(req, purpose)
        if isinstance(expires, Reply):
            return expires
        f = self._put(req.key_id, name, purpose, part.data, expires)
        if req.fault and req.fault.kind == "disconnect_after_create":
            return None
        return json_reply(f.to_json())

    def _expiry(self, req: Request, purpose: str) -> float | None | Reply:
        anchor, seconds = req.form_value("expires_after[anchor]"), req.form_value("expires_after[seconds]")
        if seconds is None:
            return self.clock() + THIRTY_DAYS if purpose == "batch" else None
        try:
            s = int(seconds)
        except ValueError:
            s = -1
        if anchor not in (None, "created_at") or not 3600 <= s <= THIRTY_DAYS:
            return self._error(400, "expires_after needs anchor 'created_at' and 3600..2592000 seconds.",
                               param="expires_after")
        return self.clock() + s

    def _put(self, owner: str, name: str, purpose: str, data: bytes, expires_at: float | None) -> StoredFile:
        f = StoredFile(new_id("file-"), owner, name, purpose, data, self.clock(), expires_at)
        self._store[f.id] = f
        return f

    def _write_output(self, b: Batch, kind: str, data: bytes) -> str:
        expires = self.clock() + (b.output_expires_s or THIRTY_DAYS)
        return self._put(b.owner, f"batch_{b.id}_{kind}.jsonl", "batch_output", data, expires).id

    # -- batches
    def _create_batch(self, req: Request) -> Reply | None:
        body = req.json if isinstance(req.json, dict) else None
        if body is None:
            return self._error(400, "We could not parse the JSON body of your request.")
        endpoint, window = body.get("endpoint"), body.get("completion_window")
        if endpoint not in SUPPORTED_ENDPOINTS:
            return self._error(400, f"Invalid value for 'endpoint': {endpoint!r}.", param="endpoint", code="invalid_value")
        if endpoint not in EMULATED_ENDPOINTS:
            return self._error(400, f"This emulator runs only {EMULATED_ENDPOINTS}.", param="endpoint")
        if window != "24h":
            return self._error(400, f"Invalid value for 'completion_window': {window!r}. Supported values are: '24h'.",
                               param="completion_window", code="invalid_value")
        problem = _metadata_problem(body.get("metadata"))
        if problem:
            return self._error(400, problem, param="metadata", code="invalid_value")
        f = self._file(req, str(body.get("input_file_id")))
        if f is None:
            return self._error(400, f"No such File object: {body.get('input_file_id')}", param="input_file_id")
        if f.purpose != "batch":
            return self._error(400, "The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        requests, errors = validate_jsonl(f.data, endpoint, self.max_requests)
        if req.fault and req.fault.kind == "token_limit_exceeded":
            errors = [{"code": "token_limit_exceeded", "line": None, "param": None,
                       "message": "Enqueued token limit reached for this model. Try again once some batches finish."}]
            requests = []
        oea = body.get("output_expires_after") if isinstance(body.get("output_expires_after"), dict) else {}
        models = {r["body"].get("model") for r in requests}
        b = Batch(new_id("batch_"), req.key_id, endpoint, f.id, self.clock(), self.timing, requests, errors,
                  metadata=body.get("metadata"), output_expires_s=oea.get("seconds"),
                  model=next(iter(models)) if len(models) == 1 else None)
        self._batches[b.id] = b
        if req.fault and req.fault.kind == "disconnect_after_create":
            return None
        return json_reply(b.to_json())

    def _list_batches(self, req: Request) -> Reply:
        try:
            limit = min(100, max(1, int((req.query.get("limit") or ["20"])[0])))
        except ValueError:
            return self._error(400, "Invalid value for 'limit'.", param="limit")
        after = (req.query.get("after") or [None])[0]
        mine = [b for b in reversed(self._batches.values()) if b.owner == req.key_id]  # creation order, newest first
        ids = [b.id for b in mine]
        if after in ids:
            mine = mine[ids.index(after) + 1:]
        page = mine[:limit]
        for b in page:
            self._runner.advance(b)
        data = [b.to_json() for b in page]
        return json_reply({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                           "last_id": data[-1]["id"] if data else None, "has_more": len(mine) > limit})

    # -- one line of a batch: the synchronous endpoint's own code, on a request made from the line
    def _execute(self, b: Batch, item: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        cid = str(item.get("custom_id"))
        fault = self._take_line_fault(cid)
        line_id = new_id("batch_req_")
        if fault is not None and fault.kind == "request_timeout":
            return {"id": line_id, "custom_id": cid, "response": None,
                    "error": {"code": "request_timeout", "message": "The request to the model timed out."}}, False
        sub = Request("POST", self.prefix + b.endpoint[len("/v1"):], {}, {}, b"", json=item["body"], fault=fault)
        if fault is not None and fault.kind == "server_error":
            reply = self._error(500, "The server had an error while processing your request.", type_="server_error")
        elif b.endpoint.endswith("/edits"):
            reply = self._edits_json(sub, owner=b.owner)
        else:
            reply = self._generations(sub)
        good = reply.status == 200 and isinstance(reply.body, dict) and bool(reply.body.get("data"))
        if good:
            self.billed[(b.owner, cid)] += 1
        rid = reply.headers.get("x-request-id") or new_id("req_")
        return {"id": line_id, "custom_id": cid,
                "response": {"status_code": reply.status, "request_id": rid, "body": reply.body}, "error": None}, good

    def _take_line_fault(self, cid: str) -> Fault | None:
        for i, (want, f) in enumerate(self._line_faults):
            if want is None or want == cid:
                del self._line_faults[i]
                return f
        return None

    # -- /images/edits, JSON form: images and mask by URL (data: or loopback http) or by file id
    def _edits_json(self, req: Request, owner: str | None = None) -> Reply:
        body = req.json
        owner = owner or req.key_id
        refs = body.get("images")
        if not isinstance(refs, list) or not refs:
            return self._error(400, "Missing required parameter: 'images'.", param="images",
                               code="missing_required_parameter")
        if len(refs) > 16:
            return self._error(400, "At most 16 images.", param="images")
        sizes = []
        for i, ref in enumerate(refs):
            got = self._image_ref(ref, owner, f"images[{i}]")
            if isinstance(got, Reply):
                return got
            sizes.append(got[:2])
        if body.get("mask") is not None:
            got = self._image_ref(body["mask"], owner, "mask")
            if isinstance(got, Reply):
                return got
            if got[2] != "png" or got[:2] != sizes[0]:
                return self._error(400, "The mask must be a PNG the same size as the first image.", param="mask")
        fields = {k: v for k, v in body.items() if k not in ("images", "mask")}
        if fields.get("size") in (None, "auto"):
            fields["size"] = "x".join(map(str, sizes[0])) if not size_problem(*sizes[0]) else "1024x1024"
        checked = self._common(fields)
        if isinstance(checked, Reply):
            return checked
        w, h, fmt, quality = checked
        return self._answer(req, fields, w, h, fmt, quality, input_images=len(refs))

    def _image_ref(self, ref: Any, owner: str, param: str) -> tuple[int, int, str] | Reply:
        if not isinstance(ref, dict) or len({"image_url", "file_id"} & set(ref)) != 1:
            return self._error(400, f"'{param}' needs exactly one of 'image_url' or 'file_id'.", param=param)
        if "file_id" in ref:
            f = self._store.get(str(ref["file_id"]))
            if f is None or f.owner != owner or f.purpose not in IMAGE_INPUT_PURPOSES:
                return self._error(400, f"No usable image file '{ref['file_id']}'.", param=param)
            data = f.data
        else:
            data = self._fetch(str(ref["image_url"]))
            if data is None:
                return self._error(400, f"Could not read the image at '{param}'.image_url.", param=param,
                                   code="invalid_image_url")
        try:
            w, h, fmt = image_size(data)
        except Exception:
            return self._error(400, f"'{param}' is not an image.", param=param, code="invalid_image")
        if fmt not in ("png", "jpeg", "webp"):
            return self._error(400, f"Unsupported image format {fmt}.", param=param)
        return w, h, fmt

    def _fetch(self, url: str) -> bytes | None:
        if url.startswith("data:"):
            head, _, payload = url.partition(",")
            try:
                return base64.b64decode(payload, validate=True) if head.endswith(";base64") else None
            except (binascii.Error, ValueError):
                return None
        try:
            return self.url_fetcher(url)
        except Exception:
            return None


def _metadata_problem(meta: Any) -> str | None:
    if meta is None:
        return None
    if not isinstance(meta, dict) or len(meta) > 16:
        return "metadata is at most 16 key-value pairs."
    for k, v in meta.items():
        if not isinstance(v, str) or len(k) > 64 or len(v) > 512:
            return "metadata keys are strings of at most 64 characters, values strings of at most 512."
    return None


def _loopback_fetch(url: str) -> bytes:
    """The emulator has no internet: it reads http(s) image URLs only from 127.0.0.1/localhost."""
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"not a loopback URL: {host}")
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only, checked above
        return resp.read()


if __name__ == "__main__":
    main(OpenAIBatchEmulator)
