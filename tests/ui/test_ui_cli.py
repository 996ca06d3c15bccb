"""`assetpipe ui`: `dagster dev` (webserver, daemon, code server) on the catalog's persistent
instance. A CLI build is in its runs list, and materializing a fresh variant from the UI is a
cache hit: the vendor is not called."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.catalogs import copy_example
from tests.helpers.cli import run_cli
from tests.helpers.paths import ASSETPIPE
from tests.helpers.vendors import use_openai
from tests.helpers.webserver import GraphQL, GraphQLError, free_port, latest_metadata

pytestmark = pytest.mark.slow

LOCATION = "pipelines.definitions"
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # Dagster's SQLite fsyncs per event
HERO = ["brewlab_launch", "mug_hero"]

LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""


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
        gql = GraphQL(f"http://127.0.0.1:{port}/graphql")
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


def _wait_loaded(gql: GraphQL, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
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


def _wait_run(gql: GraphQL, run_id: str, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = gql.query("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                           {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} still not done after {timeout_s}s")


@pytest.fixture
def fast_tmp():
    root = Path(tempfile.mkdtemp(prefix="assetpipe-ui-cli-", dir=FAST_TMP))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_cli_runs_show_in_the_ui_and_a_ui_materialization_of_a_fresh_variant_is_a_cache_hit(fast_tmp, openai_emu):
    catalog = copy_example(fast_tmp / "catalog")
    env = use_openai(catalog, openai_emu)
    code, out, err = run_cli("build", catalog=catalog, env=env)
    assert code == 0, out + err
    paid = openai_emu.calls()
    assert paid == 13  # 11 generations and 2 edits, once each; the 7 renditions are local

    with assetpipe_ui(catalog, env, fast_tmp / "ui.log") as gql:
        assert [e["name"] for e in gql.locations()] == [LOCATION]
        runs = gql.query("""{ runsOrError { ... on Runs { results { runId status
                              tags { key value } } } } }""")["runsOrError"]["results"]
        assert [r["status"] for r in runs] == ["SUCCESS"]
        assert {"key": "assetpipe/source", "value": "cli"} in runs[0]["tags"]

        launched = gql.query(LAUNCH, {"params": {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                         "pipelineName": "assetpipe_build", "assetSelection": [{"path": HERO}],
                         "assetCheckSelection": []},
            "mode": "default", "runConfigData": {}, "executionMetadata": {"tags": []},
        }})["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert _wait_run(gql, launched["run"]["runId"]) == "SUCCESS"

        node = gql.query("""query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
                              assetMaterializations(limit: 1) { runId metadataEntries { label __typename
                                ... on BoolMetadataEntry { boolValue } ... on FloatMetadataEntry { floatValue }
                                ... on TextMetadataEntry { text } } } } } }""",
                         {"key": {"path": HERO}})["assetNodeOrError"]
        mat = node["assetMaterializations"][0]
        meta = latest_metadata(mat)
        assert mat["runId"] == launched["run"]["runId"]
        assert meta["cached"] is True and meta["cost_usd"] == 0.0 and meta["original_cost_usd"] > 0
    assert openai_emu.calls() == paid  # the UI's run called nobody


def test_ui_on_a_broken_catalog_says_where_before_starting_anything(tmp_path):
    catalog = copy_example(tmp_path / "catalog")
    spec = catalog / "campaigns" / "brewlab_launch.yaml"
    spec.write_text(spec.read_text().replace("  - name: mug_hero", "  - name: mug_hero\n    colour: blue", 1))
    code, out, err = run_cli("ui", "--port", str(free_port()), catalog=catalog, timeout=30)
    assert code == 1 and "Traceback" not in err
    assert re.search(r"brewlab_launch\.yaml:\d+: asset 'mug_hero': unknown key 'colour'", err)
    assert not (catalog / ".assetpipe" / "dagster").exists()  # no instance, no UI was started
