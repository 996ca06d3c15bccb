"""`assetpipe explain SEL... [--json]`: what differs between each variant's recipe and its built
(and approved) take. Read-only, never imports Dagster."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipelines.catalog.select import select
from pipelines.review.explain import explain, render_text
from pipelines.review.project import approvals_of, load_project


def cmd_explain(catalog_dir: Path, args) -> int:
    project = load_project(catalog_dir)
    plan = project.plan()
    keys = [v.key for v in select(project.variants, args.selection)]
    items = explain(project, plan, approvals_of(project), keys)
    if args.json:
        json.dump({"variants": items}, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    for item in items:
        print("\n".join(render_text(item)))
    return 0
