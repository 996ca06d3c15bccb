"""What every benchmark shares: timed subprocesses with their peak memory, the emulator as a
process, the machine's description, and result files.

Each benchmark runs its commands as separate processes, the way a user runs them, and measures
wall time and the process's own ru_maxrss (os.wait4), not the benchmark's.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
ASSETPIPE = [PY, "-m", "pipelines.cli.main"]


@dataclass
class Timed:
    wall_s: float
    maxrss_mb: float
    rc: int
    stdout: str
    stderr: str
    cpu_s: float = 0.0  # the process's own user + system CPU time

    def check(self, what: str) -> "Timed":
        if self.rc != 0:
            raise SystemExit(f"{what} failed (exit {self.rc}):\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}")
        return self


def run_timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT, timeout_s: float = 3600) -> Timed:
    """Run `cmd` to completion; wall time and the peak resident memory of that process."""
    out_path, err_path = WORK / ".stdout", WORK / ".stderr"
    WORK.mkdir(parents=True, exist_ok=True)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        deadline = t0 + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                raise SystemExit(f"timed out after {timeout_s}s: {' '.join(cmd)}")
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Timed(wall, usage.ru_maxrss / 1024, proc.returncode, out_path.read_text(errors="replace"),
                 err_path.read_text(errors="replace"), usage.ru_utime + usage.ru_stime)


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ASSETPIPE_CATALOG", None)
    env.update(extra)
    return env


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


# -- the emulator as a process -----------------------------------------------------------------

class EmulatorProcess:
    """`python -m tests.emulators.<vendor> ...` on a free loopback port; stats over HTTP."""

    def __init__(self, vendor: str = "openai", **options: float | int | str):
        self.vendor, self.options = vendor, options
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> "EmulatorProcess":
        cmd = [PY, "-m", f"tests.emulators.{self.vendor}", "--port", "0"]
        for k, v in self.options.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise SystemExit(f"the emulator did not start: {self.base_url!r}")
        return self

    @property
    def origin(self) -> str:
        return "/".join(self.base_url.split("/", 3)[:3])  # http://127.0.0.1:PORT

    def stats(self) -> dict[str, dict[str, int]]:
        return httpx.get(f"{self.origin}/_emulator/stats", timeout=10).json()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def key_stats(stats: dict[str, dict[str, int]], key: str) -> dict[str, int]:
    from tests.emulators.harness import key_id

    return stats.get(key_id(key), {"current": 0, "peak": 0, "total": 0, "rejected": 0})


# -- the machine and result files --------------------------------------------------------------

def machine() -> dict[str, str]:
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "uname": uname,
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "loadavg_at_start": load,
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
    }


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)) + "\n")
    return path


def say(msg: str) -> None:
    print(msg, flush=True)
