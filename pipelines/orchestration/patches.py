"""Three caches Dagster 1.13 lacks, which a multi_asset with thousands of outputs needs, one fix
for a multi_asset whose assets have different partitions definitions, and one for a build in steps.

For every output a step yields, Dagster checks that no dependant was yielded before it, and to do
so it rebuilds the set of the step's output keys: a loop over every output of the step, each
turn of which rebuilds the set of every asset and check key of the multi_asset. That is
O(outputs^2) per yielded output, and planning the step pays the same inner cost once per output.
Likewise every AssetCheckResult rebuilds a map of every check of the multi_asset by asset, to
find its own check.

All three are fixed for the life of their object (an AssetsDefinition and its computation are
immutable; a step's outputs are fixed when the step starts), so each is computed once and kept,
frozen so no caller can change the shared copy. The check result's conversion is Dagster's own
method with only that map taken from the cache. What each costs without the cache: bench/README.md ("What the
Dagster side costs").

The fix: an *unpartitioned* run of such a multi_asset (every CLI build and schedule tick: a set of
variants of several catalog assets) fails at step start once a selected asset has a materialized
partitioned upstream outside the selection: `fetch_external_input_asset_version_info` asks the
multi_asset for its one partitions definition, which it does not have ("Different assets within
this AssetsDefinition have different PartitionsDefinitions"). That lookup only feeds the input
provenance of `Output`s; our body records `AssetMaterialization`s carrying their own data versions,
so for such a multi_asset it is skipped, and so for any step of ours (a step of a split build whose
assets share one partitions definition, run unpartitioned, trips the same lookup for an input
partitioned differently).

And one for a build in several steps (the code location's job: a multi_asset per step, see
pipelines.plan.steps): our bodies yield no `Output` (each variant is recorded as a partition's
`AssetMaterialization` as it lands; an `Output` of a partitioned asset in an unpartitioned run would
record the whole asset unpartitioned), so Dagster would skip every step downstream of another one
("due to skipped dependencies"). A step of ours is never skipped for that: it plans at run time
and builds what its upstream variants allow (a failed upstream step still abandons it).

Each patch stands for a one-line upstream change, written beside it; the day Dagster takes them,
this module goes. They are installed by an explicit `install()` where definitions are built (the
code location and the CLI's build), never as a side effect of an import, and only on the Dagster
versions they were checked against: tests/integration/test_scaling_dagster.py fails when they stop applying,
so an upgrade gets a second look.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import AbstractSet, Any, Mapping

import dagster
import dagster._check as check
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluation,
)
from dagster._core.definitions.asset_checks.asset_check_result import AssetCheckResult
from dagster._core.definitions.assets.definition.assets_definition import (
    AssetsDefinition,
)
from dagster._core.execution.context.system import StepExecutionContext
from dagster._core.execution.plan.active import ActiveExecution

from pipelines.orchestration.keys import MULTI_ASSET

SUPPORTED = ("1.13.",)
_ENTITY_KEYS = "_assetpipe_asset_and_check_keys"
_OUTPUT_KEYS = "_assetpipe_output_asset_keys"
_CHECK_NAMES = "_assetpipe_check_names_by_asset_key"

_original_entity_keys = AssetsDefinition.asset_and_check_keys
_original_output_keys = StepExecutionContext.get_output_asset_keys
_original_check_evaluation = AssetCheckResult.to_asset_check_evaluation
_original_fetch_inputs = StepExecutionContext.fetch_external_input_asset_version_info
_original_should_skip = ActiveExecution._should_skip_step  # noqa: SLF001


# upstream: assets_definition.py, `asset_and_check_keys`: `@property` -> `@cached_property`
# (its neighbours `keys_by_input_name`, `entity_keys_by_output_name` already are)
def _asset_and_check_keys(self: AssetsDefinition) -> AbstractSet[Any]:
    keys = self.__dict__.get(_ENTITY_KEYS)
    if keys is None:
        keys = self.__dict__[_ENTITY_KEYS] = frozenset(_original_entity_keys.fget(self))
    return keys


# upstream: execution/context/system.py, `StepExecutionContext.get_output_asset_keys`: memoize
# (`@cached_method`): a step's outputs are fixed when the step starts
def _get_output_asset_keys(self: StepExecutionContext) -> AbstractSet[Any]:
    keys = self.__dict__.get(_OUTPUT_KEYS)
    if keys is None:
        keys = self.__dict__[_OUTPUT_KEYS] = frozenset(_original_output_keys(self))
    return keys


# upstream: a `@cached_property check_names_by_asset_key` on AssetsDefinition, used by
# asset_check_result.py `to_asset_check_evaluation` instead of the map it rebuilds per result
def _check_names_by_asset_key(assets_def: AssetsDefinition) -> Mapping[Any, AbstractSet[str]]:
    names = assets_def.__dict__.get(_CHECK_NAMES)
    if names is None:
        by_asset: dict[Any, set[str]] = {}
        for key in check.not_none(assets_def._computation).check_keys_by_output_name.values():  # noqa: SLF001
            by_asset.setdefault(key.asset_key, set()).add(key.name)
        names = assets_def.__dict__[_CHECK_NAMES] = MappingProxyType({k: frozenset(v) for k, v in by_asset.items()})
    return names


def _to_asset_check_evaluation(self: AssetCheckResult, step_context: StepExecutionContext) -> AssetCheckEvaluation:
    # dagster 1.13 AssetCheckResult.to_asset_check_evaluation, with the map of checks cached
    assets_def_for_check = check.not_none(
        step_context.job_def.asset_layer.get_assets_def_for_node(node_handle=step_context.node_handle),
        f"While resolving asset check result {self}, expected to find an AssetsDefinition object that could be "
        f"associated back to the currently executing NodeHandle {step_context.node_handle}.",
    )
    check_key = self.resolve_target_check_key(_check_names_by_asset_key(assets_def_for_check))
    check_spec = assets_def_for_check.get_spec_for_check_key(check_key)
    evaluation_partition = (
        step_context.partition_key
        if step_context.has_partition_key and check_spec.partitions_def is not None
        else None
    )
    return AssetCheckEvaluation(
        check_name=check_key.name,
        asset_key=check_key.asset_key,
        passed=self.passed,
        metadata=self.metadata,
        target_materialization_data=self._get_target_materialization_data(step_context, check_key),
        severity=self.severity,
        description=self.description,
        blocking=check_spec.blocking,
        partition=evaluation_partition,
    )


# upstream: execution/context/system.py, `fetch_external_input_asset_version_info`: look up the
# partitions definition of the input's asset (`assets_def.specs_by_key[key].partitions_def`), not
# the AssetsDefinition's single one, which a multi_asset of several definitions does not have
def _fetch_external_input_asset_version_info(self: StepExecutionContext) -> None:
    assets_def = self.assets_def
    if assets_def is not None and (len({s.partitions_def for s in assets_def.specs}) > 1 or _ours(assets_def.node_def.name)):
        cache = self._data_version_cache  # noqa: SLF001
        cache.input_asset_version_info = {}
        cache.is_external_input_asset_version_info_loaded = True
        return None
    return _original_fetch_inputs(self)


# upstream: there is no switch for it; the nearest is a step whose asset outputs are all
# `skippable` and recorded by `AssetMaterialization` events not gating its dependants
def _should_skip_step(self: ActiveExecution, step_key: str) -> bool:
    return False if _ours(step_key) else _original_should_skip(self, step_key)


def _ours(name: str) -> bool:
    """One of assetpipe's variants steps (pipelines.orchestration.assets): its body records
    `AssetMaterialization`s with their own data versions, never an `Output`."""
    return name == MULTI_ASSET or name.startswith(f"{MULTI_ASSET}_")


def install() -> bool:
    """Install the caches (idempotent); False when this Dagster version is not one they were
    checked against, in which case Dagster runs unpatched (correct, only slower at scale)."""
    if not supported():
        return False
    AssetsDefinition.asset_and_check_keys = property(_asset_and_check_keys)  # type: ignore[method-assign]
    StepExecutionContext.get_output_asset_keys = _get_output_asset_keys  # type: ignore[method-assign]
    AssetCheckResult.to_asset_check_evaluation = _to_asset_check_evaluation  # type: ignore[method-assign]
    StepExecutionContext.fetch_external_input_asset_version_info = _fetch_external_input_asset_version_info  # type: ignore[method-assign]
    ActiveExecution._should_skip_step = _should_skip_step  # type: ignore[method-assign]  # noqa: SLF001
    return True


def supported() -> bool:
    return dagster.__version__.startswith(SUPPORTED)


def applied() -> bool:
    """All five patches are in place."""
    entity = AssetsDefinition.__dict__.get("asset_and_check_keys")
    return (isinstance(entity, property) and entity.fget is _asset_and_check_keys
            and StepExecutionContext.get_output_asset_keys is _get_output_asset_keys
            and AssetCheckResult.to_asset_check_evaluation is _to_asset_check_evaluation
            and StepExecutionContext.fetch_external_input_asset_version_info is _fetch_external_input_asset_version_info
            and ActiveExecution._should_skip_step is _should_skip_step)  # noqa: SLF001
