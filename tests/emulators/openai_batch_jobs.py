"""The Batch API's job model for the emulator: JSONL validation and a batch's life over time.

Nothing here speaks HTTP; `tests.emulators.openai_batch.OpenAIBatchEmulator` owns the routes. A batch's
state is a pure function of the clock (and of when it was cancelled), evaluated lazily whenever the
batch is read, so tests can drive it with a `ManualClock` and never sleep:

    created_at ── validate_s ──> in_progress_at ── lines ──> finalizing_at ── finalize_s ──> completed_at
                                        │  line i finishes at in_progress_at + per_request_s * (i // parallel + 1)
                                        ├─ expires_at (created_at + window_s) reached first ──> expired
                                        └─ cancel requested first ──> cancelling ── cancel_s ──> cancelled
    a file that fails validation: validating ── validate_s ──> failed (errors.data, no files)

Lines execute (and are billed) when their finish time has passed and the batch is next read; a line
fault injected before then applies to it. Expired and cancelled batches keep the lines that
finished in the output/error files and write every other line to the error file with `error.code`
`batch_expired` / `batch_cancelled` and `response: null`.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

SUPPORTED_ENDPOINTS = (
    "/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
    "/v1/images/generations", "/v1/images/edits", "/v1/videos",
)
EMULATED_ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
TERMINAL = {"failed", "completed", "expired", "cancelled"}
UNFINISHED_MESSAGES = {
    "batch_expired": "This request could not be executed before the completion window expired.",
    "batch_cancelled": "This request was not executed because the batch was cancelled.",
}


class ManualClock:
    """A clock tests move by hand (`clock.advance(3)`), so no test sleeps through a batch."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += float(seconds)


@dataclass
class Timing:
    validate_s: float = 0.05
    per_request_s: float = 0.05
    parallel: int = 4
    finalize_s: float = 0.05
    cancel_s: float = 0.05
    window_s: float = 24 * 3600.0  # what "24h" means; shorten it to test expiry


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


# -- validation of the input file ------------------------------------------------------------------

def _err(code: str, message: str, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def validate_jsonl(data: bytes, endpoint: str, max_requests: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(requests, errors). The checks are the documented ones (JSONL, unique custom_id, method POST,
    url = the batch's endpoint, ≤ max_requests lines, one model per file); the error codes are this
    emulator's own choice — no public source lists OpenAI's."""
    errors: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], [_err("invalid_file_format", "The input file is not UTF-8 text.")]
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        return [], [_err("empty_file", "The input file is empty.")]
    if len(lines) > max_requests:
        return [], [_err("too_many_requests", f"The input file has {len(lines)} requests; a batch takes at most {max_requests}.")]
    for n, raw in lines:
        try:
            item = json.loads(raw)
        except ValueError:
            errors.append(_err("invalid_json_line", f"Line {n} is not valid JSON.", n))
            continue
        if not isinstance(item, dict):
            errors.append(_err("invalid_json_line", f"Line {n} is not a JSON object.", n))
            continue
        cid = item.get("custom_id")
        if not isinstance(cid, str) or not cid:
            errors.append(_err("missing_required_parameter", "Missing required parameter: 'custom_id'.", n, "custom_id"))
        elif cid in seen:
            errors.append(_err("duplicate_custom_id", f"The custom_id '{cid}' appears more than once.", n, "custom_id"))
        else:
            seen.add(cid)
        if item.get("method") != "POST":
            errors.append(_err("invalid_value", "Only the POST method is supported.", n, "method"))
        if item.get("url") != endpoint:
            errors.append(_err("invalid_value", f"The url must be the batch's endpoint '{endpoint}'.", n, "url"))
        body = item.get("body")
        if not isinstance(body, dict):
            errors.append(_err("invalid_value", "'body' must be a JSON object.", n, "body"))
        elif isinstance(body.get("model"), str):
            models.add(body["model"])
        requests.append(item)
    if len(models) > 1:
        errors.append(_err("mismatched_model", f"A batch may use one model; this file uses {sorted(models)}."))
    return (requests if not errors else []), errors


# -- one batch ----------------------------------------------------------------------------------

@dataclass
class Batch:
    id: str
    owner: str
    endpoint: str
    input_file_id: str
    created_at: float
    timing: Timing
    requests: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    metadata: dict[str, str] | None = None
    output_expires_s: int | None = None
    model: str | None = None
    cancel_at: float | None = None
    results: list[dict[str, Any]] = field(default_factory=list)  # output lines, in execution order
    ok: list[bool] = field(default_factory=list)
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    stamps: dict[str, float] = field(default_factory=dict)

    # -- the schedule
    @property
    def expires_at(self) -> float:
        return self.created_at + self.timing.window_s

    @property
    def start_at(self) -> float:
        return self.created_at + self.timing.validate_s

    def finish_at(self, i: int) -> float:
        t = self.timing
        return self.start_at + t.per_request_s * (i // max(1, t.parallel) + 1)

    @property
    def all_done_at(self) -> float:
        return self.finish_at(len(self.requests) - 1) if self.requests else self.start_at

    def cut_at(self) -> float:
        """When execution stops: the window's end or the cancel, whichever comes first."""
        return min(self.expires_at, self.cancel_at if self.cancel_at is not None else math.inf)

    def status_at(self, now: float) -> str:
        """What the batch's status is at `now` (no side effects)."""
        if self.cancel_at is not None and self.cancel_at < min(self.start_at, self.expires_at):
            return "cancelled" if now >= self.cancel_at + self.timing.cancel_s else (
                "cancelling" if now >= self.cancel_at else "validating")
        if now < self.start_at:
            return "validating"
        if self.errors:
            return "failed"
        done = self.all_done_at
        if done <= self.cut_at():
            if now < done:
                return "in_progress"
            return "finalizing" if now < done + self.timing.finalize_s else "completed"
        if self.cancel_at is not None and self.cancel_at < self.expires_at:
            if now < self.cancel_at:
                return "in_progress"
            return "cancelling" if now < self.cancel_at + self.timing.cancel_s else "cancelled"
        return "in_progress" if now < self.expires_at else "expired"

    # -- what the API shows
    def counts(self) -> dict[str, int]:
        if self.status in ("validating", "failed") and not self.results:
            return {"total": 0, "completed": 0, "failed": 0}
        good = sum(self.ok)
        return {"total": len(self.requests), "completed": good, "failed": len(self.ok) - good}

    def usage(self) -> dict[str, Any] | None:
        tin = tout = 0
        for line, good in zip(self.results, self.ok):
            u = (line.get("response") or {}).get("body", {}).get("usage") if good else None
            if isinstance(u, dict):
                tin += int(u.get("input_tokens") or 0)
                tout += int(u.get("output_tokens") or 0)
        if not self.results:
            return None
        return {"input_tokens": tin, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": tout,
                "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": tin + tout}

    def to_json(self) -> dict[str, Any]:
        s = self.stamps

        def ts(name: str) -> int | None:
            return int(s[name]) if name in s else None

        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors and self.status == "failed" else None,
            "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": int(self.created_at), "in_progress_at": ts("in_progress_at"),
            "expires_at": int(self.expires_at), "finalizing_at": ts("finalizing_at"),
            "completed_at": ts("completed_at"), "failed_at": ts("failed_at"), "expired_at": ts("expired_at"),
            "cancelling_at": ts("cancelling_at"), "cancelled_at": ts("cancelled_at"),
            "request_counts": self.counts(), "metadata": self.metadata, "usage": self.usage(),
        }


class Runner:
    """Brings a batch up to date: runs the lines whose time has come, stamps the transitions and, at
    a terminal status, writes the output and error files through `write_file(batch, kind, bytes)`."""

    def __init__(self, clock: Callable[[], float], execute: Callable[[Batch, dict[str, Any]], tuple[dict[str, Any], bool]],
                 write_file: Callable[[Batch, str, bytes], str]) -> None:
        self.clock = clock
        self.execute = execute
        self.write_file = write_file

    def advance(self, b: Batch) -> None:
        if b.status in TERMINAL:
            return
        now = self.clock()
        horizon = min(now, b.cut_at())
        while len(b.results) < len(b.requests) and b.finish_at(len(b.results)) <= horizon and not b.errors:
            line, good = self.execute(b, b.requests[len(b.results)])
            b.results.append(line)
            b.ok.append(good)
        status = b.status_at(now)
        self._stamp(b, status)
        b.status = status
        if status in ("completed", "expired", "cancelled"):
            self._write(b, status)

    def _stamp(self, b: Batch, status: str) -> None:
        s = b.stamps
        if status in ("in_progress", "finalizing", "completed", "expired") or (
                status in ("cancelling", "cancelled") and b.cancel_at is not None and b.cancel_at >= b.start_at):
            s.setdefault("in_progress_at", b.start_at)
        if status in ("finalizing", "completed"):
            s.setdefault("finalizing_at", b.all_done_at)
        if status == "completed":
            s.setdefault("completed_at", b.all_done_at + b.timing.finalize_s)
        if status == "failed":
            s.setdefault("failed_at", b.start_at)
        if status == "expired":
            s.setdefault("expired_at", b.expires_at)
        if status in ("cancelling", "cancelled") and b.cancel_at is not None:
            s.setdefault("cancelling_at", b.cancel_at)
        if status == "cancelled" and b.cancel_at is not None:
            s.setdefault("cancelled_at", b.cancel_at + b.timing.cancel_s)

    def _write(self, b: Batch, status: str) -> None:
        out = [ln for ln, good in zip(b.results, b.ok) if good]
        err = [ln for ln, good in zip(b.results, b.ok) if not good]
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(status)
        if code:
            for req in b.requests[len(b.results):]:
                err.append({"id": new_id("batch_req_"), "custom_id": req.get("custom_id"), "response": None,
                            "error": {"code": code, "message": UNFINISHED_MESSAGES[code]}})
        rng = _Shuffle(b.id)  # the documented caveat: output order need not follow input order
        if out:
            b.output_file_id = self.write_file(b, "output", _jsonl(rng.shuffle(out)))
        if err:
            b.error_file_id = self.write_file(b, "error", _jsonl(rng.shuffle(err)))


class _Shuffle:
    def __init__(self, seed: str) -> None:
        import random

        self._r = random.Random(seed)

    def shuffle(self, items: list[Any]) -> list[Any]:
        items = list(items)
        self._r.shuffle(items)
        return items


def _jsonl(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(it, separators=(",", ":")) + "\n" for it in items).encode()
