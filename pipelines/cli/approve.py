"""`assetpipe approve SEL... [--note TEXT]`: approve each selected variant's built take."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.decided import after_decisions, print_decisions
from pipelines.review.actions import approve
from pipelines.review.identity import reviewer
from pipelines.review.project import load_project


def cmd_approve(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)
    decisions = approve(project, args.selection, reviewer=reviewer(project.catalog.root), note=args.note)
    print_decisions(decisions, "approved")
    after_decisions(project, decisions)
    return 0
