"""Shared fixtures: temporary catalogs, the real `assetpipe` console script, loopback vendors.

Catalog tests run the CLI in a subprocess (what a user runs: exit code, stdout, stderr, no
traceback) against catalogs written into tmp dirs. OCR is off in them (`check_text: "off"`): it
costs seconds per image and is tested on its own in test_ocr.py.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.harness import Reply, Request, make_image
from tests.emulators.openai import OpenAIEmulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets_spec"
ASSETPIPE = Path(sys.executable).with_name("assetpipe")
TEST_KEY_ENV = "ASSETPIPE_TEST_OPENAI_KEY"
TEST_KEY = "sk-test-e2e-5f0c2a9b7d"  # must never show up in any output, file or manifest


# -- catalogs --------------------------------------------------------------------------------------

def copy_example(dest: Path) -> Path:
    """The example catalog without its built outputs and state, with OCR checks off."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out", ".assetpipe", "__pycache__"))
    set_setting(dest, "check_text", '"off"')
    return dest


def set_setting(catalog: Path, key: str, value: str) -> None:
    """Replace (or append) one top-level `key: value` line of catalog.yaml."""
    path = catalog / "catalog.yaml"
    text = path.read_text()
    line = f"{key}: {value}"
    new, n = re.subn(rf"(?m)^{re.escape(key)}:.*$", line, text)
    path.write_text(new if n else text.rstrip("\n") + "\n" + line + "\n")


def add_provider(catalog: Path, name: str, conf: dict[str, Any]) -> None:
    """Add (or replace) one entry under `providers:` of catalog.yaml, as a flow mapping."""
    path = catalog / "catalog.yaml"
    text = path.read_text()
    flow = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in conf.items()) + "}"
    text = re.sub(rf"(?m)^  {re.escape(name)}:.*\n(^ {{4,}}.*\n)*", "", text)
    text = text.replace("providers:\n", f"providers:\n  {name}: {flow}\n", 1)
    path.write_text(text)


def write_catalog(root: Path, files: dict[str, str | bytes]) -> Path:
    """A catalog from {relative path: content}; text is dedented. catalog.yaml defaults to a
    draft-only one with OCR off; refs/*.png given as b"" become real 1024x1024 PNGs."""
    files = dict(files)
    files.setdefault("catalog.yaml", 'check_text: "off"\n')
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content or make_image(1024, 1024, "png"))
        else:
            p.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def example_catalog(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "catalog")


# -- the CLI ---------------------------------------------------------------------------------------

def run_cli(*args: str, catalog: Path | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """Run the installed `assetpipe` script; (exit code, stdout, stderr)."""
    cmd = [str(ASSETPIPE)] + (["--catalog", str(catalog)] if catalog is not None else []) + list(args)
    full_env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    full_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=str(cwd or (catalog.parent if catalog is not None else ROOT)))
    return proc.returncode, proc.stdout, proc.stderr


def plan_json(catalog: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """`plan --json`, as {variant key: row}."""
    code, out, err = run_cli("plan", "--json", *extra, catalog=catalog, env=env)
    assert code == 0, err
    return {row["key"]: row for row in json.loads(out)["variants"]}


def blobs(catalog: Path) -> set[str]:
    root = catalog / ".assetpipe" / "cache" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")} if root.exists() else set()


def manifest(catalog: Path) -> dict[str, Any]:
    return json.loads((catalog / "out" / "manifest.json").read_text())


def outputs_state(catalog: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every output file: a rewrite changes one of them."""
    out = catalog / "out"
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


def assert_clean_failure(code: int, out: str, err: str) -> None:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err, err


# -- a vendor that counts its calls ------------------------------------------------------------------

class TakesOpenAI(OpenAIEmulator):
    """The OpenAI emulator, but every call draws a different picture, as a real model does: a paid
    retake (`--refresh`) then really changes the bytes its dependants are keyed on."""

    _takes = itertools.count(1)

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        # requests whose "<size> <prompt>" contains one of these are blocked by "moderation"
        self.refuse: list[str] = []

    def handle(self, req: Request) -> Reply:
        fields = req.json if isinstance(req.json, dict) else {k: v[0] for k, v in req.fields().items()}
        seen = f"{fields.get('size')} {fields.get('prompt')}"
        if any(s in seen for s in self.refuse):
            return self._error(400, "Your request was rejected as a result of our safety system.",
                               type_="image_generation_user_error", code="moderation_blocked")
        reply = super().handle(req)
        if reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("data"):
            n = next(self._takes)
            w, h = (int(x) for x in reply.body["size"].split("x"))
            color = (n * 37 % 256, n * 91 % 256, n * 53 % 256)
            data = make_image(w, h, reply.body["output_format"], color)
            for item in reply.body["data"]:
                if "b64_json" in item:
                    item["b64_json"] = base64.b64encode(data).decode()
        return reply

    def calls(self) -> int:
        return len(self.requests(method="POST"))


@pytest.fixture
def openai_emu():
    with TakesOpenAI(latency=0.01) as emu:
        yield emu


@pytest.fixture(scope="session")
def session_openai():
    """One emulator for the catalogs built once per session (their catalog.yaml points at it).
    Tests count calls as differences, so sharing it couples nothing."""
    with TakesOpenAI(latency=0.01) as emu:
        yield emu


def _built_once(tmp_path_factory, name: str, emu: OpenAIEmulator | None) -> tuple[Path, dict[str, str]]:
    cat = copy_example(tmp_path_factory.mktemp(name) / "catalog")
    env = use_openai(cat, emu) if emu is not None else {}
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    return cat, env


@pytest.fixture(scope="session")
def draft_example_built(tmp_path_factory):
    """The example built once with the draft provider: (catalog, env). Copy it before changing it."""
    return _built_once(tmp_path_factory, "draft-built", None)


@pytest.fixture(scope="session")
def openai_example_built(tmp_path_factory, session_openai):
    """The example built once through the OpenAI emulator: (catalog, env). Copy it before changing it."""
    return _built_once(tmp_path_factory, "openai-built", session_openai)


def copy_built(src: Path, dest: Path) -> Path:
    """A private copy of a built catalog: outputs, cache and Dagster instance, mtimes kept."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def use_openai(catalog: Path, emu: OpenAIEmulator, name: str = "openai") -> dict[str, str]:
    """Point provider `name` at the emulator and make it the default; returns the env for the CLI."""
    add_provider(catalog, name, {"type": "openai", "base_url": emu.base_url, "api_key_env": TEST_KEY_ENV,
                                 "timeout_s": 10, "max_retries": 0})
    set_setting(catalog, "default_provider", name)
    return {TEST_KEY_ENV: TEST_KEY}


def run_cli_inprocess(*args: str, catalog: Path | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    """`assetpipe` through its entry function in this process: the same code as the console
    script minus ~0.4 s of interpreter start, for the long tables of catalog mistakes."""
    import contextlib
    import io

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
