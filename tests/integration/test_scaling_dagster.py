"""What keeps a Dagster build of thousands of variants linear: the caches of
pipelines/orchestration/patches.py and the pooled event log of pipelines/orchestration/event_log.py.

Functional tests only (bench/ holds the timings): the patches are applied, give the same answers
as Dagster's own code, keep its yield-order check, and do O(1) work per output; the event log
keeps every event, leaves no WAL behind, and a watcher (the webserver following a live run)
still sees events as they are written.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import warnings
from pathlib import Path
from types import MappingProxyType

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_result import AssetCheckResult
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
)

import pipelines.orchestration.patches as patches
from pipelines.orchestration.event_log import PooledSqliteEventLogStorage


@pytest.fixture(autouse=True, scope="module")
def _patched():
    patches.install()  # as the definitions and the CLI build do


def _chain_multi_asset(n: int, *, reverse: bool = False):
    """n generations and n edits (edit i depends on generation i), one check each, subsettable."""
    gens = [dg.AssetKey(["c", "gen", f"v{i}"]) for i in range(n)]
    edits = [dg.AssetKey(["c", "edit", f"v{i}"]) for i in range(n)]
    specs = [dg.AssetSpec(k) for k in gens] + [dg.AssetSpec(e, deps=[g]) for g, e in zip(gens, edits)]
    checks = [dg.AssetCheckSpec("image_ok", asset=k) for k in gens + edits]

    @dg.multi_asset(specs=specs, check_specs=checks, can_subset=True, name="variants")
    def variants(context):  # no annotation: Dagster inspects it
        order = [*edits, *gens] if reverse else [*gens, *edits]
        for key in order:
            if key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, data_version=dg.DataVersion(key.path[-1]))
                yield dg.AssetCheckResult(asset_key=key, check_name="image_ok", passed=True)

    return variants, gens, edits


def _materialize(assets, selection=None, instance=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dg.materialize([assets], selection=selection, instance=instance or dg.DagsterInstance.ephemeral(),
                              raise_on_error=False)


def test_the_patches_apply_to_this_dagster():
    # fails after a Dagster upgrade: re-measure (bench/scaling.py), then widen SUPPORTED or drop them
    assert patches.install() and patches.applied(), dg.__version__


def test_cached_entity_keys_equal_dagsters_own_for_the_whole_and_each_subset():
    variants, gens, edits = _chain_multi_asset(3)
    whole = patches._original_entity_keys.fget(variants)
    assert variants.asset_and_check_keys == whole  # cached now
    assert variants.asset_and_check_keys is variants.asset_and_check_keys
    sub = variants.subset_for({edits[1]}, selected_asset_check_keys={dg.AssetCheckKey(edits[1], "image_ok")})
    assert sub.asset_and_check_keys == {edits[1], dg.AssetCheckKey(edits[1], "image_ok")}
    assert variants.asset_and_check_keys == whole  # the subset did not touch the whole's cache
    with pytest.raises(AttributeError):
        variants.asset_and_check_keys.add(gens[0])  # type: ignore[attr-defined]  # shared: read-only


def test_a_build_materializes_every_selected_output_and_only_those():
    variants, gens, edits = _chain_multi_asset(4)
    result = _materialize(variants, selection=[gens[0], edits[0], edits[2], gens[2]])
    assert result.success
    done = {m.asset_key for m in result.asset_materializations_for_node("variants")}
    assert done == {gens[0], edits[0], gens[2], edits[2]}
    evals = result.get_asset_check_evaluations()
    assert {e.asset_key for e in evals} == done and all(e.passed for e in evals)


def test_dagsters_yield_order_check_still_fires():
    # the cached output keys feed this check: a dependant yielded before its upstream must fail
    variants, _, _ = _chain_multi_asset(2, reverse=True)
    result = _materialize(variants)
    assert not result.success
    failure = next(ev for ev in result.all_events if ev.is_step_failure)
    assert "was yielded before its dependency" in failure.step_failure_data.error.message


def test_work_per_output_is_constant(monkeypatch):
    """The set of the multi_asset's keys is built once per AssetsDefinition object, not once per
    output per output (which made a 2,000-variant build spend ~0.4 s per variant)."""
    calls = []
    original = patches._original_entity_keys

    def counting(self):
        calls.append(1)
        return original.fget(self)

    monkeypatch.setattr(patches, "_original_entity_keys", property(counting))
    counts = {}
    for n in (20, 80):
        calls.clear()
        variants, _, _ = _chain_multi_asset(n)
        assert _materialize(variants).success
        counts[n] = len(calls)
    # without the cache: ~(4n)^2 calls (6,400 and 102,400); with it, a handful of objects
    assert counts[80] <= counts[20] + 5 and counts[80] < 50, counts


def test_check_results_convert_as_dagsters_own_code_does(monkeypatch):
    def evaluations():
        variants, gens, edits = _chain_multi_asset(3)
        result = _materialize(variants)
        assert result.success
        return result.run_id, sorted(
            ((e.asset_key.to_user_string(), e.check_name, e.passed, e.severity, e.blocking,
              e.target_materialization_data is not None and e.target_materialization_data.run_id == result.run_id)
             for e in result.get_asset_check_evaluations()), key=str)

    _, patched = evaluations()
    monkeypatch.setattr(AssetCheckResult, "to_asset_check_evaluation", patches._original_check_evaluation)
    _, original = evaluations()
    assert patched == original and len(patched) == 6 and all(row[-1] for row in patched)


def test_a_check_result_for_an_unknown_check_still_fails_the_step():
    key = dg.AssetKey(["c", "gen", "v0"])

    @dg.multi_asset(specs=[dg.AssetSpec(key)], check_specs=[dg.AssetCheckSpec("image_ok", asset=key)],
                    can_subset=True, name="variants")
    def variants(context):
        yield dg.MaterializeResult(asset_key=key)
        yield dg.AssetCheckResult(asset_key=key, check_name="text_ok", passed=True)

    result = _materialize(variants)
    failure = next(ev for ev in result.all_events if ev.is_step_failure)
    assert "No checks currently being evaluated" in failure.step_failure_data.error.message


def test_the_map_of_checks_is_built_once_per_assets_definition(monkeypatch):
    built = []

    def counting(mapping):
        built.append(len(mapping))
        return MappingProxyType(mapping)

    monkeypatch.setattr(patches, "MappingProxyType", counting)
    for n in (20, 80):
        built.clear()
        variants, _, _ = _chain_multi_asset(n)
        assert _materialize(variants).success
        assert built == [2 * n], built  # once, not once per check result


# -- the event log ---------------------------------------------------------------------------------

def _message(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(error_info=None, level="INFO", user_message=text, run_id=run_id, timestamp=time.time())


def test_a_run_through_the_pooled_log_is_read_back_whole_by_a_fresh_instance(tmp_path, monkeypatch):
    from pipelines.orchestration.instance import DAGSTER_YAML

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    variants, gens, edits = _chain_multi_asset(5)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = _materialize(variants, instance=instance)
        assert result.success
        run_id = result.run_id
    runs = home / "history" / "runs"
    assert not list(runs.glob("*-wal")), "disposing the instance checkpoints and removes each WAL"
    with dg.DagsterInstance.from_ref(dg.DagsterInstance.get().get_ref()) as fresh:
        records = fresh.get_records_for_run(run_id).records
        types = [r.event_log_entry.dagster_event_type for r in records if r.event_log_entry.is_dagster_event]
        assert types.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 10
        assert types.count(dg.DagsterEventType.ASSET_CHECK_EVALUATION) == 10
        assert types[-1] == dg.DagsterEventType.RUN_SUCCESS
        latest = fresh.get_latest_materialization_event(edits[4])  # the cross-run index shard
        assert latest is not None and latest.run_id == run_id


def test_events_reach_the_run_file_itself_so_a_webserver_watch_sees_them(tmp_path):
    writer = PooledSqliteEventLogStorage(str(tmp_path))
    reader = PooledSqliteEventLogStorage(str(tmp_path))  # the webserver: another storage object
    run_id = "0f3c4a1e-0000-4000-8000-000000000001"
    got: list[str] = []
    seen_all = threading.Event()

    def on_event(entry, cursor):
        got.append(entry.user_message)
        if len(got) == 4:
            seen_all.set()

    writer.store_event(_message(run_id, "first"))  # creates the shard
    reader.watch(run_id, None, on_event)
    try:
        for text in ("a burst", "of three", "messages"):  # within one throttle window
            writer.store_event(_message(run_id, text))
        # nothing else is written: the deferred checkpoint alone must bring the burst to the file
        assert seen_all.wait(10), got
    finally:
        reader.end_watch(run_id, on_event)
        reader.dispose()
    assert got == ["first", "a burst", "of three", "messages"]
    # the .db file without its WAL holds them: that file is what the watcher is notified about
    ro = sqlite3.connect(f"file:{tmp_path / (run_id + '.db')}?mode=ro&immutable=1", uri=True)
    assert ro.execute("select count(*) from event_logs").fetchone()[0] == 4
    ro.close()
    writer.dispose()
    assert not list(Path(tmp_path).glob("*-wal"))


def test_the_table_check_remembers_only_tables_that_exist(tmp_path, monkeypatch):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    asked = []
    original = SqliteEventLogStorage.has_table
    monkeypatch.setattr(SqliteEventLogStorage, "has_table", lambda self, name: asked.append(name) or original(self, name))
    assert [storage.has_table("asset_event_tags") for _ in range(3)] == [True] * 3
    assert [storage.has_table("no_such_table") for _ in range(2)] == [False] * 2
    assert asked == ["asset_event_tags", "no_such_table", "no_such_table"]
    storage.dispose()
