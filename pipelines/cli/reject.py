"""`assetpipe reject SEL... --note TEXT`: reject each selected variant's built take; the next
build pays for a new take of exactly those."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.decided import after_decisions, print_decisions
from pipelines.review.actions import reject
from pipelines.review.identity import reviewer
from pipelines.review.project import load_project


def cmd_reject(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)
    decisions = reject(project, args.selection, reviewer=reviewer(project.catalog.root), note=args.note)
    print_decisions(decisions, "rejected")
    after_decisions(project, decisions)
    return 0
