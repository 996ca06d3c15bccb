"""What follows a review decision, from the CLI or the review page: the published mirror, the
review states in output_dir's manifest and gallery, and an observation per decision in Dagster."""

from __future__ import annotations

import sys
from typing import Callable

from pipelines.outputs.write import write_review_states
from pipelines.plan.project import Project
from pipelines.review import publish
from pipelines.review.actions import Decision


def after_decisions(project: Project, decisions: list[Decision], echo: Callable[[str], None] = print) -> None:
    plan = project.plan()
    report = publish.sync(project, plan)
    write_review_states(project, plan)
    if report is not None:
        changes = len(report.copied) + len(report.withdrawn)
        echo(f"published: {report.published} approved variant(s) in {report.dir}"
             + (f" ({len(report.copied)} copied, {len(report.withdrawn)} withdrawn)" if changes else ""))
        for problem in report.problems:
            print(f"warning: {problem}", file=sys.stderr)
    if any(d.changed for d in decisions):
        from pipelines.orchestration.review import record_decisions  # Dagster: only when something changed

        try:
            record_decisions(project, decisions)
        except Exception as exc:  # approvals.yaml is the record; the UI's timeline is a view of it
            print(f"warning: the decisions are in approvals.yaml, but Dagster could not record them: {exc}",
                  file=sys.stderr)


def print_decisions(decisions: list[Decision], verb: str) -> None:
    for d in decisions:
        e = d.entry
        what = verb if d.changed else f"already {verb}"
        retake = e.status == "rejected" and d.changed and e.take > (d.previous.take if d.previous else 0)
        extra = f", the next build makes take {e.take}" if retake else ""
        print(f"  {what:<16} {d.key}  {e.sha256[:12]}{extra}")
    n = sum(d.changed for d in decisions)
    unchanged = len(decisions) - n
    by = decisions[0].entry.by if decisions else "-"
    print(f"{verb} {n} variant(s) as {by}" + (f"; {unchanged} unchanged" if unchanged else ""))
