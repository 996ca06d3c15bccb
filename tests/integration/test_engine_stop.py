"""The engine stopped from outside its thread, without Dagster: when a run is interrupted between
two results (Dagster then closes the asset's generator), `Engine.drain` still lets the calls in
flight land and be stored within the grace period, and sends nothing new."""

from __future__ import annotations

from pipelines.engine.engine import Engine
from pipelines.plan.project import Project
from tests.emulators.openai import OpenAIEmulator
from tests.helpers.paid import ENV, paid_catalog


def test_an_abandoned_stream_drains_what_is_in_flight_and_sends_nothing_new(tmp_path, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    with OpenAIEmulator(latency=1.5) as emu:
        cat = paid_catalog(tmp_path / "cat", emu, "openai", 5, max_concurrency=2)
        project = Project.load(cat)
        plan = project.plan()
        engine = Engine(project.catalog, project.store, project.planner(), project.pool, build="run-drain-test")
        stream = engine.stream(plan.items, plan.by_key)
        first = next(stream)  # one landed; the next two are in flight
        stream.close()
        rest = engine.drain()
        posts = len(emu.requests("POST"))
    outcomes = [first, *rest]
    assert len(outcomes) == 5 and engine.stop.requested and not engine.stop.forced
    built = [o for o in outcomes if o.status == "built"]
    stopped = [o for o in outcomes if o.status == "stopped"]
    assert posts == len(built) and len(built) in (3, 4), [o.status for o in outcomes]
    assert all("not sent" in o.error and not o.in_flight for o in stopped)
    fresh = {p.key for p in project.plan().items if p.status == "fresh"}
    assert fresh == {o.key for o in built}  # everything that landed was stored
    assert project.journal.open_entries() == []  # settled: nothing maybe billed
