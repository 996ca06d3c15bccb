"""`assetpipe ui`: `dagster dev` on the catalog and its persistent instance.

`dagster dev` runs as a child that this process supervises, and SIGTERM/SIGINT sent to
`assetpipe ui` are passed on to it, so it shuts its webserver, daemon and code server down. (With
an exec, a `dagster dev` started in the background by a shell inherited SIGINT as ignored and
mapped SIGTERM onto that: it could not be stopped but by SIGKILL.) The child runs in its own
process group, so Ctrl-C reaches it once, through us, and it is sent SIGTERM if we die.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipelines.cli.paths import shown
from pipelines.orchestration.instance import ensure_home
from pipelines.review.project import load_project

PR_SET_PDEATHSIG = 1


def cmd_ui(catalog_dir: Path, args) -> int:
    # every catalog mistake here, as path:line, rather than as a code location error in the UI
    catalog = load_project(catalog_dir).catalog
    home = ensure_home(catalog)
    env = dict(os.environ, ASSETPIPE_CATALOG=str(catalog.root.resolve()), DAGSTER_HOME=str(home.resolve()))
    cmd = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {shown(home)}); Ctrl-C to stop", flush=True)
    return supervise(cmd, env)


def supervise(cmd: list[str], env: dict[str, str]) -> int:
    """Run `cmd`, pass SIGTERM and SIGINT on to it, and return its exit code."""
    pending: list[int] = []
    child: list[subprocess.Popen] = []

    def forward(signum, frame) -> None:
        if child:
            child[0].send_signal(signum)
        else:
            pending.append(signum)

    # our own handlers (installed before the child starts) also mean the child does not inherit
    # SIGINT as ignored: an exec resets handled signals to their defaults, but keeps ignored ones
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        child.append(subprocess.Popen(cmd, env=env, process_group=0, preexec_fn=_die_with_parent))
        for signum in pending:
            child[0].send_signal(signum)
        while True:
            try:
                return _exit_code(child[0].wait())
            except InterruptedError:  # pragma: no cover - wait() retries on EINTR itself
                continue
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when `assetpipe ui` dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode
