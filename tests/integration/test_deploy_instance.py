"""The deployment's instance: with DAGSTER_HOME set (deploy/dagster.yaml: storage in PostgreSQL),
`assetpipe build` and `assetpipe ui` use it instead of the catalog's private one, so CLI builds,
schedules and UI launches are one history; a Postgres URL that SQLAlchemy would give the wrong
driver is refused with the fix before anything runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from tests.helpers.catalogs import copy_example
from tests.helpers.cli import assert_clean_failure, run_cli
from tests.helpers.paths import ASSETPIPE, ROOT
from tests.helpers.services import free_port

pytestmark = [pytest.mark.slow, pytest.mark.deploy]

SELECT = "brewlab_launch/mug_hero"  # one draft variant: cheap, and enough to make a run


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


def _env(home: Path, pg_url: str) -> dict[str, str]:
    return {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": pg_url.replace("postgresql://", "postgresql+psycopg2://")}


def _start_build(catalog: Path, env: dict[str, str]) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    return subprocess.Popen([str(ASSETPIPE), "--catalog", str(catalog), "build", "--select", SELECT],
                            env={**full, **env}, cwd=catalog.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_builds_on_two_machines_are_recorded_in_the_deployments_instance(tmp_path, pg_database, monkeypatch):
    home = _home(tmp_path)
    env = _env(home, pg_database)
    catalogs = [copy_example(tmp_path / f"machine{i}" / "catalog") for i in (1, 2)]
    procs = [_start_build(c, env) for c in catalogs]  # at once, on an empty database
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
        assert "built" in out or "cached" in out, out
    for c in catalogs:
        assert not (c / ".assetpipe" / "dagster").exists()  # no private instance was made
    assert (home / "dagster.yaml").read_bytes() == (ROOT / "deploy" / "dagster.yaml").read_bytes()  # never rewritten

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"  # not our SQLite one
        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert {r.tags.get("assetpipe/source") for r in runs} == {"cli"}
        key = dg.AssetKey(["brewlab_launch", "mug_hero"])
        assert instance.get_latest_materialization_event(key) is not None


def test_a_bare_postgresql_url_is_refused_with_the_fix(tmp_path, pg_database):
    home = _home(tmp_path)
    catalog = copy_example(tmp_path / "catalog")
    env = {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": pg_database}  # postgresql://, no +psycopg2
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog, env=env)
    assert_clean_failure(code, out, err)
    assert "dagster.yaml: storage.postgres.postgres_url" in err and "postgresql+psycopg2://" in err, err
    assert not (catalog / "out").exists() and not (catalog / ".assetpipe" / "dagster").exists()


def test_a_dagster_home_that_does_not_exist_is_a_clear_error(tmp_path):
    catalog = copy_example(tmp_path / "catalog")
    code, out, err = run_cli("build", "--select", SELECT, catalog=catalog,
                             env={"DAGSTER_HOME": str(tmp_path / "missing")})
    assert_clean_failure(code, out, err)
    assert "is not a directory" in err, err


def test_ui_serves_the_deployments_instance(tmp_path, pg_database):
    home = _home(tmp_path)
    catalog = copy_example(tmp_path / "catalog")
    full = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(catalog), "ui", "--port", str(free_port())],
                            env={**full, **_env(home, pg_database)}, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert "(instance dagster_home)" in line, line  # shown relative to the working directory
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (catalog / ".assetpipe" / "dagster").exists()
