"""The `assetpipe` CLI as a user runs it (the installed console script in a subprocess: exit code,
stdout, stderr, no traceback), or through its entry function in this process, and reading the
`path:line: message` problems it prints."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.catalogs import write_catalog
from tests.helpers.paths import ASSETPIPE, ROOT


def run_cli(*args: str, catalog: Path | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """Run the installed `assetpipe` script; (exit code, stdout, stderr)."""
    cmd = [str(ASSETPIPE)] + (["--catalog", str(catalog)] if catalog is not None else []) + list(args)
    full_env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    full_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=str(cwd or (catalog.parent if catalog is not None else ROOT)))
    return proc.returncode, proc.stdout, proc.stderr


def run_cli_inprocess(*args: str, catalog: Path | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    """`assetpipe` through its entry function in this process: the same code as the console
    script minus ~0.4 s of interpreter start, for the long tables of catalog mistakes."""
    from pipelines.cli.main import main

    argv = (["--catalog", str(catalog)] if catalog is not None else []) + list(args)
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(cwd or (catalog.parent if catalog is not None else ROOT))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def plan_json(catalog: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """`plan --json`, as {variant key: row}."""
    code, out, err = run_cli("plan", "--json", *extra, catalog=catalog, env=env)
    assert code == 0, err
    return {row["key"]: row for row in json.loads(out)["variants"]}


def assert_clean_failure(code: int, out: str, err: str) -> None:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err, err


def problems(err: str) -> list[tuple[str, int, str]]:
    """(path, line, message) of every `path:line: message` row of stderr."""
    out = []
    for row in err.splitlines():
        m = re.match(r"^(.+?):(\d+): (.*)$", row)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3)))
    return out


def validate_catalog(tmp_path: Path, files: dict[str, str | bytes], *,
                     subprocess: bool = False) -> list[tuple[str, int, str]]:
    """`assetpipe validate` of a broken catalog written from `files` (in this process unless
    `subprocess`): a clean failure, whose count line matches its `path:line: message` rows."""
    root = write_catalog(tmp_path / "cat", files)
    code, out, err = (run_cli if subprocess else run_cli_inprocess)("validate", catalog=root)
    assert_clean_failure(code, out, err)
    found = problems(err)
    assert found, err
    assert re.search(rf"^{len(found)} problems? in the catalog$", err, re.M), err
    return found
