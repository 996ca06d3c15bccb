"""`assetpipe ui`: `dagster dev` (webserver, daemon, code server) on the catalog's persistent
instance, as a user starts it. One session serves the module: a CLI build is in its runs list,
materializing a fresh variant from the UI is a cache hit (the vendor is not called), the code
location has one name, `dagster dev`'s "use dg dev" warning is not printed, and an edit on disk
followed by a CLI build shows in the UI without anyone pressing Reload.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers.catalogs import copy_example
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.paths import ASSETPIPE, ROOT
from tests.helpers.vendors import use_openai
from tests.helpers.webserver import GraphQL, GraphQLError, free_port, latest_metadata

pytestmark = pytest.mark.slow

LOCATION = "assetpipe"
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # Dagster's SQLite fsyncs per event
HERO = ["brewlab_launch", "mug_hero"]

LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""


@dataclass
class Session:
    catalog: Path
    env: dict[str, str]
    gql: GraphQL
    log: Path
    paid: int


@contextlib.contextmanager
def assetpipe_ui(catalog: Path, env: dict[str, str], log: Path):
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ASSETPIPE_CATALOG")}
    full_env.update(env, DAGSTER_DISABLE_TELEMETRY="1")
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(catalog), "ui", "--port", str(port)],
                                env=full_env, cwd=catalog.parent, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        gql = GraphQL(f"http://127.0.0.1:{port}/graphql", timeout_s=120)
        _wait_loaded(gql, proc, log)
        yield gql
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # dagster dev stops its webserver, daemon and code server
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _wait_loaded(gql: GraphQL, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"assetpipe ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = gql.locations()
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (httpx.HTTPError, ValueError, GraphQLError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"assetpipe ui not ready after {timeout_s}s:\n{log.read_text()[-3000:]}")


def _wait_run(gql: GraphQL, run_id: str, timeout_s: float = 180) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = gql.query("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                           {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} still not done after {timeout_s}s")


def _wait_for(what: str, check, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen after {timeout_s}s")
        time.sleep(1)


@pytest.fixture(scope="module")
def session(session_openai):
    root = Path(tempfile.mkdtemp(prefix="assetpipe-ui-cli-", dir=FAST_TMP))
    try:
        catalog = copy_example(root / "catalog")
        env = use_openai(catalog, session_openai)
        before = session_openai.calls()
        code, out, err = run_cli("build", catalog=catalog, env=env)
        assert code == 0, out + err
        paid = session_openai.calls() - before
        assert paid == 13  # 11 generations and 2 edits, once each; the 7 renditions are local
        with assetpipe_ui(catalog, env, root / "ui.log") as gql:
            yield Session(catalog, env, gql, root / "ui.log", paid)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_code_location_has_one_name_in_assetpipe_ui_and_in_workspace_yaml(session):
    # issue 15: `pipelines.definitions` under `assetpipe ui`, `assetpipe` in workspace.yaml
    assert [e["name"] for e in session.gql.locations()] == [LOCATION]
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert [e["python_module"]["location_name"] for e in workspace["load_from"]] == [LOCATION]


def test_assetpipe_ui_prints_no_supersession_warning(session):
    # issue 15: `dagster dev` printed "SupersessionWarning ... Use 'dg dev' instead" at every start
    log = session.log.read_text(errors="replace")
    assert "Serving dagster-webserver" in log  # the log is the UI's, and it got that far
    assert "SupersessionWarning" not in log and "dg dev" not in log


def test_cli_runs_show_in_the_ui_and_a_ui_launch_of_a_fresh_variant_is_a_cache_hit(session, session_openai):
    gql = session.gql
    runs = gql.query("""{ runsOrError(filter: {tags: [{key: "assetpipe/source", value: "cli"}]}) {
                          ... on Runs { results { runId status } } } }""")["runsOrError"]["results"]
    assert runs and runs[-1]["status"] == "SUCCESS"

    before = session_openai.calls()
    launched = gql.query(LAUNCH, {"params": {  # the UI's "Materialize" of one variant: one partition
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                     "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": HERO}]},
        "mode": "default", "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "default"}]},
    }})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert _wait_run(gql, launched["run"]["runId"]) == "SUCCESS"

    node = gql.query("""query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
                          assetMaterializations(limit: 1, partitions: ["default"]) { runId partition
                            metadataEntries { label __typename
                            ... on BoolMetadataEntry { boolValue } ... on FloatMetadataEntry { floatValue }
                            ... on TextMetadataEntry { text } } } } } }""",
                     {"key": {"path": HERO}})["assetNodeOrError"]
    mat = node["assetMaterializations"][0]
    meta = latest_metadata(mat)
    assert mat["runId"] == launched["run"]["runId"] and mat["partition"] == "default"
    assert meta["cached"] is True and meta["cost_usd"] == 0.0 and meta["original_cost_usd"] > 0
    assert session_openai.calls() == before  # the UI's run called nobody


def _description(gql: GraphQL, key: list[str]) -> str:
    return gql.query("query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) { ... on AssetNode { description } } }",
                     {"k": {"path": key}})["assetNodeOrError"]["description"] or ""


def _plan_failed(gql: GraphQL) -> set[str]:
    nodes = gql.query("""{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name
        partitionStatuses { ... on AssetCheckDefaultPartitionStatuses { failedPartitions } } } } } } }""")["assetNodes"]
    return {"/".join(n["assetKey"]["path"] + [p]) for n in nodes for c in (n["assetChecksOrError"] or {}).get("checks", [])
            if c["name"] == "plan" for p in (c["partitionStatuses"] or {}).get("failedPartitions", [])}


def test_an_edit_then_a_cli_build_show_in_the_ui_without_a_reload(session):
    # issue 15: after a CLI build the rebuilt variant showed STALE with the old prompt until
    # someone reloaded the definitions
    token = uuid.uuid4().hex[:8]
    spec = session.catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("Product photo of a ceramic mug", f"Product photo of a {token} mug", 1))

    # `assetpipe ui` saw the file change: the UI has the new reading and says what changed, as plan does
    _wait_for("the reloaded definitions", lambda: token in _description(session.gql, HERO))
    changed = {k for k, row in plan_json(session.catalog, env=session.env).items() if row["status"] != "fresh"}
    assert changed == {"brewlab_launch/mug_hero/default", "brewlab_launch/mug_loft/default"}
    assert _wait_for("the plan checks", lambda: _plan_failed(session.gql) == changed)

    code, out, err = run_cli("build", catalog=session.catalog, env=session.env)
    assert code == 0, out + err
    assert _plan_failed(session.gql) == set()  # rebuilt: fresh, in the UI as in plan
    mat = session.gql.query("""{ assetNodeOrError(assetKey: {path: ["brewlab_launch", "mug_hero"]}) { ... on AssetNode {
        assetMaterializations(limit: 1) { metadataEntries { label ... on TextMetadataEntry { text } } } } } }""")
    assert token in latest_metadata(mat["assetNodeOrError"]["assetMaterializations"][0])["prompt"]
    assert "catalog changed on disk: reloading the code location" in session.log.read_text(errors="replace")


def test_ui_on_a_broken_catalog_says_where_before_starting_anything(tmp_path):
    catalog = copy_example(tmp_path / "catalog")
    spec = catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("  - name: mug_hero", "  - name: mug_hero\n    colour: blue", 1))
    code, out, err = run_cli("ui", "--port", str(free_port()), catalog=catalog, timeout=30)
    assert code == 1 and "Traceback" not in err
    assert re.search(r"brewlab_launch\.yaml:\d+: asset 'mug_hero': unknown key 'colour'", err)
    assert not (catalog / ".assetpipe" / "dagster").exists()  # no instance, no UI was started
