"""The UI of a built catalog, timed: `assetpipe ui` as a user starts it, GraphQL as the UI asks
it, and pages drawn by headless Chromium (Debian's /usr/bin/chromium through playwright).

    serving_s        `assetpipe ui` started -> the webserver answers and the code location is LOADED
    graphql_cold_s   every asset with its latest materialization and partition counts (the first
                     read computes Dagster's partition-status cache), graphql_warm_s the same again
    asset_list_s     /assets until the first asset row is drawn
    lineage_s        a campaign's lineage until its nodes are drawn
    global_lineage_s the global lineage until no group says it is fetching statuses
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from bench.common import ASSETPIPE, env_with

LOCATION = "assetpipe"
PAGE_TIMEOUT_S = 180  # a page not drawn by then is recorded as such, not waited for
CHROMIUM = os.environ.get("ASSETPIPE_CHROMIUM", "/usr/bin/chromium")
LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
ALL_LATEST = """{ assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions }
  assetMaterializations(limit: 1) { timestamp runId } } }"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(url: str, query: str, timeout_s: float = 600) -> dict:
    r = httpx.post(f"{url}/graphql", json={"query": query}, timeout=timeout_s)
    r.raise_for_status()
    body = r.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


def _timed(fn) -> tuple[float, object]:
    t0 = time.monotonic()
    out = fn()
    return round(time.monotonic() - t0, 2), out


def measure(catalog: Path, campaign: str, timeout_s: float = 600) -> dict:
    port = _port()
    url = f"http://127.0.0.1:{port}"
    log = open(catalog / "ui-bench.log", "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(ASSETPIPE + ["--catalog", str(catalog), "ui", "--port", str(port)], env=env_with(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        row: dict = {"serving_s": _wait_loaded(url, proc, t0, timeout_s)}
        row["graphql_cold_s"], data = _timed(lambda: _gql(url, ALL_LATEST))
        row["graphql_warm_s"], _ = _timed(lambda: _gql(url, ALL_LATEST))
        nodes = data["assetNodes"]
        row["dagster_assets"] = len(nodes)
        row["partitions"] = sum((n["partitionStats"] or {}).get("numPartitions", 0) for n in nodes)
        row.update(_pages(url, campaign, timeout_s))
        return row
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _wait_loaded(url: str, proc: subprocess.Popen, t0: float, timeout_s: float) -> float:
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"assetpipe ui exited with {proc.returncode}")
        try:
            entries = _gql(url, LOCATIONS, 10)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return round(time.monotonic() - t0, 2)
        except (httpx.HTTPError, RuntimeError, KeyError, TypeError):
            pass
        time.sleep(0.25)
    raise TimeoutError("assetpipe ui did not load its code location")


def _pages(url: str, campaign: str, timeout_s: float) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {}
    ms = min(timeout_s, PAGE_TIMEOUT_S) * 1000
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _page(out, "asset_list_s", page, f"{url}/assets", lambda: page.get_by_text("poster_thumb").first, ms)
            _page(out, "lineage_s", page, f"{url}/locations/{LOCATION}/asset-groups/{campaign}/lineage",
                  lambda: page.get_by_text("poster_loft", exact=True).first, ms)
            _page(out, "global_lineage_s", page, f"{url}/asset-groups",  # assets, or collapsed campaigns
                  lambda: page.get_by_text("poster_thumb", exact=True).or_(page.get_by_text(campaign, exact=True)).first,
                  ms, settled=True)
        finally:
            browser.close()
    return out


def _page(out: dict, name: str, page, url: str, target, ms: float, settled: bool = False) -> None:
    """Seconds until `target()` is drawn (and, `settled`, no group says it is fetching statuses);
    a page not drawn within the timeout is recorded as "> N"."""
    from playwright.sync_api import TimeoutError as PageTimeout

    t = time.monotonic()
    try:
        page.goto(url)
        target().wait_for(timeout=ms)
        while settled and "etching statuses" in page.inner_text("body"):  # (the UI's CSP forbids eval)
            if (time.monotonic() - t) * 1000 > ms:
                raise PageTimeout("still fetching statuses")
            time.sleep(0.25)
        out[name] = round(time.monotonic() - t, 2)
    except PageTimeout:
        out[name] = f"> {ms / 1000:.0f}"
