"""Catalogs in tmp dirs: the example copied, or one written from {path: content}; one-line edits
of catalog.yaml; what a build left behind (blobs, manifest, output files).

OCR is off in these catalogs (`check_text: "off"`): it costs seconds per image and is tested on
its own (tests/integration/test_ocr.py)."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.images import make_image
from tests.helpers.paths import EXAMPLE

# one campaign whose three `bottle` variants edit refs/product.png with refs/mask.png
SHOP_WITH_REFS = {
    "catalog.yaml": """
        check_text: "off"
        defaults: {size: 64x64}
        """,
    "campaigns/shop.yaml": """
        campaign: shop
        assets:
          - name: bottle
            matrix: {tone: [warm, cool, bright]}
            edit: {image: refs/product.png, mask: refs/mask.png}
            prompt: The bottle on a terrace table, {{ tone }} light
          - name: plain
            prompt: A plain bottle
        """,
    "refs/product.png": b"",
    "refs/mask.png": b"",
}


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


def one_campaign(body: str, **extra: str) -> dict[str, str]:
    """The files of a catalog with one campaign, campaigns/a.yaml (plus `extra` files)."""
    return {"campaigns/a.yaml": body, **extra}


def copy_built(src: Path, dest: Path) -> Path:
    """A private copy of a built catalog: outputs, cache and Dagster instance, mtimes kept."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def blobs(catalog: Path) -> set[str]:
    root = catalog / ".assetpipe" / "cache" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")} if root.exists() else set()


def manifest(catalog: Path) -> dict[str, Any]:
    return json.loads((catalog / "out" / "manifest.json").read_text())


def outputs_state(catalog: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every output file: a rewrite changes one of them."""
    out = catalog / "out"
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


@pytest.fixture
def example_catalog(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "catalog")
