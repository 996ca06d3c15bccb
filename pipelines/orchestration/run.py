"""Running a build's variants as one in-process Dagster run on the catalog's instance, so the
run shows in the UI. The CLI's per-variant lines come from the `on_outcome` hook."""

from __future__ import annotations

import sys
from typing import Callable

from pipelines.engine.outcome import Outcome
from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.instance import instance
from pipelines.orchestration.keys import BUILD_JOB, variant_key
from pipelines.orchestration.refs import observe_refs
from pipelines.plan.plan import Planned
from pipelines.plan.project import Project


def run_variants(project: Project, to_build: list[Planned], *, refresh: bool,
                 on_outcome: Callable[[Outcome], None], retry_maybe_billed: bool = False) -> str:
    """Materialize `to_build` in one run; every variant's Outcome reaches `on_outcome` as it
    lands (a variant the run never reached gets a failed one). Returns the run id."""
    seen: set[str] = set()

    def hook(out: Outcome) -> None:
        seen.add(out.key)
        on_outcome(out)

    refresh_keys = {p.key for p in to_build} if refresh else set()
    defs = build_definitions(project, on_outcome=hook, refresh=refresh_keys, retry_maybe_billed=retry_maybe_billed,
                             split=False)
    job = defs.resolve_job_def(BUILD_JOB)
    inst = instance(project.catalog)
    observe_refs(project, inst)  # before the run, so its provenance names the ref hashes it read
    result = job.execute_in_process(
        instance=inst,
        asset_selection=[variant_key(p.variant) for p in to_build],
        raise_on_error=False,
        tags={"assetpipe/source": "cli"},
        # our own per-variant lines and summary are the CLI's output; Dagster's log is in the UI
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    unexplained = [p for p in to_build if p.key not in seen]
    if not result.success and unexplained:
        # the run failed outside our engine (a Dagster or definitions problem): say so loudly.
        # (With an outcome for every variant, the failure is ours to report: a failed variant, or
        # a failed blocking text check, which fails the Dagster step too.)
        _print_run_failure(result)
        for p in unexplained:
            on_outcome(Outcome(p, "failed", error="the Dagster run failed; see above"))
    return result.run_id


def _print_run_failure(result) -> None:
    for ev in result.all_events:
        if ev.is_step_failure:
            err = ev.step_failure_data.error
            print(err.to_string() if err else ev.message, file=sys.stderr)
        elif ev.is_run_failure:
            print(ev.message, file=sys.stderr)
