"""The code location's build job in steps (pipelines.plan.steps) on Dagster's executors: the
multiprocess executor runs the steps of one run in parallel processes, in dependency order; the
CLI keeps its one in-process step; the executor settings fail clearly."""

from __future__ import annotations

import re
import subprocess

import pytest

from pipelines.errors import BuildError
from pipelines.orchestration import executors
from pipelines.orchestration.definitions import build_definitions
from pipelines.orchestration.keys import BUILD_JOB
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog
from tests.helpers.cli import plan_json
from tests.helpers.paths import script

CAMPAIGN = """
    campaign: {name}
    assets:
      - name: poster
        prompt: A poster {{{{ n }}}} of {name}
        matrix: {{n: [1, 2, 3]}}
      - name: story
        render: {{from: poster, size: 512x512}}
    """


def catalog(root):
    return write_catalog(root, {"campaigns/spring.yaml": CAMPAIGN.format(name="spring"),
                                "campaigns/summer.yaml": CAMPAIGN.format(name="summer")})


def test_the_multiprocess_executor_runs_the_steps_in_parallel_processes_in_dependency_order(tmp_path):
    cat = catalog(tmp_path / "cat")
    (tmp_path / "home").mkdir()
    env = {"ASSETPIPE_CATALOG": str(cat), "DAGSTER_HOME": str(tmp_path / "home"), "ASSETPIPE_STEP_VARIANTS": "3",
           "PATH": str(script("dagster").parent)}
    r = subprocess.run([str(script("dagster")), "job", "execute", "-m", "pipelines.definitions", "-j", BUILD_JOB],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-5000:]
    starts = re.findall(r" - (\d+) - assetpipe_variants_(\w+) - STEP_START", log)
    ends = [s for s in re.findall(r" - \d+ - assetpipe_variants_(\w+) - STEP_SUCCESS", log)]
    assert sorted(s for _, s in starts) == sorted(ends) == ["spring", "spring_2", "summer", "summer_2"], log[-3000:]
    assert len({pid for pid, _ in starts}) == 4  # a process per step
    order = [s for _, s in starts]
    for c in ("spring", "summer"):  # the renders' step starts after its posters' step ended
        assert log.index(f"assetpipe_variants_{c}_2 - STEP_START") > log.index(f"assetpipe_variants_{c} - STEP_SUCCESS")
    assert set(order[:2]) <= {"spring", "summer"}
    rows = plan_json(cat)
    assert len(rows) == 12 and all(r["status"] == "fresh" for r in rows.values())
    assert all((cat / "out" / r).is_file() for r in ("spring/story/2.png", "summer/poster/3.png"))


def test_the_cli_keeps_one_step_and_small_campaigns_share_one(tmp_path):
    project = Project.load(catalog(tmp_path / "cat"))
    one = build_definitions(project, split=False).resolve_job_def(BUILD_JOB)
    split = build_definitions(project).resolve_job_def(BUILD_JOB)
    assert [n.name for n in one.graph.node_defs] == ["assetpipe_variants"]
    assert [n.name for n in split.graph.node_defs] == ["assetpipe_variants_spring_and_1_more"]  # 12 variants: one step


@pytest.mark.parametrize("env,message", [
    ({"ASSETPIPE_EXECUTOR": "k8s"}, "ASSETPIPE_EXECUTOR='k8s' is not an executor assetpipe knows"),
    ({"ASSETPIPE_EXECUTOR": "celery"}, "ASSETPIPE_EXECUTOR=celery needs ASSETPIPE_CELERY_CONFIG"),
    ({"ASSETPIPE_EXECUTOR": "celery", "ASSETPIPE_CELERY_CONFIG": "/nowhere/celery.yaml"}, "cannot read it"),
    ({"ASSETPIPE_STEP_VARIANTS": "0"}, "expected a whole number of variants"),
])
def test_executor_settings_fail_clearly(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(BuildError, match=re.escape(message)):
        executors.build_executor()
        executors.step_variants()


def test_the_celery_executor_takes_the_workers_yaml(monkeypatch):
    from tests.helpers.workers import CELERY_YAML

    monkeypatch.setenv("ASSETPIPE_EXECUTOR", "celery")
    monkeypatch.setenv("ASSETPIPE_CELERY_CONFIG", str(CELERY_YAML))
    ex = executors.build_executor()
    assert ex.name == "assetpipe_celery"
