"""The Dagster instance a catalog's builds are recorded in.

* The deployment's, when `DAGSTER_HOME` names one (a team's Dagster: Postgres storage through
  dagster-postgres, say): `assetpipe build`, `assetpipe ui` and the code location all use it, so CLI
  builds, schedules and UI launches are one history. assetpipe never writes its dagster.yaml; it
  only refuses, with the fix, a Postgres URL that SQLAlchemy would hand to the wrong driver.
* Otherwise the catalog's private one, <catalog>/.assetpipe/dagster, whose dagster.yaml assetpipe
  writes (telemetry off, and the pooled SQLite event log, which only this instance uses).

Either way the CLI build, `assetpipe ui` (webserver, daemon, the runs they launch) and schedules
share it, so a CLI build shows in the UI's runs list and staleness is computed from one history.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterInstance

from pipelines.catalog.loader import Catalog
from pipelines.errors import BuildError
from pipelines.orchestration.event_log import supported as pooled_log_supported

OURS = "# Written by assetpipe"  # also the first words of older versions of this file
MARKER = "# Written by assetpipe (rewritten when its defaults change); delete this line to keep your edits."
BASE_YAML = f"""\
{MARKER}
# No telemetry: assetpipe runs where only the vendors' APIs are reachable.
telemetry:
  enabled: false
# No "Join the Dagster community" dialog over a marketing team's asset pages.
nux:
  enabled: false
"""
POOLED_LOG_YAML = """\
# Dagster's stock SQLite event log opens, commits and checkpoints a connection per event (~3 events
# per variant); this one keeps its connections and writes a run's events in batches: same files,
# same history.
event_log_storage:
  module: pipelines.orchestration.event_batch
  class: BatchingSqliteEventLogStorage
  config: {}
"""
DAGSTER_YAML = BASE_YAML + (POOLED_LOG_YAML if pooled_log_supported() else "")


# set beside DAGSTER_HOME when assetpipe points it at a private instance, so that a DAGSTER_HOME
# inherited from such a process (the `dagster dev` of `assetpipe ui`) is not taken for a deployment's
PRIVATE_HOME_ENV = "ASSETPIPE_PRIVATE_DAGSTER_HOME"


def deployment_home(catalog: Catalog) -> Path | None:
    """$DAGSTER_HOME when it names a deployment's instance, None when it is unset or is a private
    instance assetpipe set up (this catalog's, or the one this process was started for)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    path = Path(home).expanduser().resolve()
    ours = os.environ.get(PRIVATE_HOME_ENV)
    if path == (catalog.state_dir / "dagster").resolve() or (ours and path == Path(ours).resolve()):
        return None
    return path


def ensure_home(catalog: Catalog) -> Path:
    """The instance's home: the deployment's (checked, never written) or the private one (written)."""
    deployment = deployment_home(catalog)
    if deployment is not None:
        check_deployment_home(deployment)
        return deployment
    home = catalog.state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    current = cfg.read_text() if cfg.exists() else None
    if current is None or (current != DAGSTER_YAML and current.startswith(OURS)):
        tmp = cfg.with_suffix(f".yaml.{os.getpid()}.tmp")  # two first builds may race to write it
        tmp.write_text(DAGSTER_YAML)
        tmp.replace(cfg)
    os.environ["DAGSTER_HOME"] = os.environ[PRIVATE_HOME_ENV] = str(home.resolve())
    return home


def instance(catalog: Catalog):
    home = ensure_home(catalog)
    if deployment_home(catalog) is not None:
        return _deployment_instance()
    # two builds started together on a fresh catalog race to create the SQLite schemas, and
    # Dagster's run storage fails the loser ("table secondary_indexes already exists")
    with open(home / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return DagsterInstance.get()


def _deployment_instance(attempts: int = 4):
    """Workers started together on an empty database race to create Dagster's schema, on different
    machines (no lock file helps): the loser fails with "... already exists" and, tried again,
    finds the schema made. (`dagster instance migrate` once before starting workers avoids it.)"""
    for attempt in range(attempts):
        try:
            return DagsterInstance.get()
        except Exception as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def check_deployment_home(home: Path) -> None:
    """Refuse, with the fix, what would fail later and less clearly: a DAGSTER_HOME that is not a
    directory, and a Postgres storage URL that SQLAlchemy would not hand to psycopg2. (SQLAlchemy
    2.1 maps a bare postgresql:// to psycopg 3, which dagster-postgres does not support: its first
    event fails with a syntax error at "$1".)"""
    if not home.is_dir():
        raise BuildError(f"DAGSTER_HOME={home} is not a directory: create it with a dagster.yaml "
                         "(deploy/dagster.yaml is an example), or unset DAGSTER_HOME for the catalog's own instance")
    cfg = home / "dagster.yaml"
    try:
        config = yaml.safe_load(cfg.read_text()) if cfg.is_file() else None
    except (OSError, yaml.YAMLError) as exc:
        raise BuildError(f"{cfg}: cannot be read: {exc}") from None
    for where, url in _postgres_urls(config):
        driver = _driver(url)
        if driver is not None and driver != "psycopg2":
            raise BuildError(
                f"{cfg}: {where} is a {url.split('://', 1)[0]}:// URL, which SQLAlchemy gives to the {driver} "
                "driver; dagster-postgres needs psycopg2: write postgresql+psycopg2://... "
                "(or `scheme: postgresql+psycopg2` under postgres_db)")


def _postgres_urls(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(where, URL or scheme://) of every Postgres storage setting in a dagster.yaml."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "postgres_url":
                url = os.environ.get(value["env"], "") if isinstance(value, dict) and "env" in value else value
                if isinstance(url, str) and "://" in url:
                    found.append((where, url))
            elif key == "postgres_db" and isinstance(value, dict):
                scheme = value.get("scheme", "postgresql")
                if isinstance(scheme, str):
                    found.append((f"{where}.scheme", f"{scheme}://"))
            else:
                found.extend(_postgres_urls(value, where))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found.extend(_postgres_urls(item, f"{path}[{i}]"))
    return found


def _driver(url: str) -> str | None:
    """The DBAPI driver SQLAlchemy picks for `url`; None when it cannot tell (Dagster will say)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url.split("://", 1)[0] + "://x").get_dialect().driver
    except Exception:
        return None
