"""A real dagster-webserver on 127.0.0.1 and its GraphQL API, for the UI tier.

    def test_something(dagster_webserver, tmp_path):
        ui = dagster_webserver(["-f", "defs.py"], dagster_home=tmp_path / "home")
        nodes = ui.graphql.asset_nodes()

The webserver runs in its own process group so stopping it also stops the code-server processes
it spawns. `dagster_webserver` is a fixture (wired by tests/ui/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import httpx
import pytest

from tests.helpers.paths import script

WEBSERVER = script("dagster-webserver")
ASSETPIPE_WEBSERVER = (sys.executable, "-m", "pipelines.orchestration.webserver")
DAEMON = script("dagster-daemon")
# No telemetry and no update checks: the only network here is loopback.
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ASSET_NODE_FIELDS = """
  assetKey { path }
  dependencyKeys { path }
  dependedByKeys { path }
  groupName
  opVersion
  description
  kinds
  isObservable
  isMaterializable
  owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
  tags { key value }
  dataVersion
  staleStatus
  staleCauses { key { path } category reason dependency { path } }
  hasAssetChecks
  assetMaterializations(limit: 1) {
    runId
    timestamp
    metadataEntries {
      label
      __typename
      ... on TextMetadataEntry { text }
      ... on MarkdownMetadataEntry { mdStr }
      ... on PathMetadataEntry { path }
      ... on UrlMetadataEntry { url }
      ... on JsonMetadataEntry { jsonString }
      ... on FloatMetadataEntry { floatValue }
      ... on IntMetadataEntry { intValue }
      ... on BoolMetadataEntry { boolValue }
    }
  }
"""

_METADATA_VALUE_FIELDS = ("text", "mdStr", "path", "url", "jsonString", "floatValue", "intValue", "boolValue")


class GraphQLError(AssertionError):
    pass


@dataclass
class GraphQL:
    url: str  # .../graphql
    timeout_s: float = 30.0

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = httpx.post(self.url, json={"query": query, "variables": variables or {}}, timeout=self.timeout_s)
        body = resp.json()
        if resp.status_code != 200 or body.get("errors"):
            raise GraphQLError(f"GraphQL {resp.status_code}: {body.get('errors') or body}")
        return body["data"]

    def locations(self) -> list[dict[str, Any]]:
        data = self.query(
            """{ workspaceOrError { __typename
                 ... on Workspace { locationEntries { name loadStatus
                     locationOrLoadError { __typename
                       ... on PythonError { message causes { message } } } } }
                 ... on PythonError { message } } }"""
        )["workspaceOrError"]
        if data["__typename"] != "Workspace":
            raise GraphQLError(data.get("message", data))
        return data["locationEntries"]

    def reload_location(self, name: str) -> None:
        data = self.query(
            """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
                 __typename ... on WorkspaceLocationEntry { loadStatus
                   locationOrLoadError { __typename ... on PythonError { message } } }
                 ... on PythonError { message } } }""",
            {"name": name},
        )["reloadRepositoryLocation"]
        if data["__typename"] != "WorkspaceLocationEntry":
            raise GraphQLError(data)
        err = data["locationOrLoadError"]
        if err and err["__typename"] == "PythonError":
            raise GraphQLError(err["message"])

    def asset_nodes(self) -> list[dict[str, Any]]:
        return self.query("{ assetNodes { %s } }" % ASSET_NODE_FIELDS)["assetNodes"]

    def asset_nodes_by_key(self) -> dict[str, dict[str, Any]]:
        """Nodes keyed by 'a/b/c', with `latest_metadata` flattened to {label: value}."""
        out = {}
        for node in self.asset_nodes():
            mats = node.get("assetMaterializations") or []
            node["latest_metadata"] = latest_metadata(mats[0]) if mats else {}
            out["/".join(node["assetKey"]["path"])] = node
        return out

    def partitions(self, key: Sequence[str]) -> dict[str, Any]:
        """A partitioned asset's partition keys, materialized and failed ones, and for each check
        its succeeded and failed partitions."""
        node = self.query(
            """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
                 partitionKeys
                 assetPartitionStatuses { ... on DefaultPartitionStatuses { materializedPartitions failedPartitions } }
                 assetChecksOrError { ... on AssetChecks { checks { name
                   partitionStatuses { ... on AssetCheckDefaultPartitionStatuses {
                     succeededPartitions failedPartitions skippedPartitions } } } } } } } }""",
            {"key": {"path": list(key)}})["assetNodeOrError"]
        if node["__typename"] != "AssetNode":
            raise GraphQLError(node)
        statuses = node["assetPartitionStatuses"]
        checks = {c["name"]: c["partitionStatuses"] or {} for c in node["assetChecksOrError"].get("checks", [])}
        return {"keys": node["partitionKeys"], "materialized": set(statuses["materializedPartitions"]),
                "failed": set(statuses["failedPartitions"]),
                "checks": {n: {k: set(v) for k, v in c.items()} for n, c in checks.items()}}

    def asset_checks(self, key: Sequence[str]) -> list[dict[str, Any]]:
        data = self.query(
            """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
                 ... on AssetNode { assetChecksOrError { __typename
                   ... on AssetChecks { checks { name blocking
                       executionForLatestMaterialization { status
                         evaluation { severity success } } } } } } } }""",
            {"key": {"path": list(key)}},
        )["assetNodeOrError"]
        if data["__typename"] != "AssetNode":
            raise GraphQLError(data)
        return data["assetChecksOrError"].get("checks", [])


def latest_metadata(materialization: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for entry in materialization.get("metadataEntries", []):
        value = next((entry[f] for f in _METADATA_VALUE_FIELDS if f in entry), None)
        out[entry["label"]] = value
    return out


@dataclass
class Webserver:
    url: str
    dagster_home: Path
    log_path: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def graphql(self) -> GraphQL:
        return GraphQL(self.url + "/graphql")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        for proc in self.procs:
            _stop_group(proc)
        self.procs.clear()


def _stop_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def prepare_home(dagster_home: Path) -> Path:
    dagster_home.mkdir(parents=True, exist_ok=True)
    cfg = dagster_home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(INSTANCE_YAML)
    return dagster_home


def start_webserver(
    target_args: Sequence[str],
    dagster_home: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    daemon: bool = False,
    timeout_s: float = 90.0,
    server: Sequence[str] = (str(WEBSERVER),),
) -> Webserver:
    """Start dagster-webserver for `target_args` (e.g. ["-w", "workspace.yaml"], ["-m", "pkg.defs"],
    ["-f", "defs.py"]) and wait until every code location has loaded. `daemon=True` also starts
    dagster-daemon, which runs queued runs, schedules and sensors. `server` is the command that
    serves (assetpipe's own: ASSETPIPE_WEBSERVER, Dagster's plus the catalog's images)."""
    home = prepare_home(Path(dagster_home))
    port = free_port()
    log_path = home / f"webserver-{port}.log"
    full_env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1", **(env or {})}
    ui = Webserver(url=f"http://127.0.0.1:{port}", dagster_home=home, log_path=log_path)
    log = open(log_path, "ab")
    try:
        ui.procs.append(
            subprocess.Popen(
                [*server, "-h", "127.0.0.1", "-p", str(port), *target_args],
                env=full_env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )
        if daemon:
            ui.procs.append(
                subprocess.Popen(
                    [str(DAEMON), "run", *target_args],
                    env=full_env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            )
        _wait_ready(ui, timeout_s)
    except BaseException:
        ui.stop()
        raise
    finally:
        log.close()
    return ui


def _wait_ready(ui: Webserver, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        for proc in ui.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{ui.log_tail()}")
        try:
            entries = ui.graphql.locations()
        except (httpx.HTTPError, ValueError, GraphQLError) as exc:
            last = repr(exc)
        else:
            errors = [
                f"{e['name']}: " + "\n".join(
                    [err["message"].strip()] + [c["message"].strip() for c in err.get("causes") or []]
                )
                for e in entries
                if (err := e.get("locationOrLoadError") or {}).get("__typename") == "PythonError"
            ]
            if errors:
                raise RuntimeError("code location failed to load:\n" + "\n".join(errors))
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
            last = f"locations: {[(e['name'], e['loadStatus']) for e in entries]}"
        time.sleep(0.25)
    raise TimeoutError(f"dagster-webserver not ready after {timeout_s}s ({last}):\n{ui.log_tail()}")


@pytest.fixture
def dagster_webserver():
    """A factory: `dagster_webserver(target_args, dagster_home=..., env=..., daemon=...)` -> Webserver.
    Every server it started is stopped at teardown."""
    started: list[Webserver] = []

    def start(target_args: Sequence[str], dagster_home: Path, **kwargs: Any) -> Webserver:
        ui = start_webserver(target_args, dagster_home, **kwargs)
        started.append(ui)
        return ui

    yield start
    for ui in started:
        ui.stop()
