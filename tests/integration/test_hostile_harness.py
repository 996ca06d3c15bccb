"""The hostile-catalog runner's detectors can fail too: a fake `assetpipe` misbehaves in one way
per case, and the runner must name exactly that misbehaviour (and pass the well-behaved one)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.hostile.corpus import CANARY, MUG, SETTINGS, A, At, Case, Symlink
from tests.hostile.runner import run_case

FAKE = r'''
import os, sys, time
cat = sys.argv[sys.argv.index("--catalog") + 1]
mode = open(os.path.join(cat, "mode")).read().strip()
row = "cat/campaigns/a.yaml:2: asset 'mug': something is wrong"
if mode == "good":
    print(row, file=sys.stderr); sys.exit(1)
if mode == "read":  # reads a planted file outside the catalog, says nothing of it
    open("outside/canary.txt").read(); print(row, file=sys.stderr); sys.exit(1)
if mode == "read-via-symlink":  # follows a symlink inside the catalog to outside
    open(os.path.join(cat, "partials/brand.j2")).read(); print(row, file=sys.stderr); sys.exit(1)
if mode == "leak-stdout":
    print(open("outside/canary.txt").read()); print(row, file=sys.stderr); sys.exit(1)
if mode == "leak-file":
    os.makedirs(os.path.join(cat, "out"), exist_ok=True)
    open(os.path.join(cat, "out", "index.html"), "w").write(open("outside/canary.txt").read())
    print(row, file=sys.stderr); sys.exit(1)
if mode == "write":
    open("home/.dotfile", "w").write("x"); print(row, file=sys.stderr); sys.exit(1)
if mode == "edit-source":
    open(os.path.join(cat, "campaigns/a.yaml"), "a").write("# touched\n"); print(row, file=sys.stderr); sys.exit(1)
if mode == "hang":
    time.sleep(60)
if mode == "memory":
    b = bytearray(1500 << 20); b[::4096] = b"x" * len(b[::4096]); time.sleep(5)
if mode == "traceback":
    raise RuntimeError("boom")
if mode == "exit2":
    print("error: nope", file=sys.stderr); sys.exit(2)
if mode == "wrong-line":
    print("cat/campaigns/a.yaml:9: asset 'mug': x", file=sys.stderr); sys.exit(1)
if mode == "wrong-file":
    print("cat/catalog.yaml:1: x", file=sys.stderr); sys.exit(1)
if mode == "exit0":
    print("ok"); sys.exit(0)
if mode == "segv":
    import ctypes; ctypes.string_at(0)
if mode == "slow":
    time.sleep(2.5); print(row, file=sys.stderr); sys.exit(1)
'''

# mode -> the failure kinds the runner must report, and nothing else
EXPECT = {
    "good": set(), "read": {"read-outside"}, "read-via-symlink": {"read-outside"},
    "leak-stdout": {"leak", "read-outside"}, "leak-file": {"leak", "read-outside"}, "write": {"wrote-outside"},
    "edit-source": {"changed-source"}, "hang": {"hang"}, "memory": {"memory"},
    "traceback": {"traceback", "no-path:line"}, "exit2": {"exit", "no-path:line"}, "wrong-line": {"wrong-line"},
    "wrong-file": {"wrong-file"}, "exit0": {"exit"}, "segv": {"crash"}, "slow": {"slow"},
}


@pytest.mark.parametrize("mode", list(EXPECT))
def test_runner_names_each_misbehaviour(mode: str, tmp_path: Path) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE)
    case = Case(f"self-{mode}", mode, {"catalog.yaml": SETTINGS, A: MUG, "mode": mode,
                                       "partials/brand.j2": Symlink("%OUTSIDE%/secret.j2")},
                outside={"outside/secret.j2": f"secret {CANARY}\n"}, at=(At(A, "assets"),),
                commands=(("validate",),), time_limit_s=2.0)
    res = run_case(case, [sys.executable, str(fake)], tmp_path / "run", hard_timeout=4, hard_rss_mb=600)
    got = {f.split("(")[0] for f in res.runs[0].failures}
    assert got == EXPECT[mode], res.runs[0].failures
