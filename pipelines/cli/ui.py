"""`assetpipe ui`: `dagster dev` on the catalog and its persistent instance."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipelines.cli.paths import shown
from pipelines.orchestration.instance import ensure_home
from pipelines.plan.project import Project


def cmd_ui(catalog_dir: Path, args) -> int:
    # every catalog mistake here, as path:line, rather than as a code location error in the UI
    catalog = Project.load(catalog_dir).catalog
    home = ensure_home(catalog)
    env = dict(os.environ, ASSETPIPE_CATALOG=str(catalog.root.resolve()), DAGSTER_HOME=str(home.resolve()))
    cmd = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {shown(home)}); Ctrl-C to stop", flush=True)
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover
