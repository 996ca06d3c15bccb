"""Machines that share nothing on disk, for the deployment tests: each has its own copy of the
catalog, its own DAGSTER_HOME (deploy/dagster.yaml as written: the instance in PostgreSQL), its
own TMPDIR and working directory; they share only the servers (PostgreSQL, S3, redis) and the
vendor emulator. On a machine: `assetpipe build`, a dagster-celery worker, `dagster job execute`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.catalogs import write_catalog
from tests.helpers.paths import ASSETPIPE, ROOT, script

CELERY_YAML = ROOT / "deploy" / "celery.yaml"


@dataclass
class Machine:
    name: str
    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def catalog(self) -> Path:
        return self.root / "catalog"

    def log(self, what: str) -> Path:
        return self.root / f"{what}.log"

    def start(self, what: str, *argv: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A process of this machine, its output in <root>/<what>.log, in its own session (so a
        kill -9 of the session takes the whole worker: celery's master and its pool)."""
        with open(self.log(what), "w") as log:
            proc = subprocess.Popen([str(a) for a in argv], cwd=self.root, env={**self.env, **(env or {})},
                                    stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs.append(proc)
        return proc

    def build(self, *args: str) -> subprocess.Popen:
        return self.start("build", ASSETPIPE, "--catalog", self.catalog, "build", *args)

    def worker(self, config: Path = CELERY_YAML) -> subprocess.Popen:
        """A dagster-celery worker as deploy/celery.yaml says to start one (one pool process: the
        machine has 2 cores for every test)."""
        return self.start("worker", script("dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                          "-y", config, "-n", self.name, "--", "--concurrency", "1")

    def celery_run(self, config: Path = CELERY_YAML) -> subprocess.Popen:
        """The code location's build job, run from this machine with the celery executor."""
        return self.start("run", script("dagster"), "job", "execute", "-m", "pipelines.definitions",
                          "-j", "assetpipe_build",
                          env={"ASSETPIPE_EXECUTOR": "celery", "ASSETPIPE_CELERY_CONFIG": str(config)})

    def steps_done(self) -> int:
        """Steps this machine's worker finished (celery's log line per task)."""
        text = self.log("worker").read_text(errors="replace") if self.log("worker").exists() else ""
        return len(re.findall(r"Task execute_plan\[[^\]]+\] succeeded", text))

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def machine(top: Path, name: str, files: dict[str, str], env: dict[str, str]) -> Machine:
    root = top / name
    write_catalog(root / "catalog", files)
    (root / "home").mkdir()
    (root / "tmp").mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", root / "home" / "dagster.yaml")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ASSETPIPE_", "DAGSTER_"))}
    path = os.pathsep.join([str(ASSETPIPE.parent), clean.get("PATH", "")])  # dagster-celery execs `celery`
    return Machine(name, root, {**clean, **env, "DAGSTER_HOME": str(root / "home"), "TMPDIR": str(root / "tmp"),
                                "ASSETPIPE_CATALOG": str(root / "catalog"), "PATH": path})


def wait_ready(machines: list[Machine], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for m in machines:
        while "ready." not in m.log("worker").read_text(errors="replace"):
            worker = m.procs[-1]
            assert worker.poll() is None, m.log("worker").read_text()[-3000:]
            assert time.monotonic() < deadline, f"{m.name}'s worker not ready after {timeout} s"
            time.sleep(0.2)


def finish(proc: subprocess.Popen, m: Machine, what: str, timeout: float = 300) -> str:
    proc.wait(timeout)
    text = m.log(what).read_text(errors="replace")
    assert proc.returncode == 0, f"{m.name} {what} exited {proc.returncode}:\n{text[-5000:]}"
    return text
