"""Loading a catalog for every entry point (CLI, Dagster code location, review page): the plan
layer's Project, with the first takes that approvals.yaml decides (a rejected take is retaken).

approvals.yaml is read again whenever it changes on disk, so a rejection made while the Dagster
code location or the review page is running reaches their next plan without a reload. A broken
file fails the load as `path:line`, like any catalog file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pipelines.plan.plan import FirstTake
from pipelines.plan.project import Project
from pipelines.review import approvals
from pipelines.review.approvals import Entry


class ApprovalsFile:
    """approvals.yaml of one catalog, re-read only when its stat changes."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.path = catalog.approvals_path
        self._seen: tuple | None = None
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def entries(self) -> dict[str, Entry]:
        with self._lock:
            try:
                st = os.stat(self.path)
                stamp: tuple | None = (st.st_ino, st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                stamp = None
            if stamp != self._seen or stamp is None:
                self._entries = approvals.read(self.path, self.catalog.rel(self.path)) if stamp else {}
                self._seen = stamp
            return dict(self._entries)

    def first_takes(self) -> dict[str, FirstTake]:
        return first_takes_of(self.entries())


def first_takes_of(entries: dict[str, Entry]) -> dict[str, FirstTake]:
    """Where each variant's takes start: past its rejected take (text retakes count on from it)."""
    return {key: FirstTake(e.take, f"rejected: {e.note or '(no note)'}" if e.status == "rejected" else None)
            for key, e in entries.items() if e.take}


def load_project(root: Path | str) -> Project:
    project = Project.load(root)
    attach(project)
    return project


def attach(project: Project) -> ApprovalsFile:
    """Give `project` the first takes of its approvals.yaml (read now: a broken file fails here)."""
    file = ApprovalsFile(project.catalog)
    file.entries()
    project.first_takes = file.first_takes
    project.approvals_file = file  # type: ignore[attr-defined]  (read by approvals_of)
    return file


def approvals_of(project: Project) -> dict[str, Entry]:
    """The current entries of the project's approvals.yaml."""
    file = getattr(project, "approvals_file", None) or attach(project)
    return file.entries()
