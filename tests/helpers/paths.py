"""Where things are: the repository, its example catalog, the console scripts of this venv."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets_spec"


def script(name: str) -> Path:
    """A console script installed beside this interpreter (`assetpipe`, `lint-imports`, ...)."""
    return Path(sys.executable).with_name(name)


ASSETPIPE = script("assetpipe")
