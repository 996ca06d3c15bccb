"""What a build says it did: built (by a provider), rendered (locally), cached, and `paid` only for
money spent (issue #15, item 6): free drafts are never labelled paid, in the CLI or the gallery."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli.build import BuildReport, format_outcome, summary_line
from pipelines.engine.engine import Engine
from pipelines.outputs.gallery import render_page, status, totals
from pipelines.outputs.manifest import manifest_entries
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog

DRAFTS = {
    "campaigns/a.yaml": """
        campaign: a
        assets:
          - name: poster
            matrix: {tone: [warm, cool]}
            prompt: A poster, {{ tone }} light
            size: 256x256
          - name: thumb
            render: {from: poster, size: 64x64}
        """,
}


@pytest.fixture
def built(tmp_path: Path):
    project = Project.load(write_catalog(tmp_path / "cat", DRAFTS))
    plan = project.plan()
    outcomes = Engine(project.catalog, project.store, project.planner(), project.pool).run(plan.items, plan.by_key)
    report = BuildReport(plan, plan.items, 0.0, outcomes={o.key: o for o in outcomes})
    return project, report


def test_free_drafts_are_built_and_renditions_rendered_never_paid(built):
    project, report = built
    line = summary_line(report)
    assert "built 2 (free), rendered 2," in line, line
    assert "paid" not in line
    rows = {o.key: format_outcome(o) for o in report.outcomes.values()}
    assert rows["a/poster/warm"].split()[0] == "built" and rows["a/poster/warm"].rstrip().endswith("free")
    assert rows["a/thumb/warm"].split()[0] == "rendered"
    assert not any("$0.00" in r for r in rows.values()), rows


def test_money_spent_is_the_only_thing_called_paid(built):
    project, report = built
    for o in report.outcomes.values():  # as if a vendor had billed the two posters
        if o.planned.variant.operation == "generate":
            o.takes[0].cost_usd = 0.04
    assert "built 2 (paid $0.08), rendered 2," in summary_line(report)


def test_the_gallery_badges_say_built_and_rendered_for_free_variants(built):
    project, report = built
    entries = manifest_entries(project.plan(), report.outcomes, project.catalog.output_dir)
    assert sorted(status(e) for e in entries) == ["built", "built", "rendered", "rendered"]
    t = totals(entries)
    assert (t["built"], t["paid"], t["rendered"]) == (2, 0, 2)
    html = render_page(entries, {}, {}, title="t")
    assert 'class="badge paid"' not in html and "paid for this build" not in html
    assert html.count('class="badge built"') == 2 and html.count('class="badge rendered"') == 2
    assert "free" in html


def test_the_gallery_says_paid_for_a_variant_that_cost_money(built):
    project, report = built
    entries = manifest_entries(project.plan(), report.outcomes, project.catalog.output_dir)
    entries[0]["cost_usd"] = 0.04
    assert status(entries[0]) == "paid"
    t = totals(entries)
    assert (t["built"], t["paid"]) == (2, 1)
    html = render_page(entries, {}, {}, title="t")
    assert html.count('class="badge paid"') == 1 and "paid for this build" in html
