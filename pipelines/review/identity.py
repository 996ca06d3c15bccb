"""Who is reviewing: $ASSETPIPE_REVIEWER, else git's `user.name` (as seen from the catalog), else
the operating-system user."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

REVIEWER_ENV = "ASSETPIPE_REVIEWER"


def reviewer(catalog_root: Path | None = None) -> str:
    name = os.environ.get(REVIEWER_ENV, "").strip()
    if name:
        return name
    try:
        out = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5,
                             cwd=str(catalog_root) if catalog_root else None)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers): still a name, never a crash
        return f"uid{os.getuid()}"
