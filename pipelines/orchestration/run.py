"""Running a build's variants as one in-process Dagster run on the catalog's instance, so the
run shows in the UI. The CLI's per-variant lines come from the `on_outcome` hook.

The engine starts before Dagster does: importing Dagster, building the definitions, opening the
instance and writing the run's first events take seconds, and the first vendor call need not wait
for them. The run's body then records the outcomes as they land (those that landed while Dagster
was starting first). A run that fails outside the engine still gets every outcome to the CLI.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import uuid
from typing import Callable

from pipelines.engine.engine import Engine
from pipelines.engine.outcome import Outcome
from pipelines.orchestration.outcomes import Outcomes
from pipelines.plan.plan import Plan, Planned
from pipelines.plan.project import Project


def run_variants(project: Project, plan: Plan, to_build: list[Planned], *, refresh: bool,
                 on_outcome: Callable[[Outcome], None], selection: list[str] | None = None,
                 retry_maybe_billed: bool = False) -> tuple[str | None, Plan]:
    """Materialize `to_build` in one run; every variant's Outcome reaches `on_outcome` as it
    lands (a variant the run never reached gets a failed one). Returns the run id and the plan
    after the run (the UI's `plan` checks are brought in line with it); no run id when a stop
    signal came before the run started.""" 
    refresh_keys = {p.key for p in to_build} if refresh else set()
    run_id = str(uuid.uuid4())  # the engine's journal names the build by the run it will be
    engine = Engine(project.catalog, project.store, project.planner(), project.pool, refresh=refresh_keys,
                    build=run_id, retry_maybe_billed=retry_maybe_billed)

    seen: set[str] = set()

    def hook(out: Outcome) -> None:
        seen.add(out.key)
        on_outcome(out)

    outcomes: Outcomes | None = None
    try:
        with _stopping(engine):
            outcomes = Outcomes(engine, to_build, plan.by_key)  # the first calls start now
            from pipelines.orchestration.instance import instance

            inst = instance(project.catalog)
            result = _execute(project, inst, to_build, outcomes, hook, selection, run_id)
    except BaseException as exc:
        # a stop signal (or a failure) while Dagster was starting: the engine is already calling
        # vendors, so stop it gracefully, as the run's body would, and report what landed (stored
        # in the cache: the next build records them in Dagster as cache hits)
        for out in outcomes.drain() if outcomes is not None else ():
            hook(out)
        if not isinstance(exc, KeyboardInterrupt):
            raise
        for p in to_build:
            if p.key not in seen:
                on_outcome(Outcome(p, "stopped", error="not sent: the build was stopped (a stop signal)"))
        return None, project.plan()
    unexplained = [p for p in to_build if p.key not in seen]
    if unexplained:
        # the run failed outside our engine (a Dagster or definitions problem): say so loudly,
        # and still report what the engine did
        _print_run_failure(result)
        for out in outcomes:
            hook(out)
        for p in to_build:
            if p.key not in seen:
                on_outcome(Outcome(p, "failed", error="the Dagster run failed; see above"))
    from pipelines.orchestration.plan_checks import sync_plan_checks

    after = project.plan()
    sync_plan_checks(inst, project, after)
    return result.run_id, after


@contextlib.contextmanager
def _stopping(engine: Engine):
    """While Dagster starts and runs: SIGTERM/SIGINT stop the engine gracefully (a second one
    forces it), rather than raising wherever the main thread is (inside Dagster's imports, or a
    C callback that swallows the exception). Dagster's own handlers, while its step runs, turn the
    signal into an interrupt that the engine handles the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:  # not here: the stop takes a lock this thread may hold
        threading.Thread(target=engine.stop.request, args=("a stop signal",), daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _execute(project: Project, inst, to_build: list[Planned], outcomes: Outcomes, hook, selection, run_id: str):
    import warnings

    from pipelines.orchestration.assets import CliRun
    from pipelines.orchestration.definitions import build_definitions
    from pipelines.orchestration.keys import SELECT_TAG, SOURCE_TAG, asset_key
    from pipelines.orchestration.refs import observe_refs

    defs = build_definitions(project, cli=CliRun(to_build, outcomes, hook), split=False)  # the CLI: one in-process step
    job = defs.resolve_implicit_global_asset_job_def()
    observe_refs(project, inst)
    keys = sorted({asset_key(p.variant) for p in to_build}, key=lambda k: k.path)
    # a re-execution from the UI plans the same selection again and builds what is left to do
    tags = {SOURCE_TAG: "cli", SELECT_TAG: json.dumps(selection or []), "assetpipe/variants": str(len(to_build))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preview" and "beta" notices of the APIs we rely on
        return job.execute_in_process(
            instance=inst, asset_selection=keys, raise_on_error=False, tags=tags, run_id=run_id,
            # our own per-variant lines and summary are the CLI's output; Dagster's log is in the UI
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )


def _print_run_failure(result) -> None:
    for ev in result.all_events:
        if ev.is_step_failure:
            err = ev.step_failure_data.error
            print(err.to_string() if err else ev.message, file=sys.stderr)
        elif ev.is_run_failure:
            print(ev.message, file=sys.stderr)
