"""Which Dagster instance a catalog's builds go to, decided without importing Dagster: a build
checks it before its first vendor call (which starts before Dagster does)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from pipelines.catalog.loader import Catalog
from pipelines.errors import BuildError

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
