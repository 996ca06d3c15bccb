"""`dagster dev` as `assetpipe ui` runs it: `python -m pipelines.orchestration.dev [dagster dev options]`.

Two differences from the stock command:

- its webserver is `pipelines.orchestration.webserver` (Dagster's, plus the catalog's previews
  and images on the same origin), where `dagster dev` starts `python -m dagster_webserver`;
- no SupersessionWarning ("use 'dg dev' instead") at every start: `dg dev` runs a `dg` project
  (pyproject.toml with [tool.dg]), which a catalog is not; `dagster dev` is the command for a
  workspace file, and is what this runs.

Everything else (one code server shared by the webserver and the daemon, the daemon for
schedules and queued runs, the shutdown of all three) is `dagster dev`'s own code.
"""

from __future__ import annotations

import sys
import warnings

WEBSERVER = ["-m", "dagster_webserver"]
OURS = ["-m", "pipelines.orchestration.webserver"]


def main(argv: list[str]) -> None:
    from dagster_shared.utils.warnings import SupersessionWarning

    warnings.filterwarnings("ignore", category=SupersessionWarning)
    import dagster._cli.dev as dev

    launch = dev.open_ipc_subprocess

    def open_ipc_subprocess(parts, **kwargs):
        parts = list(parts)
        if parts[1:3] == WEBSERVER:
            parts[1:3] = OURS
        return launch(parts, **kwargs)

    dev.open_ipc_subprocess = open_ipc_subprocess
    dev.dev_command.main(args=argv, prog_name="dagster dev")


if __name__ == "__main__":
    main(sys.argv[1:])
