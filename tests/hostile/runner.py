"""Run one hostile catalog (tests/hostile/corpus.py) through the real `assetpipe` and check every
expectation of issue #9.

Each case is materialized into a fresh sandbox; each command runs in a subprocess (its own session,
HOME and TMPDIR inside the sandbox, a clean environment) with a hard timeout and a hard RSS cap;
peak RSS is the max of /proc sampling and the child's rusage. After each command:

    exit code, no traceback, time and RSS limits, the `path:line` rows the case expects, wording,
    no canary (a token planted only outside the catalog) in stdout, stderr or any written file,
    no file outside the catalog opened (inotify on every planted outside directory; atime as a
    fallback where inotify is unavailable), nothing created, changed or removed outside the
    catalog, and the catalog's own source files unchanged.

`run_case(case, argv, workdir)` returns a CaseResult whose `.failures` lists `kind(detail)` strings.

    python -m tests.hostile.runner [--only ID ...]      the whole corpus, one line per case
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import re
import resource
import secrets
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.corpus import (
    BUILD_TIME_LIMIT_S,
    CANARY,
    CANARY_FILE,
    CASES,
    CATALOG_NAME,
    OUTSIDE,
    SANDBOX,
    Case,
    Directory,
    Fifo,
    Png,
    Repeat,
    Symlink,
    expected_rows,
    png_bytes,
)

PROBLEM_RE = re.compile(r"^(.+?):(\d+): (.*)$")
HARD_TIMEOUT_S = 15.0  # a command still running then is killed and reported as a hang
HARD_RSS_MB = 1200  # a command above this is killed (protects the machine; the limit checked is the case's)
AS_LIMIT = 6 << 30  # address-space backstop in case sampling misses a sudden allocation
FSIZE_LIMIT = 2 << 30
SCAN_BYTES = 32 << 20  # how much of each written file is searched for the canary


def default_argv() -> list[str]:
    """The console script of the interpreter running the tests (the worktree's venv)."""
    script = Path(sys.executable).with_name("assetpipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli.main"]


# -- the sandbox -------------------------------------------------------------------------------------

@dataclass
class Sandbox:
    root: Path
    catalog: Path
    canary: str
    leak_markers: list[str]

    def tokens(self, text: str) -> str:
        return (text.replace(OUTSIDE, str(self.root / "outside")).replace(SANDBOX, str(self.root))
                .replace(CANARY, self.canary))


def materialize(case: Case, root: Path) -> Sandbox:
    root.mkdir(parents=True)
    box = Sandbox(root, root / CATALOG_NAME, "CANARY-" + secrets.token_hex(8), [])
    box.leak_markers.append(box.canary)
    for d in ("home", "tmp", CATALOG_NAME):
        (root / d).mkdir()
    _write(box, root / CANARY_FILE, f"{box.canary}\n")
    for rel, value in case.outside.items():
        _write(box, root / rel, value)
    for rel, value in case.files.items():
        if value is not None:
            _write(box, box.catalog / rel, value)
    return box


def _write(box: Sandbox, path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, str):
        path.write_text(box.tokens(value), encoding="utf-8")
    elif isinstance(value, bytes):
        path.write_bytes(value)
    elif isinstance(value, Png):
        path.write_bytes(png_bytes(value.width, value.height))
    elif isinstance(value, Repeat):
        unit = box.tokens(value.unit)
        with path.open("w", encoding="utf-8") as f:
            f.write(box.tokens(value.head))
            per = max(1, (1 << 20) // max(1, len(unit)))
            for start in range(0, value.count, per):
                f.write(unit * min(per, value.count - start))
            f.write(box.tokens(value.tail))
    elif isinstance(value, Symlink):
        _symlink(box, path, box.tokens(value.target))
    elif isinstance(value, Directory):
        path.mkdir()
    elif isinstance(value, Fifo):
        os.mkfifo(path)
    else:
        raise TypeError(f"unknown file kind {value!r}")


def _symlink(box: Sandbox, path: Path, target: str) -> None:
    os.symlink(target, path)
    absolute = Path(target) if os.path.isabs(target) else path.parent / target
    if not Path(os.path.realpath(absolute)).is_relative_to(box.root.resolve()) and absolute.is_file() \
            and not absolute.is_char_device() and os.access(absolute, os.R_OK):
        first = absolute.read_bytes()[:200].decode("utf-8", "replace").splitlines()
        if first and len(first[0]) >= 8:  # a system file's first line must never be shown
            box.leak_markers.append(first[0])


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry under root (not following symlinks; `skip` excluded): kind, size, mtime, digest."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skip is not None and d == skip.parent:
            dirnames[:] = [n for n in dirnames if d / n != skip]
        for name in dirnames + filenames:
            p = d / name
            if skip is not None and p == skip:
                continue
            st = p.lstat()
            digest = ""
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with p.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                digest = h.hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.readlink(p)
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out


def outside_dirs(box: Sandbox) -> list[Path]:
    """The directories beside the catalog that hold planted files (not HOME and TMPDIR)."""
    return [p for p in box.root.iterdir() if p.is_dir() and not p.is_symlink()
            and p.name not in ("home", "tmp", CATALOG_NAME)]


# -- detecting reads outside the catalog ------------------------------------------------------------

class ReadWatch:
    """Which files (or directories) under `dirs` were opened or read while armed: inotify
    IN_OPEN|IN_ACCESS on every directory, so any open is seen whatever path led to it (a symlink
    inside the catalog included) and whatever the mount's atime policy. Where inotify is not
    available, the atime of every planted file is armed instead (needs a relatime mount)."""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, root: Path, dirs: list[Path]):
        self.root, self.fd, self.wd = root, -1, {}
        self._atimes: dict[Path, int] = {}
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC) if hasattr(libc, "inotify_init1") else -1
        if fd < 0:
            self._arm_atimes(dirs)
            return
        self.fd = fd
        every = [Path(p) for d in dirs for p, _, _ in os.walk(d)]  # listed before watching: walking opens them
        for d in every:
            wd = libc.inotify_add_watch(fd, os.fsencode(d), self.IN_ACCESS | self.IN_OPEN)
            if wd >= 0:
                self.wd[wd] = d

    def _arm_atimes(self, dirs: list[Path]) -> None:
        for d in dirs:
            for p in d.rglob("*"):
                if p.is_file() and not p.is_symlink():
                    st = p.stat()
                    os.utime(p, ns=(st.st_mtime_ns - 3_600 * 10**9, st.st_mtime_ns))
                    self._atimes[p] = p.stat().st_atime_ns

    def read(self) -> list[str]:
        """The entries opened since arming (relative to the sandbox), then disarm."""
        if self.fd < 0:
            return sorted(str(p.relative_to(self.root)) for p, t in self._atimes.items()
                          if p.exists() and p.stat().st_atime_ns != t)
        seen: set[str] = set()
        try:
            while True:
                try:
                    buf = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    break
                i = 0
                while i < len(buf):
                    wd, _mask, _cookie, n = struct.unpack_from("iIII", buf, i)
                    name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode(errors="replace")
                    path = self.wd.get(wd, self.root) / name
                    seen.add(str(path.relative_to(self.root)))
                    i += 16 + n
        finally:
            os.close(self.fd)
            self.fd = -2  # disarmed: nothing more is recorded
        return sorted(seen)


# -- running one command -----------------------------------------------------------------------------

@dataclass
class Run:
    command: list[str]
    exit: int | None
    seconds: float
    peak_rss_mb: float
    killed: str | None  # "timeout" | "rss" | None
    stdout: str
    stderr: str
    failures: list[str] = field(default_factory=list)

    @property
    def args(self) -> list[str]:
        """The subcommand and its options (what the case asked for)."""
        return self.command[self.command.index("--catalog") + 2:]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _tree_rss_kb(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(x.split()[1]) for x in f if x.startswith("VmRSS:")), 0)
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total


def run_command(argv: list[str], box: Sandbox, args: tuple[str, ...], io_dir: Path, *,
                hard_timeout: float = HARD_TIMEOUT_S, hard_rss_mb: int = HARD_RSS_MB) -> Run:
    cmd = [*argv, "--catalog", CATALOG_NAME, *args]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(box.root / "home"), "TMPDIR": str(box.root / "tmp"),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    out_path, err_path = io_dir / "stdout", io_dir / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=box.root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, preexec_fn=_limits)
        peak_kb, killed, status, usage = 0, None, 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_kb = max(peak_kb, _tree_rss_kb(proc.pid))
            if killed is None and peak_kb > hard_rss_mb * 1024:
                killed = "rss"
            elif killed is None and time.monotonic() - t0 > hard_timeout:
                killed = "timeout"
            if killed:
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.01)
        seconds = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    try:  # children of the command left behind (a daemon, a dagster process ...)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    peak_kb = max(peak_kb, usage.ru_maxrss if usage else 0)

    def read(p: Path) -> str:
        return p.read_bytes()[:1 << 20].decode("utf-8", "replace")

    return Run(cmd, proc.returncode, round(seconds, 2), round(peak_kb / 1024, 1), killed,
               read(out_path), read(err_path))


# -- checking ------------------------------------------------------------------------------------------

def problem_rows(run: Run, box: Sandbox) -> list[tuple[str, int, str]]:
    """(catalog-relative path, line, message) of every `path:line: message` row of stderr."""
    rows = []
    for line in run.stderr.splitlines():
        m = PROBLEM_RE.match(line)
        if not m:
            continue
        full = os.path.normpath(os.path.join(box.root, _unescape(m.group(1))))
        rows.append((os.path.relpath(full, box.catalog), int(m.group(2)), m.group(3)))
    return rows


def _unescape(path: str) -> str:
    """A path shown with its invisible characters escaped (\\u202e) names the file that has them."""
    if not re.search(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})", path):
        return path
    return re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})", lambda m: chr(int(m.group(1)[1:], 16)), path)


def _time_limit(case: Case, args) -> float:
    return max(case.time_limit_s, BUILD_TIME_LIMIT_S) if list(args) == ["build"] else case.time_limit_s


def check(case: Case, run: Run, box: Sandbox, *, before_out: dict, before_cat: dict, opened: list[str]) -> list[str]:
    """The failed expectations of one command run, each as `kind(detail)`."""
    f: list[str] = []
    text = run.stdout + "\n" + run.stderr
    allowed = case.exit_code if isinstance(case.exit_code, tuple) else (case.exit_code,)
    if run.killed == "timeout":
        f.append(f"hang(killed at {run.seconds:.0f}s)")
    elif run.killed == "rss":
        f.append(f"memory(killed at {run.peak_rss_mb:.0f} MB)")
    elif run.exit is not None and run.exit < 0:
        f.append(f"crash({signal.Signals(-run.exit).name})")
    elif run.exit not in allowed:
        f.append(f"exit({run.exit}, want {'/'.join(map(str, allowed))})")
    if "Traceback (most recent call last)" in text:
        f.append("traceback")
    if not run.killed and run.seconds > _time_limit(case, run.args):
        f.append(f"slow({run.seconds:.1f}s)")
    if not run.killed and run.peak_rss_mb > case.rss_limit_mb:
        f.append(f"rss({run.peak_rss_mb:.0f} MB)")
    if run.exit is not None and run.exit > 0 and not run.killed and (case.at or 1 in allowed):
        f.extend(_location_failures(case, run, box))
    lower = text.lower()
    f.extend(f"no-message({m!r})" for m in case.messages if m.lower() not in lower)
    f.extend(f"says({m!r})" for m in case.forbid if m in text)
    for needle, n in case.at_most:
        count = sum(needle in line for line in text.splitlines())
        if count > n:
            f.append(f"repeated({needle.strip()!r} on {count} lines, max {n})")
    if opened:
        f.append(f"read-outside({', '.join(opened[:3])})")
    f.extend(_containment_failures(run, box, before_out, before_cat))
    return f


def _location_failures(case: Case, run: Run, box: Sandbox) -> list[str]:
    rows = problem_rows(run, box)
    inside = [r for r in rows if not r[0].startswith("..")]
    if not inside:
        return ["no-path:line" if not rows else f"path-outside-catalog({rows[0][0]})"]
    f = []
    for at in case.at:
        want = expected_rows(case, at)
        if any(r[0] == rel and (lines is None or r[1] in lines) for r in inside for rel, lines in want):
            continue
        wanted = " or ".join(rel + (":" + "/".join(map(str, sorted(lines))) if lines else "") for rel, lines in want)
        same_file = [r for r in inside if any(r[0] == rel for rel, _ in want)]
        got = same_file[0] if same_file else inside[0]
        f.append(f"{'wrong-line' if same_file else 'wrong-file'}({got[0]}:{got[1]}, want {wanted})")
    return f


def _containment_failures(run: Run, box: Sandbox, before_out: dict, before_cat: dict) -> list[str]:
    f = []
    if any(m in run.stdout + run.stderr for m in box.leak_markers):
        f.append("leak(outside content in " + ("stdout" if any(m in run.stdout for m in box.leak_markers) else "stderr") + ")")
    after_out = snapshot(box.root, skip=box.catalog)
    changed = sorted(k for k in set(before_out) | set(after_out) if before_out.get(k) != after_out.get(k))
    if changed:
        f.append(f"wrote-outside({', '.join(changed[:3])})")
    after_cat = snapshot(box.catalog)
    sources = [k for k, v in before_cat.items() if after_cat.get(k) != v and not k.startswith((".assetpipe", "out"))]
    if sources:
        f.append(f"changed-source({', '.join(sources[:3])})")
    written = [k for k, v in after_cat.items() if before_cat.get(k) != v and v[0] == stat.S_IFREG]
    for k in written:
        with (box.catalog / k).open("rb") as fh:
            data = fh.read(SCAN_BYTES).decode("utf-8", "replace")
        if any(m in data for m in box.leak_markers):
            f.append(f"leak(outside content in {k})")
            break
    return f


@dataclass
class CaseResult:
    id: str
    runs: list[Run]

    @property
    def failures(self) -> list[str]:
        return [f"{' '.join(r.args)}: {x}" for r in self.runs for x in r.failures]


def run_case(case: Case, argv: list[str], workdir: Path, *, commands=None, hard_timeout: float = HARD_TIMEOUT_S,
             hard_rss_mb: int = HARD_RSS_MB) -> CaseResult:
    """Materialize `case` under `workdir` (which must not exist), run its commands (or `commands`),
    check them."""
    box = materialize(case, workdir / "box")
    io_dir = workdir / "io"
    io_dir.mkdir()
    runs = []
    for args in commands or case.commands:
        before_out, before_cat = snapshot(box.root, skip=box.catalog), snapshot(box.catalog)
        watch = ReadWatch(box.root, outside_dirs(box))  # after the snapshot: hashing a file reads it
        limit = _time_limit(case, args)
        run = run_command(argv, box, args, io_dir, hard_timeout=max(hard_timeout, limit * 1.5),
                          hard_rss_mb=hard_rss_mb)
        opened = watch.read()
        run.failures = check(case, run, box, before_out=before_out, before_cat=before_cat, opened=opened)
        runs.append(run)
    if case.same_exit and len({r.exit for r in runs}) > 1:
        runs[-1].failures.append("disagree(" + ", ".join(f"{r.args[0]} exit {r.exit}" for r in runs) + ")")
    return CaseResult(case.id, runs)


def describe(result: CaseResult) -> str:
    """A failure report for an assertion message: each command's failures and its output."""
    out = []
    for r in result.runs:
        if r.failures:
            out.append(f"$ assetpipe --catalog cat {' '.join(r.args)}  -> exit {r.exit}, {r.seconds:.1f} s, "
                       f"{r.peak_rss_mb:.0f} MB: {'; '.join(r.failures)}")
            out.extend("  | " + line for line in (r.stderr or r.stdout).splitlines()[:8])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="case ids (prefixes) to run")
    ap.add_argument("--timeout", type=float, default=HARD_TIMEOUT_S, help="kill a command after this many seconds")
    ap.add_argument("--no-build", action="store_true", help="skip the real builds")
    ap.add_argument("--validate-only", action="store_true", help="run only `validate` for every case")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.only or any(c.id.startswith(o) for o in args.only)]
    base = Path(tempfile.mkdtemp(prefix="hostile-"))
    bad = 0
    try:
        for i, case in enumerate(cases, 1):
            commands = [("validate",)] if args.validate_only else \
                [c for c in case.commands if not (args.no_build and c == ("build",))]
            res = run_case(case, default_argv(), base / case.id, commands=commands, hard_timeout=args.timeout)
            bad += bool(res.failures)
            summary = "; ".join(res.failures) or "ok"
            timing = " ".join(f"{r.seconds:.1f}s/{r.peak_rss_mb:.0f}MB" for r in res.runs)
            print(f"[{i}/{len(cases)}] {case.id}: {summary[:400]}  ({timing})", flush=True)
            shutil.rmtree(base / case.id, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{len(cases) - bad} of {len(cases)} cases pass")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
