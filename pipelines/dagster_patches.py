"""Two caches Dagster 1.13 lacks, which a multi_asset with thousands of outputs needs.

For every output a step yields, Dagster checks that no dependant was yielded before it, and to do
so it rebuilds the set of the step's output keys: a loop over every output of the step, each
turn of which rebuilds the set of every asset and check key of the multi_asset. That is
O(outputs^2) per yielded output: with one multi_asset of 2,000 variants (4,000 outputs with their
checks) a build spent ~0.4 s per variant in that check alone (2,000 variants: 870 s, of which
~90% there; 200 variants: 8.5 s), and planning the step pays the same inner cost once per output.

Both sets are fixed for the life of their object (an AssetsDefinition is immutable; a step's
outputs are fixed when the step starts), so each is computed once and kept, as a frozenset so no
caller can change the shared copy. Applied only to the Dagster versions it was written against;
tests/test_scaling_dagster.py fails when it stops applying, so an upgrade gets a second look.
"""

from __future__ import annotations

from typing import AbstractSet, Any

import dagster
from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition
from dagster._core.execution.context.system import StepExecutionContext

SUPPORTED = ("1.13.",)
_ENTITY_KEYS = "_assetpipe_asset_and_check_keys"
_OUTPUT_KEYS = "_assetpipe_output_asset_keys"

_original_entity_keys = AssetsDefinition.asset_and_check_keys
_original_output_keys = StepExecutionContext.get_output_asset_keys


def _asset_and_check_keys(self: AssetsDefinition) -> AbstractSet[Any]:
    keys = self.__dict__.get(_ENTITY_KEYS)
    if keys is None:
        keys = self.__dict__[_ENTITY_KEYS] = frozenset(_original_entity_keys.fget(self))
    return keys


def _get_output_asset_keys(self: StepExecutionContext) -> AbstractSet[Any]:
    keys = self.__dict__.get(_OUTPUT_KEYS)
    if keys is None:
        keys = self.__dict__[_OUTPUT_KEYS] = frozenset(_original_output_keys(self))
    return keys


def apply() -> bool:
    """Install the caches; False when this Dagster version is not one they were checked against."""
    if not dagster.__version__.startswith(SUPPORTED):
        return False
    AssetsDefinition.asset_and_check_keys = property(_asset_and_check_keys)  # type: ignore[method-assign]
    StepExecutionContext.get_output_asset_keys = _get_output_asset_keys  # type: ignore[method-assign]
    return True


def applied() -> bool:
    return StepExecutionContext.get_output_asset_keys is _get_output_asset_keys


APPLIED = apply()
