"""What every vendor emulator shares: a real HTTP server on 127.0.0.1 in a background thread.

A vendor emulator subclasses `Emulator` and implements `handle(req) -> Reply`. The harness gives it:

- a server on 127.0.0.1:0 (`with OpenAIEmulator() as emu: emu.base_url`), or
  `python -m tests.emulators.<vendor> --port P --latency S --limit N` for benchmarks;
- per-key in-flight accounting (`emu.stats(key)` -> current, peak, total), thread-safe; keys are
  identified by a fingerprint (`key_id`), so neither the stats nor the log ever hold a key;
- a concurrency limit per key (`limit=`): a request (or job, see `acquire`) over it gets 429;
- a fault queue: `emu.inject("429", retry_after=0.05)`; the next matching request consumes it.
  Transport faults are handled here: "429", any HTTP status ("500", "503", "401", ...),
  "malformed_json", "timeout" (read the request, then sleep `seconds` past the client's timeout),
  "disconnect" (close without answering), "empty" (200, no body), "slow_loris" (the vendor's real
  answer, one byte every `interval` seconds: no gap is long enough to trip a read timeout; with
  `on="/files/"` it applies to result downloads too). Content faults
  ("truncated_image", "expired_url", "moderation", "not_image", "b64_prefix", "url", ...) are
  handed to the vendor's `handle` as `req.fault` for it to apply in the vendor's own shape;
- latency (seconds, or a callable of the request) spent while the request counts as in flight;
- a request log (method, path, query, headers minus credentials, json body, multipart form);
- files served from the emulator (`put_file` -> URL on the same origin), expirable;
- `GET /_emulator/redirect?to=URL`: a 302 to any URL;
- hostile knobs: `echo_key` (a proxy that echoes the caller's key in `x-request-id`; vendors also
  put it in their error texts), `result_url` (every result points there instead of at this server).

Real image bytes for replies come from tests/helpers/images.py.
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import email.policy
import hashlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

CREDENTIAL_HEADERS = {"authorization", "x-api-key", "api-key", "proxy-authorization"}
TRANSPORT_FAULTS = {"429", "malformed_json", "timeout", "disconnect", "empty", "slow_loris"}


# -- keys ------------------------------------------------------------------------------------

def key_id(key: str | None) -> str:
    """A stable fingerprint of an API key, so stats and logs can tell keys apart without holding them."""
    if not key:
        return "anonymous"
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


# -- requests, replies, faults -----------------------------------------------------------------

@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names, credentials included (never logged)
    body: bytes
    json: Any = None
    parts: list[Part] = field(default_factory=list)  # multipart/form-data, in order
    fault: "Fault | None" = None
    key: str | None = None  # the bearer / X-API-Key credential

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def fields(self) -> dict[str, list[str]]:
        """Multipart text fields by name (repeated names keep every value)."""
        out: dict[str, list[str]] = {}
        for p in self.parts:
            if p.filename is None:
                out.setdefault(p.name, []).append(p.data.decode("utf-8", "replace"))
        return out

    def files(self) -> dict[str, list[Part]]:
        out: dict[str, list[Part]] = {}
        for p in self.parts:
            if p.filename is not None:
                out.setdefault(p.name, []).append(p)
        return out

    def form_value(self, name: str, default: str | None = None) -> str | None:
        vals = self.fields().get(name)
        return vals[0] if vals else default


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    drip_s: float | None = None  # write it one byte at a time, this many seconds apart

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, obj, dict(headers or {}), "application/json")


@dataclass
class Fault:
    kind: str
    on: str | None = None  # only requests whose path contains this (None: any counted request)
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def matches(self, req: Request) -> bool:
        return (self.on is None or self.on in req.path) and (self.method is None or self.method == req.method)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # credentials removed
    json: Any
    form: dict[str, list[str]]  # multipart text fields
    files: dict[str, list[dict[str, Any]]]  # multipart files: filename, content_type, size, sha256
    key_id: str
    at: float
    fault: str | None = None

    def dump(self) -> str:
        """Everything logged, as text (tests search it for secrets)."""
        return json.dumps(self.__dict__, default=str, sort_keys=True)


@dataclass
class KeyStats:
    current: int = 0
    peak: int = 0
    total: int = 0
    rejected: int = 0  # turned away by the concurrency limit


# -- the server ---------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a benchmark opens hundreds of connections at once
    allow_reuse_address = True


class Emulator:
    """Base of every vendor emulator. Subclasses implement `handle`; may override `counted`."""

    name = "emulator"

    def __init__(
        self,
        *,
        latency: float | Callable[[Request], float] = 0.0,
        limit: int | None = None,
        keys: set[str] | None = None,  # accepted keys; None accepts any non-empty key
        host: str = "127.0.0.1",
        port: int = 0,
        retry_after: float = 0.05,  # what the limit's 429 asks for
    ):
        self.latency = latency
        self.limit = limit
        self.keys = keys
        self.retry_after = retry_after
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self._stats: dict[str, KeyStats] = collections.defaultdict(KeyStats)
        self._files: dict[str, tuple[bytes, str]] = {}
        self._expired: set[str] = set()
        self.log: list[LoggedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.echo_key = False  # answer every request with its own key in x-request-id (and error texts)
        self.result_url: str | None = None  # point every result at this URL

    # -- lifecycle
    def start(self) -> "Emulator":
        emu = self

        class Handler(_Handler):
            emulator = emu

        self._server = _Server((self._host, self._port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What a catalog's `base_url` should be for this vendor (subclasses add their prefix)."""
        return self.origin

    @property
    def download_hosts(self) -> list[str]:
        """What a provider entry's `download_hosts` must list for its result files: they are
        served over http on 127.0.0.1, which the download policy refuses otherwise."""
        return [self.origin]

    # -- faults
    def inject(self, kind: str, *, on: str | None = None, method: str | None = None, times: int = 1,
               **params: Any) -> None:
        """Queue `times` faults of `kind`, consumed in order by matching requests."""
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(str(kind), on, method, dict(params)))

    def pending_faults(self) -> list[str]:
        with self._lock:
            return [f.kind for f in self._faults]

    def _take_fault(self, req: Request, targeted: bool = False) -> Fault | None:
        """The first queued fault this request matches (`targeted`: only one naming its path)."""
        with self._lock:
            for i, f in enumerate(self._faults):
                if f.matches(req) and (not targeted or f.on is not None):
                    del self._faults[i]
                    return f
        return None

    # -- accounting
    def acquire(self, key: str | None) -> bool:
        """Count one more call/job in flight for `key`; False (not counted) when over the limit."""
        kid = key_id(key)
        with self._lock:
            s = self._stats[kid]
            if self.limit is not None and s.current >= self.limit:
                s.rejected += 1
                return False
            s.current += 1
            s.total += 1
            s.peak = max(s.peak, s.current)
            return True

    def release(self, key: str | None) -> None:
        with self._lock:
            self._stats[key_id(key)].current -= 1

    def stats(self, key: str | None = None) -> KeyStats:
        """Stats for one key, or summed over every key (peak: the largest single-key peak)."""
        with self._lock:
            if key is not None:
                s = self._stats.get(key_id(key), KeyStats())
                return KeyStats(s.current, s.peak, s.total, s.rejected)
            all_ = list(self._stats.values())
            return KeyStats(sum(s.current for s in all_), max((s.peak for s in all_), default=0),
                            sum(s.total for s in all_), sum(s.rejected for s in all_))

    def stats_json(self) -> dict[str, Any]:
        with self._lock:
            return {k: vars(s).copy() for k, s in self._stats.items()}

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method) and (path is None or path in r.path)]

    def log_text(self) -> str:
        with self._lock:
            return "\n".join(r.dump() for r in self.log)

    # -- files served from the emulator (result URLs)
    def put_file(self, data: bytes, ext: str = "png", content_type: str | None = None) -> str:
        fid = uuid.uuid4().hex
        ct = content_type or {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
                              "webp": "image/webp"}.get(ext, "application/octet-stream")
        with self._lock:
            self._files[fid] = (data, ct)
        return f"{self.origin}/files/{fid}.{ext}"

    def expire(self, url: str) -> None:
        with self._lock:
            self._expired.add(url.rsplit("/", 1)[-1].split(".")[0])

    # -- for subclasses
    def counted(self, req: Request) -> bool:
        """Whether this request is a call in flight (limit, latency, stats). Default: every POST."""
        return req.method == "POST"

    def authorized(self, req: Request) -> bool:
        return bool(req.key) and (self.keys is None or req.key in self.keys)

    def unauthorized(self, req: Request) -> Reply:
        return json_reply({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                     "param": None, "code": "invalid_api_key"}}, 401)

    def rate_limited(self, req: Request, retry_after: float) -> Reply:
        return json_reply({"error": {"message": "Too many requests in flight for this key.",
                                     "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}},
                          429, {"retry-after": _num(retry_after)})

    def error_reply(self, req: Request, status: int, message: str) -> Reply:
        """A vendor-shaped error body for an injected HTTP status."""
        return json_reply({"error": {"message": message, "type": "server_error" if status >= 500 else
                                     "invalid_request_error", "param": None, "code": None}}, status)

    def handle(self, req: Request) -> Reply:
        raise NotImplementedError

    def request_latency(self, req: Request) -> float:
        return float(self.latency(req) if callable(self.latency) else self.latency)

    # -- the dispatch every request goes through
    def _dispatch(self, req: Request, conn: "_Handler") -> Reply | None:
        reply = self._route(req, conn)
        if reply is not None and self.echo_key and req.key:
            reply.headers["x-request-id"] = req.key
            self.echo_in_body(reply, req.key)
        return reply

    def echo_in_body(self, reply: Reply, key: str) -> None:
        """Where this vendor's error bodies would echo a key: OpenAI's `error.param`."""
        err = reply.body.get("error") if isinstance(reply.body, dict) else None
        if isinstance(err, dict):
            err["param"] = key

    def _route(self, req: Request, conn: "_Handler") -> Reply | None:
        if req.method == "GET" and req.path == "/_emulator/stats":
            return json_reply(self.stats_json())
        if req.method == "GET" and req.path == "/_emulator/redirect":  # a hop to anywhere (SSRF tests)
            self._log(req)
            return Reply(302, b"", {"location": (req.query.get("to") or [""])[0]})
        if req.method == "GET" and req.path.startswith("/files/"):
            req.fault = self._take_fault(req, targeted=True)
            self._log(req)
            fid = req.path.rsplit("/", 1)[-1].split(".")[0]
            with self._lock:
                entry = None if fid in self._expired else self._files.get(fid)
            if entry is None:
                return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
            reply = Reply(200, entry[0], content_type=entry[1])
            if req.fault is not None and req.fault.kind == "slow_loris":
                reply.drip_s = float(req.fault.get("interval", 0.7))
            return reply
        req.fault = self._take_fault(req)
        self._log(req)
        if not self.authorized(req):
            return self.unauthorized(req)
        counted = self.counted(req)
        if counted and not self.acquire(req.key):
            return self.rate_limited(req, self.retry_after)
        try:
            f = req.fault
            if f is not None and f.kind in TRANSPORT_FAULTS | _status_kinds(f.kind):
                return self._transport_fault(req, f, conn)
            delay = self.request_latency(req)
            if delay > 0:
                time.sleep(delay)
            return self.handle(req)
        finally:
            if counted:
                self.release(req.key)

    def _transport_fault(self, req: Request, f: Fault, conn: "_Handler") -> Reply | None:
        if f.kind == "429":
            headers = {}
            if f.get("retry_after") is not None:
                headers["retry-after"] = _num(f.get("retry_after"))
            if f.get("retry_after_ms") is not None:
                headers["retry-after-ms"] = _num(f.get("retry_after_ms"))
            if f.get("retry_after_date") is not None:
                headers["retry-after"] = f.get("retry_after_date")
            reply = self.rate_limited(req, 0)
            reply.headers = headers
            return reply
        if f.kind == "malformed_json":
            return Reply(200, b'{"data": [{"b64_json": "iVBOR', content_type="application/json")
        if f.kind == "empty":
            return Reply(200, b"", content_type="application/json")
        if f.kind == "timeout":
            time.sleep(float(f.get("seconds", 1.0)))
            return None  # the client has given up: drop the connection
        if f.kind == "disconnect":
            return None
        if f.kind == "slow_loris":  # the real answer, at a byte rate no read timeout ever trips
            reply = self.handle(req)
            if reply is not None:
                reply.drip_s = float(f.get("interval", 0.7))
            return reply
        status = int(f.kind)
        reply = self.error_reply(req, status, f.get("message", f"injected HTTP {status}"))
        if f.get("retry_after") is not None:
            reply.headers["retry-after"] = _num(f.get("retry_after"))
        if f.get("body") is not None:
            reply.body = f.get("body")
        reply.headers.update(f.get("headers", {}))
        return reply

    def _log(self, req: Request) -> None:
        entry = LoggedRequest(
            method=req.method,
            path=req.path,
            query=req.query,
            headers={k: v for k, v in req.headers.items() if k not in CREDENTIAL_HEADERS},
            json=req.json,
            form=req.fields(),
            files={k: [{"filename": p.filename, "content_type": p.content_type, "size": len(p.data),
                        "sha256": hashlib.sha256(p.data).hexdigest()} for p in v] for k, v in req.files().items()},
            key_id=req.key_id,
            at=time.time(),
            fault=req.fault.kind if req.fault else None,
        )
        with self._lock:
            self.log.append(entry)


def _status_kinds(kind: str) -> set[str]:
    return {kind} if kind.isdigit() and len(kind) == 3 else set()


def _num(x: Any) -> str:
    return f"{float(x):g}" if isinstance(x, (int, float)) else str(x)


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if not msg.is_multipart():
        raise ValueError("not a multipart body")
    parts = []
    for p in msg.iter_parts():
        name = p.get_param("name", header="content-disposition")
        filename = p.get_param("filename", header="content-disposition")
        parts.append(Part(str(name), None if filename is None else str(filename),
                          p.get_content_type(), p.get_payload(decode=True) or b""))
    return parts


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"  # keep-alive, as real vendors
    # headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK held every
    # response ~40 ms on loopback, a stall real vendors (nginx, envoy) do not have
    disable_nagle_algorithm = True
    server_version = "EmulatedVendor/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the emulator keeps its own log
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, parts.path, parse_qs(parts.query), headers, body)
        auth = headers.get("authorization", "")
        req.key = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key")
        ctype = headers.get("content-type", "")
        try:
            if body and "json" in ctype:
                req.json = json.loads(body)
            elif body and ctype.startswith("multipart/form-data"):
                req.parts = parse_multipart(ctype, body)
        except (ValueError, UnicodeDecodeError) as exc:
            self._write(Reply(400, {"error": {"message": f"could not parse body: {exc}",
                                              "type": "invalid_request_error", "param": None, "code": None}}))
            return
        try:
            reply = self.emulator._dispatch(req, self)
        except Exception as exc:  # an emulator bug must surface as a 500, not a hung client
            reply = Reply(500, {"error": {"message": f"emulator error: {type(exc).__name__}: {exc}",
                                          "type": "server_error", "param": None, "code": None}})
        if reply is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        if reply.drip_s is not None:
            self._drip(reply)
            return
        data, ctype = reply.encoded()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            declared = reply.headers.pop("content-length", None)
            self.send_header("Content-Length", declared or str(len(data)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            if declared is not None:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drip(self, reply: Reply) -> None:
        """The whole response, status line included, one byte at a time until the client hangs up."""
        data, ctype = reply.encoded()
        head = [f"HTTP/1.1 {reply.status} OK", f"Content-Type: {ctype}", f"Content-Length: {len(data)}",
                *(f"{k}: {v}" for k, v in reply.headers.items()), "Connection: close", "", ""]
        raw = "\r\n".join(head).encode() + data
        self.close_connection = True
        try:
            for i in range(len(raw)):
                self.wfile.write(raw[i:i + 1])
                self.wfile.flush()
                time.sleep(reply.drip_s or 0)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


# -- running one as a process (benchmarks) -----------------------------------------------------

def main(emulator_cls: type[Emulator], argv: list[str] | None = None, **extra: Any) -> None:
    """`python -m tests.emulators.<vendor> --port P --latency S [--limit N]`: serve until killed.
    Prints the base URL on the first line; GET /_emulator/stats gives per-key counts."""
    p = argparse.ArgumentParser(prog=f"python -m tests.emulators.{emulator_cls.name}")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    p.add_argument("--limit", type=int, default=None, help="calls in flight per key before 429")
    for name, (kind, default, help_) in getattr(emulator_cls, "cli_options", {}).items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=default, help=help_)
    args = vars(p.parse_args(argv))
    emu = emulator_cls(**args, **extra)
    emu.start()
    print(emu.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
