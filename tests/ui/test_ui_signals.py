"""`assetpipe ui` stops on SIGTERM and SIGINT, with every process it started, even when started in
the background (a shell's `assetpipe ui &` starts it with SIGINT ignored; an exec'd `dagster dev`
then ignored SIGINT and SIGTERM alike)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.catalogs import copy_example
from tests.helpers.paths import ASSETPIPE
from tests.helpers.webserver import free_port

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, stack = set(), [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.add(c)
            stack.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ui_started_in_the_background_stops_on_a_signal_with_its_webserver_and_daemon(signum, tmp_path):
    cat = copy_example(tmp_path / "catalog")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ASSETPIPE_CATALOG")}
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # as `assetpipe ui &` from a script: SIGINT ignored
            [str(ASSETPIPE), "--catalog", str(cat), "ui", "--port", str(port)], env=env, cwd=tmp_path,
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        started = _descendants(proc.pid)
        assert len(started) >= 3, started  # dagster dev, its webserver and its daemon (and code server)

        proc.send_signal(signum)
        proc.wait(timeout=90)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in started if _alive(p)], log.read_text()[-3000:]
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2)
    finally:  # whatever happened, leave no process of ours behind
        for pid in (started | _descendants(proc.pid)) - {proc.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
