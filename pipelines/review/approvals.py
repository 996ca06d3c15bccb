"""approvals.yaml at the catalog root: who approved or rejected which take of each variant.

Written by `assetpipe approve` / `reject` and the review page, meant to be committed and read in
pull requests: one line per reviewed variant, sorted by key.

    brewlab_launch/launch_poster/de/1024x1536: {status: approved, sha256: 3f2a…, by: ana, at: 2026-12-01T10:00:00Z, note: "ok"}

An entry pins the *bytes* (sha256), not the cache key or the vendor: moving the cache, swapping
the vendor or rebuilding elsewhere (same key, same bytes) keeps it valid. Optional fields:
`note`; `take`, where the variant's takes start (set past the rejected take when one is rejected,
kept afterwards; text retakes count on from it);
`approved: {sha256, by, at, note}` on a rejected entry, the last approved take (still published).

Writes take a lock (`.assetpipe/locks/approvals.lock`), re-read the file, apply the change and
replace the file atomically: a CLI and the review page approving at once lose no entry. A file
that does not parse (a hand edit, merge conflict markers) is a `path:line` CatalogError, and
nothing is written over it.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.cache.files import atomic_write
from pipelines.catalog.yamlpos import Lines, YamlLoadError, parse_yaml
from pipelines.errors import CatalogError, CatalogIssue

HEADER = ("# Review decisions, written by `assetpipe approve`, `assetpipe reject` and `assetpipe review`.\n"
          "# One line per variant: the sha256 of the approved (or rejected) image. Commit this file.\n")
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z][A-Za-z0-9_]*/\S+$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
CONFLICT_RE = re.compile(r"^(<{7}|={7}|>{7}|\|{7})(\s|$)")


def _at(v: Any) -> str:
    """YAML reads an unquoted `2026-12-01T10:00:00Z` as a datetime: keep it as that text."""
    if isinstance(v, datetime):
        v = v if v.tzinfo else v.replace(tzinfo=timezone.utc)
        return v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, str):
        try:
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"must be a time like 2026-12-01T10:00:00Z (got {v!r})") from None
    return v


def _sha(v: Any) -> Any:
    if isinstance(v, str) and not SHA_RE.match(v):
        raise ValueError(f"must be the 64 lowercase hex digits of a sha256 (got {v!r})")
    return v


class Review(BaseModel):
    """One decision: which bytes, who, when, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sha256: str
    by: str = Field(min_length=1)
    at: str
    note: str | None = None

    _check_sha = field_validator("sha256")(classmethod(lambda cls, v: _sha(v)))
    _check_at = field_validator("at", mode="before")(classmethod(lambda cls, v: _at(v)))


class Entry(Review):
    status: Literal["approved", "rejected"]
    take: int = Field(default=0, ge=0)
    approved: Review | None = None  # on a rejected entry: the last approved take, still published

    @field_validator("approved")
    @classmethod
    def _only_when_rejected(cls, v: Review | None, info) -> Review | None:
        if v is not None and info.data.get("status") == "approved":
            raise ValueError("only a rejected entry keeps an earlier approved take")
        return v

    @property
    def approved_take(self) -> Review | None:
        """The take that is approved for this variant (and published), if any."""
        return self if self.status == "approved" else self.approved


FIELDS = ("status", "sha256", "by", "at", "note", "take", "approved")


def path_of(catalog) -> Path:
    return catalog.approvals_path


# -- reading -------------------------------------------------------------------------------------

def read(path: Path, display: str | None = None) -> dict[str, Entry]:
    """Every entry of the file (none when it does not exist); a broken file is a CatalogError."""
    display = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise CatalogError([CatalogIssue(display, 1, f"not UTF-8 text: {exc}")]) from None
    return parse(text, display)


def parse(text: str, display: str) -> dict[str, Entry]:
    conflicts = [CatalogIssue(display, n, "an unresolved merge conflict marker: keep one line per variant "
                              "(usually the newer decision), delete the markers, then run the command again")
                 for n, line in enumerate(text.splitlines(), 1) if CONFLICT_RE.match(line)]
    if conflicts:
        raise CatalogError(conflicts)
    try:
        data, lines = parse_yaml(text, display)
    except YamlLoadError as exc:
        raise CatalogError([exc.issue]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError([lines.issue((), "approvals.yaml must map variant keys to {status: ..., sha256: ...}")])
    out: dict[str, Entry] = {}
    issues: list[CatalogIssue] = []
    for key, value in data.items():
        if not isinstance(key, str) or not KEY_RE.match(key):
            issues.append(lines.issue((key,), f"{key!r} is not a variant key (campaign/asset/variant)"))
            continue
        if not isinstance(value, dict):
            issues.append(lines.issue((key,), f"{key}: must be a mapping {{status: approved, sha256: ..., by: ..., at: ...}}"))
            continue
        try:
            out[key] = Entry.model_validate(value)
        except ValidationError as exc:
            issues.extend(_issues(exc, key, lines))
    if issues:
        raise CatalogError(issues)
    return out


def _issues(exc: ValidationError, key: str, lines: Lines) -> list[CatalogIssue]:
    out, meant = [], set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), FIELDS, n=1, cutoff=0.6)
            meant.update((*loc[:-1], c) for c in close)
            msg = f"unknown field {loc[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif err["type"] == "missing":
            msg = f"missing field {'.'.join(str(p) for p in loc)!r}"
        else:
            msg = ".".join(str(p) for p in loc) + ": " + \
                err["msg"].removeprefix("Value error, ").replace("Input should be ", "must be ")
        out.append((loc, err["type"], lines.issue((key, *loc), f"{key}: {msg}")))
    # a misspelt field is one mistake: "unknown 'statuss' (did you mean 'status'?)", not also "missing 'status'"
    return [issue for loc, kind, issue in out if not (kind == "missing" and loc in meant)]


def key_lines(path: Path, display: str) -> dict[str, int]:
    """The line of each entry, for warnings about a file that parses (see pipelines.review.checks)."""
    try:
        data, lines = parse_yaml(path.read_text(encoding="utf-8"), display)
    except (OSError, UnicodeDecodeError, YamlLoadError):
        return {}
    return {k: lines.line((k,)) for k in data if isinstance(k, str)} if isinstance(data, dict) else {}


# -- writing -------------------------------------------------------------------------------------

def dumps(entries: dict[str, Entry]) -> str:
    rows = [f"{_scalar(key)}: {_flow(entry)}" for key, entry in sorted(entries.items())]
    return HEADER + "".join(row + "\n" for row in rows)


def _flow(m: Review) -> str:
    items = []
    for name in FIELDS:
        value = getattr(m, name, None)
        if value is None or (name == "take" and value == 0):
            continue
        items.append(f"{name}: {_flow(value) if isinstance(value, Review) else _scalar(value, name)}")
    return "{" + ", ".join(items) + "}"


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}
_NON_PRINTABLE = re.compile("[\u0085\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _scalar(value: Any, name: str = "") -> str:
    """A value as YAML that reads back as exactly itself: plain when that is unambiguous,
    else a double-quoted (JSON) string, so a note never spans two lines."""
    if isinstance(value, int):
        return str(value)
    s = str(value)
    plain = (_PLAIN.match(s) and s.lower() not in _YAML_WORDS) or (SHA_RE.match(s) and not s.isdigit()) \
        or (name == "at" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s))
    if plain:
        return s
    quoted = json.dumps(s, ensure_ascii=False)
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


@contextlib.contextmanager
def locked(catalog) -> Iterator[None]:
    """Exclusive right to rewrite approvals.yaml, across processes and threads."""
    lock = catalog.state_dir / "locks" / "approvals.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def update(catalog, change: Callable[[dict[str, Entry]], Any]) -> dict[str, Entry]:
    """Re-read the file under the lock, let `change` edit the entries in place, write it back if
    anything changed. Returns the entries as written."""
    path = path_of(catalog)
    with locked(catalog):
        entries = read(path, catalog.rel(path))
        before = dict(entries)
        change(entries)
        if entries != before or not path.exists() and entries:
            atomic_write(path, dumps(entries).encode("utf-8"))
    return entries


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
