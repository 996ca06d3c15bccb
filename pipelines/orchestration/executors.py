"""Which Dagster executor runs the build job's steps in launched runs (UI, schedules, `dagster job
execute`), chosen by the deployment, never by the catalog: the same catalog builds on a laptop and
on a team's workers.

    ASSETPIPE_EXECUTOR unset or `multiprocess`   Dagster's default: one process per step, up to
                                                 the machine's cores at once
    ASSETPIPE_EXECUTOR=in_process                every step in the run's own process, one at a time
    ASSETPIPE_EXECUTOR=celery                    dagster-celery: steps are tasks that celery workers
                                                 on any machine take; its settings are the
                                                 `execution.config` of the YAML file named by
                                                 ASSETPIPE_CELERY_CONFIG (the file the workers are
                                                 started with: deploy/celery.yaml)
    ASSETPIPE_STEP_VARIANTS=N                    the largest step, in variants (default 64; an
                                                 asset with more variants is a step of its own)

`assetpipe build` is not concerned: it runs its variants in one in-process step (one asyncio
engine keeps every vendor at its limit, and a render starts the moment its upstream lands).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from pipelines.errors import BuildError
from pipelines.plan.steps import DEFAULT_STEP_VARIANTS

EXECUTOR_ENV = "ASSETPIPE_EXECUTOR"
CELERY_CONFIG_ENV = "ASSETPIPE_CELERY_CONFIG"
STEP_VARIANTS_ENV = "ASSETPIPE_STEP_VARIANTS"
CHOICES = ("multiprocess", "in_process", "celery")


def build_executor() -> dg.ExecutorDefinition | None:
    """The executor for the build job (None: Dagster's default). BuildError, naming the variable
    and the fix, for a value it does not know or a celery setup it cannot read."""
    name = os.environ.get(EXECUTOR_ENV, "").strip() or "multiprocess"
    if name not in CHOICES:
        raise BuildError(f"{EXECUTOR_ENV}={name!r} is not an executor assetpipe knows: use one of {', '.join(CHOICES)}")
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return None
    return _celery(_celery_config())


def step_variants() -> int:
    raw = os.environ.get(STEP_VARIANTS_ENV, "").strip()
    if not raw:
        return DEFAULT_STEP_VARIANTS
    if not raw.isdigit() or int(raw) < 1:
        raise BuildError(f"{STEP_VARIANTS_ENV}={raw!r}: expected a whole number of variants, at least 1")
    return int(raw)


def _celery_config() -> dict[str, Any]:
    path = os.environ.get(CELERY_CONFIG_ENV, "").strip()
    if not path:
        raise BuildError(f"{EXECUTOR_ENV}=celery needs {CELERY_CONFIG_ENV}: the path of the celery YAML the "
                         "workers are started with (`dagster-celery worker start -y FILE`), e.g. deploy/celery.yaml")
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BuildError(f"{CELERY_CONFIG_ENV}={path}: cannot read it ({exc})") from None
    config = ((doc or {}).get("execution") or {}).get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict) or "broker" not in config:
        raise BuildError(f"{CELERY_CONFIG_ENV}={path}: expected `execution: config: {{broker: ..., ...}}`, "
                         "the celery executor's settings")
    return config


def _celery(config: dict[str, Any]) -> dg.ExecutorDefinition:
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise BuildError(f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install 'assetpipe[deploy]'") from None
    return celery_executor.configured(config, name="assetpipe_celery")
