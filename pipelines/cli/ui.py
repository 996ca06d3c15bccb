"""`assetpipe ui`: `dagster dev` on the catalog and its persistent instance.

The code location is named `assetpipe`, here and in the repository's workspace.yaml alike (URLs
such as /locations/assetpipe/asset-groups/<campaign> are the same either way). `dagster dev` runs
as a child of this process, which passes SIGTERM and SIGINT on to it and, meanwhile, watches the
catalog: an edit on disk reloads the code location (pipelines/orchestration/watch.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipelines.cli.paths import shown
from pipelines.review.project import load_project

PR_SET_PDEATHSIG = 1
WORKSPACE = """\
# Written by `assetpipe ui`: the catalog's code location, named as in the repository's workspace.yaml.
load_from:
  - python_module:
      module_name: pipelines.definitions
      location_name: {location}
"""


def cmd_ui(catalog_dir: Path, args) -> int:
    # every catalog mistake here, as path:line, rather than as a code location error in the UI
    catalog = load_project(catalog_dir).catalog
    from pipelines.orchestration.instance import ensure_home
    from pipelines.orchestration.keys import LOCATION
    from pipelines.orchestration.plan_checks import sync_catalog
    from pipelines.orchestration.watch import CatalogWatch

    home = ensure_home(catalog)
    workspace = catalog.state_dir / "workspace.yaml"  # ours, never in a deployment's DAGSTER_HOME
    workspace.parent.mkdir(parents=True, exist_ok=True)
    workspace.write_text(WORKSPACE.format(location=LOCATION))
    env = dict(os.environ, ASSETPIPE_CATALOG=str(catalog.root.resolve()), DAGSTER_HOME=str(home.resolve()))
    cmd = [sys.executable, "-m", "pipelines.orchestration.dev", "-w", str(workspace),
           "-h", args.host, "-p", str(args.port)]
    url = f"http://{args.host}:{args.port}"
    print(f"Dagster UI on {url} (instance {shown(home)}); Ctrl-C to stop", flush=True)
    watch = CatalogWatch(catalog.root, f"{url}/graphql", LOCATION, echo=lambda m: print(m, flush=True),
                         sync=sync_catalog).start()
    try:
        return supervise(cmd, env)
    finally:
        watch.stop()


def supervise(cmd: list[str], env: dict[str, str]) -> int:
    """Run `cmd` in its own process group, pass SIGTERM and SIGINT on to it; its exit code.

    Our handlers are installed before the child starts: an exec resets handled signals to their
    defaults but keeps ignored ones, and `dagster dev` started from a shell's background inherits
    SIGINT ignored, then maps SIGTERM onto it (it could be stopped only by SIGKILL)."""
    child: list[subprocess.Popen] = []
    pending: list[int] = []

    def forward(signum, _frame) -> None:
        (child[0].send_signal(signum) if child else pending.append(signum))

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        child.append(subprocess.Popen(cmd, env=env, process_group=0, preexec_fn=_die_with_parent))
        for signum in pending:
            child[0].send_signal(signum)
        code = child[0].wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when `assetpipe ui` dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
