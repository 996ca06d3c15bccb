"""The layering of README's "Repository" section, as tests: the import-linter contracts of
pyproject.toml hold, and they can fail (a copy of the tree with one bad import breaks them);
validate, plan and a no-op build never load Dagster; no import cycle among our modules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest

from tests.helpers.catalogs import copy_built
from tests.helpers.paths import ROOT, script

LINT_IMPORTS = script("lint-imports")
PACKAGES = ("pipelines", "providers")


def lint_imports(tree: Path) -> tuple[int, str]:
    """`lint-imports` on the tree at `tree` (its pyproject.toml, its packages first on the path):
    (exit code, output with whitespace runs made single spaces, as the report wraps long names)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tree), "COLUMNS": "200"}
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, re.sub(r"\s+", " ", proc.stdout + proc.stderr)


def forbidding(source: str, forbidden: str) -> str:
    """The name of the one "forbidden" contract of pyproject.toml that keeps `source` from `forbidden`."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [name] = [c["name"] for c in contracts if c["type"] == "forbidden" and source in c["source_modules"]
              and forbidden in c["forbidden_modules"]]
    return name


PROVIDERS_CONTRACT = forbidding("providers", "pipelines")
DAGSTER_CONTRACT = forbidding("pipelines.catalog", "dagster")


def tree_copy(dest: Path, module: str, line: str) -> Path:
    """The packages and pyproject.toml copied to `dest`, with `line` appended to `module`."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    path = dest / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # added by tests/integration/test_layering.py\n")
    return dest


def test_the_contracts_hold():
    code, out = lint_imports(ROOT)
    assert code == 0, out
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", out), out
    assert f"{PROVIDERS_CONTRACT} KEPT" in out and f"{DAGSTER_CONTRACT} KEPT" in out


def test_a_provider_importing_pipelines_breaks_them(tmp_path):
    tree = tree_copy(tmp_path, "providers.pricing", "from pipelines.plan import plan as _upward")
    code, out = lint_imports(tree)
    assert code == 1, out
    assert f"{PROVIDERS_CONTRACT} BROKEN" in out and f"{DAGSTER_CONTRACT} KEPT" in out
    assert "providers.pricing -> pipelines.plan.plan" in out


def test_the_catalog_layer_importing_dagster_breaks_them(tmp_path):
    tree = tree_copy(tmp_path, "pipelines.catalog.spec", "import dagster as _dagster")
    code, out = lint_imports(tree)
    assert code == 1, out
    assert f"{DAGSTER_CONTRACT} BROKEN" in out and f"{PROVIDERS_CONTRACT} KEPT" in out
    assert "pipelines.catalog.spec -> dagster" in out


# -- what validate, plan and a no-op build load --------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, sys
    {body}
    print("\\n" + json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
""")


def modules_after(body: str, cwd: Path) -> tuple[int, list[str], str]:
    """Run `body` (which sets `code`) in a fresh interpreter: (code, sys.modules after it, stdout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    proc = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out, _, last = proc.stdout.rstrip("\n").rpartition("\n")
    probe = json.loads(last)
    return probe["code"], probe["modules"], out


def dagster_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "dagster" or m.startswith(("dagster.", "dagster_"))]


@pytest.mark.parametrize("argv", [["validate"], ["plan"], ["plan", "--json"], ["build"]], ids=" ".join)
def test_validate_plan_and_a_noop_build_never_load_dagster(draft_example_built, tmp_path, argv):
    catalog = copy_built(draft_example_built[0], tmp_path / "catalog")
    cli = f"from pipelines.cli.main import main\ncode = main({['--catalog', str(catalog), *argv]!r})"
    code, modules, out = modules_after(cli, tmp_path)
    assert code == 0, out
    if argv == ["build"]:
        assert out.startswith("nothing to do"), out
    assert "pipelines.cli.main" in modules and "pipelines.plan.plan" in modules
    assert dagster_modules(modules) == []


def test_the_probe_sees_dagster_where_it_is_loaded(tmp_path):
    # what `assetpipe build` imports once it has work to do (run.py itself imports Dagster only
    # after the engine has started: the first calls need not wait for it)
    code, modules, _ = modules_after("from pipelines.orchestration.definitions import build_definitions\ncode = 0",
                                     tmp_path)
    assert "dagster" in dagster_modules(modules)


# -- cycles ------------------------------------------------------------------------------------------

def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each module that a module it imports leads back to, as the shortest loop through both."""
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append([module, *back])
    return cycles


def test_no_import_cycle_among_our_modules():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert len(graph.modules) > 40  # the whole tree was read, not an empty graph
    assert import_cycles(graph) == []


def test_a_cycle_would_be_found(tmp_path, monkeypatch):
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclic import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclic import a  # a function-level import is an edge too\n")
    (pkg / "c.py").write_text("from cyclic import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cycles = import_cycles(grimp.build_graph("cyclic", cache_dir=None))
    assert ["cyclic.a", "cyclic.b", "cyclic.a"] in cycles
    assert not [c for c in cycles if "cyclic.c" in c]
