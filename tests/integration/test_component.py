"""A catalog added to a code location a team already has: `catalog_definitions(dir)` merged with
the team's own Definitions, and the Dagster Component a `dg` project declares in a defs.yaml. Each
loads in a fresh interpreter, as a code server would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.catalogs import copy_example

pytestmark = pytest.mark.slow

TEAM_DEFS = """
import dagster as dg
from pathlib import Path

@dg.asset(group_name="team")
def team_own_asset() -> None:
    '''What the team already had.'''

@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(dg.Definitions(assets=[team_own_asset]),
                                dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
"""

SUMMARY = """
import json, sys
import dagster as dg
sys.path.insert(0, "src")
from team_project.definitions import defs
d = defs() if callable(defs) else defs
keys = {k.to_user_string() for k in d.resolve_asset_graph().get_all_asset_keys()}
job = d.resolve_implicit_global_asset_job_def()
result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                asset_selection=[dg.AssetKey(["brewlab_launch", "mug_hero"])], raise_on_error=False)
print(json.dumps({"keys": sorted(keys), "success": result.success,
                  "schedules": sorted(s.name for s in d.schedules or [])}))
"""


def _project(tmp_path: Path, defs_yaml: str) -> Path:
    root = tmp_path / "team"
    (root / "src" / "team_project" / "defs" / "brewlab").mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "team-project"
        version = "0.1.0"
        [tool.dg]
        directory_type = "project"
        [tool.dg.project]
        root_module = "team_project"
        """))
    (root / "src" / "team_project" / "__init__.py").write_text("")
    (root / "src" / "team_project" / "definitions.py").write_text(TEAM_DEFS)
    (root / "src" / "team_project" / "defs" / "brewlab" / "defs.yaml").write_text(textwrap.dedent(defs_yaml))
    copy_example(root / "catalogs" / "brewlab")
    return root


def _run(cwd: Path, code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_dg_project_adds_a_catalog_with_a_defs_yaml(tmp_path):
    root = _project(tmp_path, """
        type: pipelines.orchestration.component.CatalogComponent
        attributes:
          catalog: ../../../../catalogs/brewlab
        """)
    proc = _run(root, SUMMARY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "team_own_asset" in got["keys"]
    assert "brewlab_launch/launch_poster" in got["keys"]  # one asset per catalog asset, variants as partitions
    assert any(k.startswith("refs/") for k in got["keys"])  # the reference images, as sources
    assert got["success"] and "brewlab_launch_schedule" in got["schedules"]
    assert list((root / "catalogs" / "brewlab" / "out" / "brewlab_launch" / "mug_hero").iterdir())


def test_catalog_definitions_merge_with_a_teams_own(tmp_path):
    catalog = copy_example(tmp_path / "catalog")
    code = f"""
import dagster as dg
from pipelines.orchestration.component import catalog_definitions

@dg.asset
def team_own_asset() -> None: ...

defs = dg.Definitions.merge(dg.Definitions(assets=[team_own_asset]), catalog_definitions({str(catalog)!r}))
keys = {{k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}}
assert "team_own_asset" in keys and "brewlab_launch/mug_hero" in keys, sorted(keys)
defs.resolve_implicit_global_asset_job_def()
print("OK")
"""
    proc = _run(tmp_path, code)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]


@pytest.mark.parametrize("defs_yaml, expected", [
    ("type: pipelines.orchestration.component.CatalogComponent\nattributes:\n  catalgo: x\n",
     "attributes.catalgo at "),
    ("type: pipelines.orchestration.component.CatalogComponent\nattributes:\n  catalog: ../nowhere\n",
     "defs.yaml:3: catalog: ../nowhere is not a catalog directory"),
])
def test_a_wrong_defs_yaml_says_where(tmp_path, defs_yaml, expected):
    root = _project(tmp_path, defs_yaml)
    proc = _run(root, SUMMARY)
    assert proc.returncode != 0
    assert expected in proc.stderr and "defs.yaml:3" in proc.stderr, proc.stderr[-3000:]


def test_dg_finds_the_component_type_through_its_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="dagster_dg_cli.registry_modules") if e.name == "assetpipe"]
    assert ep.load().CatalogComponent.__name__ == "CatalogComponent"
