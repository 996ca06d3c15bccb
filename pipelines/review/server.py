"""`assetpipe review`: a local review page (stdlib http.server) over the catalog's built takes.

    GET  /?token=T         sets the session cookie, then the page (/app.js, /app.css)
    GET  /api/variants     every variant: review state, built and approved takes, explain
    GET  /take/<sha256>    a take's bytes from the store (content-addressed: cached forever)
    POST /api/decide       {"action": "approve"|"reject", "keys": [...], "note": "...", "seen": {key: sha256}}

`seen` is the take the page showed for each key: a decision is refused (409, by name) when a build
has replaced it since, so nothing is approved unseen.

Writes go through pipelines.review.actions, so approvals.yaml is written exactly as the CLI writes
it, under the same lock. Who may write: the server binds to loopback unless told otherwise, and a
request is served only when its Host names an IP address or localhost (no DNS rebinding) and it
carries the per-session token — a cookie (HttpOnly, SameSite=Strict) set from the URL printed at
start, plus, for a write, the token in an `X-Assetpipe-Token` header (a cross-origin page can
neither read nor send it) and an Origin, when the browser sends one, equal to the page's own.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from pipelines.errors import AssetpipeError, CatalogError, StoreError
from pipelines.plan.project import Project
from pipelines.review import actions
from pipelines.review.explain import explain_one, render_text
from pipelines.review.project import approvals_of
from pipelines.review.states import counts, info_of

TOKEN_HEADER = "X-Assetpipe-Token"
SHA_PATH = re.compile(r"^/take/([0-9a-f]{64})$")
STATIC = {"/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8")}
MAX_BODY = 1 << 20
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass
class ReviewApp:
    """The state of one review session: the project, who reviews, the token, the write hook."""

    project: Project
    reviewer: str
    after: Callable[[Project, list[actions.Decision]], None] = lambda project, decisions: None
    # reads the catalog again (load_project): a page left open sees edits and builds made elsewhere
    reload: Callable[[], Project] | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0  # set by make_server: cookies are not scoped by port, their names are

    @property
    def cookie(self) -> str:
        return f"assetpipe_review_{self.port}"

    def _current(self) -> Project:
        """The catalog as it is on disk now; a broken edit is its path:line CatalogError."""
        if self.reload is not None:
            self.project = self.reload()
        return self.project

    def variants(self) -> dict[str, Any]:
        with self.lock:
            self._current()
            plan = self.project.plan()
            entries = approvals_of(self.project)
            cards = [self._card(plan, p, entries.get(p.key)) for p in plan.items]
        return {"reviewer": self.reviewer, "catalog": self.project.catalog.root.resolve().name,
                "counts": counts(c["_info"] for c in cards),
                "variants": [{k: v for k, v in c.items() if k != "_info"} for c in cards]}

    def _card(self, plan, p, entry) -> dict[str, Any]:
        info = info_of(p, entry)
        v = p.variant
        approved = info.approved
        item = explain_one(self.project, plan, p, entry)
        return {
            "_info": info, "key": p.key, "campaign": v.campaign, "asset": v.asset, "variant": v.vid,
            "operation": v.operation, "prompt": v.prompt, "state": info.state, "plan_status": p.status,
            "reason": p.reason, "review": info.to_json(),
            "built": {"sha256": info.built, "url": f"/take/{info.built}"} if info.built else None,
            "approved": ({"sha256": approved.sha256, "url": f"/take/{approved.sha256}", "by": approved.by,
                          "at": approved.at, "note": approved.note} if approved else None),
            "explain": render_text(item)[1:],
        }

    def decide(self, body: dict[str, Any]) -> dict[str, Any]:
        action, keys, note, seen = body.get("action"), body.get("keys"), body.get("note") or None, body.get("seen")
        if action not in ("approve", "reject") or not isinstance(keys, list) or not keys \
                or not all(isinstance(k, str) for k in keys) or (note is not None and not isinstance(note, str)) \
                or (seen is not None and not (isinstance(seen, dict) and all(isinstance(v, str) for v in seen.values()))):
            raise ValueError('expected {"action": "approve"|"reject", "keys": [variant keys], "note": text, '
                             '"seen": {key: sha256 shown}}')
        if action == "reject" and not note:
            raise ValueError("a rejection needs a note: say what is wrong with the take")
        with self.lock:
            self._current()
            known = {v.key for v in self.project.variants}
            unknown = [k for k in keys if k not in known]
            if unknown:
                raise ValueError(f"not a variant of this catalog: {', '.join(unknown[:5])}")
            if action == "approve":
                decisions = actions.approve(self.project, keys, reviewer=self.reviewer, note=note, seen=seen)
            else:
                decisions = actions.reject(self.project, keys, reviewer=self.reviewer, note=note, seen=seen)
            self.after(self.project, decisions)
        return {"ok": True, "decisions": [{"key": d.key, "changed": d.changed, "status": d.entry.status,
                                           "sha256": d.entry.sha256} for d in decisions]}

    def take(self, sha: str) -> tuple[bytes, str]:
        data = self.project.store.read_blob(sha)
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg" if data.startswith(b"\xff\xd8") \
            else "image/webp" if data[8:12] == b"WEBP" else "application/octet-stream"
        return data, kind


def make_server(app: ReviewApp, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    app.port = server.server_address[1]
    return server


class _Handler(BaseHTTPRequestHandler):
    app: ReviewApp
    server_version = "assetpipe-review"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the page is the log
        pass

    # -- who may ask -----------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        if name == "localhost":
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False  # a DNS name pointing here (rebinding) is not this page's origin

    def _cookie_ok(self) -> bool:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.app.cookie and secrets.compare_digest(value, self.app.token):
                return True
        return False

    def _write_ok(self) -> str | None:
        """Why this write is refused, or None."""
        if not self._cookie_ok() or not secrets.compare_digest(self.headers.get(TOKEN_HEADER) or "", self.app.token):
            return "missing or wrong session token"
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host')}":
            return f"cross-origin write refused (Origin {origin})"
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return "expected application/json"
        return None

    # -- verbs -----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._host_ok():
            return self._send(403, b"unknown Host", "text/plain")
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        token = parse_qs(url.query).get("token", [""])[0]
        if url.path == "/" and token and secrets.compare_digest(token, self.app.token):
            return self._redirect_with_cookie()
        if not self._cookie_ok():
            return self._send(403, b"Open the address printed by `assetpipe review` (it carries this session's token).",
                              "text/plain")
        try:
            self._get(url.path)
        except (AssetpipeError, OSError) as exc:
            self._json(500, {"ok": False, "error": _message(exc)})

    def _get(self, path: str) -> None:
        if path == "/":
            page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
            return self._send(200, page.replace("{{TOKEN}}", self.app.token).encode(), "text/html; charset=utf-8")
        if path in STATIC:
            name, kind = STATIC[path]
            return self._send(200, resources.files(__package__).joinpath(name).read_bytes(), kind)
        if path == "/api/variants":
            return self._json(200, self.app.variants())
        m = SHA_PATH.match(path)
        if m:
            try:
                data, kind = self.app.take(m.group(1))
            except StoreError:
                return self._send(404, b"not in the cache", "text/plain")
            return self._send(200, data, kind, {"Cache-Control": "private, max-age=31536000, immutable"})
        self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._send(403, b"unknown Host", "text/plain")
        refused = self._write_ok()
        if refused:
            return self._json(403, {"ok": False, "error": refused})
        if urlsplit(self.path).path != "/api/decide":
            return self._json(404, {"ok": False, "error": "not found"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                raise ValueError("a JSON body of at most 1 MiB is expected")
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            self._json(200, self.app.decide(body))
        except ValueError as exc:
            self._json(400, {"ok": False, "error": str(exc)})
        except AssetpipeError as exc:
            self._json(409, {"ok": False, "error": _message(exc)})

    # -- replies ---------------------------------------------------------------------------------
    def _redirect_with_cookie(self) -> None:
        self.send_response(303)
        self.send_header("Location", "/")
        self.send_header("Set-Cookie", f"{self.app.cookie}={self.app.token}; HttpOnly; SameSite=Strict; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode(), "application/json; charset=utf-8",
                   {"Cache-Control": "no-store"})

    def _send(self, status: int, data: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", CSP)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _message(exc: Exception) -> str:
    if isinstance(exc, CatalogError):
        return "\n".join(str(i) for i in exc.issues)
    return str(exc)
