"""`assetpipe review [--host 127.0.0.1] [--port 8470]`: the local review page (pipelines.review.server)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from pipelines.cli.decided import after_decisions
from pipelines.errors import AssetpipeError
from pipelines.review.identity import reviewer
from pipelines.review.project import load_project
from pipelines.review.server import ReviewApp, make_server


def cmd_review(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)
    project.validate()
    app = ReviewApp(project, reviewer(project.catalog.root),
                    after=lambda current, decisions: after_decisions(current, decisions, echo=_log),
                    reload=lambda: _loaded(catalog_dir))
    try:
        server = make_server(app, args.host, args.port)
    except OSError as exc:
        raise AssetpipeError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    if not _loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach it and holds the address below can "
              "approve and reject", file=sys.stderr)
    host = args.host if args.host not in ("0.0.0.0", "::") else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    print(f"review page for {project.catalog.root.resolve().name} on http://{shown}:{app.port}/?token={app.token} "
          f"(reviewing as {app.reviewer}); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _loaded(catalog_dir: Path):
    project = load_project(catalog_dir)
    project.validate()
    return project


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _log(line: str) -> None:
    print(line, flush=True)
