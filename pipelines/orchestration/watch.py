"""The catalog on disk and the UI that shows it, kept together while `assetpipe ui` runs.

A code location reads the catalog once, when it loads. Without help, an edit (and the build that
follows it from the command line) leaves the UI showing the old reading until someone presses
Reload. So `assetpipe ui` watches the catalog's files (YAML, partials, reference files) and, once
they have stopped changing for SETTLE_S:

1. plans the catalog and records the `plan` check of each variant whose status moved
   (pipelines/orchestration/plan_checks.py), so the UI says which variants changed and why;
2. asks the webserver to reload the code location, as its Reload button does. A catalog that no
   longer loads is reloaded too: the UI then shows its problems, as path:line, instead of the old
   reading.

The same plan check sync runs once at start. Polling (stat of a few dozen files each second)
needs no inotify and sees edits made from any editor or a `git checkout`.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Callable

import httpx

from pipelines.errors import CatalogError
from pipelines.plan.project import Project

POLL_S = 1.0
SETTLE_S = 0.5
IGNORED = {".assetpipe", "out", "__pycache__", ".git"}
RELOAD = """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
  __typename ... on WorkspaceLocationEntry { loadStatus } ... on PythonError { message } } }"""


def snapshot(root: Path, skip: set[Path]) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file of the catalog but its outputs and local state."""
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts and (rel.parts[0] in IGNORED or path in skip or any(p.startswith(".") for p in rel.parts)):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            out[str(rel)] = (st.st_mtime_ns, st.st_size)
    return out


class CatalogWatch:
    def __init__(self, root: Path, graphql_url: str, location: str, echo: Callable[[str], None] = print,
                 sync: Callable[[Project], object] | None = None):
        self.root, self.url, self.location, self.echo = root, graphql_url, location, echo
        self._sync = sync
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assetpipe-watch", daemon=True)
        self._skip = {self._resolve(root, "out")}

    @staticmethod
    def _resolve(root: Path, rel: str) -> Path:
        return (root / rel).resolve()

    def start(self) -> "CatalogWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        seen = snapshot(self.root, self._skip)
        self.sync()  # the instance may predate edits made while the UI was not running
        while not self._stop.wait(POLL_S):
            now = snapshot(self.root, self._skip)
            if now == seen:
                continue
            while not self._stop.wait(SETTLE_S):  # an editor writes in several steps
                later = snapshot(self.root, self._skip)
                if later == now:
                    break
                now = later
            seen = now
            self.echo("catalog changed on disk: reloading the code location")
            self.sync()
            self.reload()

    def sync(self) -> None:
        if self._sync is None:
            return
        try:
            self._sync(Project.load(self.root))
        except CatalogError as exc:
            self.echo(f"the catalog has {len(exc.issues)} problem(s); the UI shows them:")
            for issue in exc.issues[:20]:
                self.echo(f"  {issue}")
        except Exception as exc:  # the UI must keep running whatever the sync met
            print(f"warning: could not update the plan checks: {type(exc).__name__}: {exc}", file=sys.stderr)

    def reload(self, timeout_s: float = 600) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                r = httpx.post(self.url, json={"query": RELOAD, "variables": {"name": self.location}},
                               timeout=timeout_s)
                return r.status_code == 200
            except httpx.HTTPError:  # the webserver is still starting
                self._stop.wait(1.0)
        return False
