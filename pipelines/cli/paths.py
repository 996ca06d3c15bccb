"""Paths as a user reads them in the CLI's output."""

from __future__ import annotations

import os
from pathlib import Path


def shown(p: Path) -> str:
    try:
        rel = os.path.relpath(p)
    except ValueError:
        return str(p)
    return rel if not rel.startswith("..") else str(p)
