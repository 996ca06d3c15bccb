"""`publish: {dir: published}`: a mirror of output_dir that holds only approved bytes.

    published/<campaign>/<asset>/<variant>.<ext>   the approved take of each variant
    published/manifest.json                         what is published, who approved it, when

`sync` brings the directory in line with approvals.yaml; `approve`, `reject` and every build call
it. A variant whose new take is `changed` (or `rejected`) keeps its last approved bytes; a rejected
take that was published is withdrawn; a variant with no approved take has no file. Nothing else can
write here, so no build, schedule or UI run changes a published file without an approval.

It runs under the approvals lock and reads the file there, so two processes syncing at once cannot
publish an older reading over a newer one. A file that the manifest says holds the approved bytes
(same size) is not read again: a sync of 10,000 published variants stats them and copies nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.cache.files import atomic_write
from pipelines.errors import StoreError
from pipelines.plan.plan import Plan
from pipelines.plan.project import Project
from pipelines.review import approvals
from pipelines.review.checks import missing_take
from pipelines.review.states import review_infos

MANIFEST = "manifest.json"
EXT = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpg", b"RIFF": "webp"}


@dataclass
class PublishReport:
    dir: Path
    published: int = 0
    copied: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def sync(project: Project, plan: Plan | None = None) -> PublishReport | None:
    """Make publish.dir hold exactly the approved takes; None when the catalog does not publish."""
    root = project.catalog.publish_dir
    if root is None:
        return None
    plan = plan or project.plan()
    with approvals.locked(project.catalog):
        entries = approvals.read(project.catalog.approvals_path, project.catalog.rel(project.catalog.approvals_path))
        return _sync(project, plan, entries, root)


def _sync(project: Project, plan: Plan, entries, root: Path) -> PublishReport:
    report = PublishReport(root)
    before = {e["key"]: e for e in _read_manifest(root).get("variants", [])}
    infos = review_infos(plan, entries)
    rows: list[dict[str, Any]] = []
    for p in plan.items:
        info = infos[p.key]
        take = info.approved
        if take is None:
            continue
        row = _place(project, root, p.variant, take.sha256, before.get(p.key), report)
        if row is None:
            continue
        row["review"] = {"state": info.state, "by": take.by, "at": take.at, "note": take.note}
        rows.append(row)
    keep = {r["path"] for r in rows}
    for old in before.values():
        if old.get("path") and old["path"] not in keep:
            _withdraw(root, old["path"], old.get("sha256"), report)
    report.published = len(rows)
    doc = {"version": 1, "variants": rows, "problems": report.problems}
    data = json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"
    target = root / MANIFEST
    if not (target.exists() and target.read_bytes() == data):
        atomic_write(target, data)
    return report


def _place(project: Project, root: Path, v, sha: str, before: dict | None, report: PublishReport) -> dict | None:
    row = {"key": v.key, "campaign": v.campaign, "asset": v.asset, "variant": v.vid, "vars": v.values}
    if before and before.get("sha256") == sha and _intact(root, before):
        return {**row, "path": before["path"], "sha256": sha, "bytes": before["bytes"], "format": before["format"]}
    try:
        ext = _ext(project.store.read_blob_head(sha, 12))  # the header only: no download of a remote blob
        rel = f"{v.campaign}/{v.asset}/{v.vid}.{ext}"
        if project.store.export_blob(sha, root / rel):
            report.copied.append(rel)
        size = (root / rel).stat().st_size
    except (StoreError, OSError) as exc:
        if before and before.get("sha256") == sha and _intact(root, before):
            return {**row, "path": before["path"], "sha256": sha, "bytes": before["bytes"], "format": before["format"]}
        report.problems.append(_problem(project, v.key, sha, exc))
        return None
    return {**row, "path": rel, "sha256": sha, "bytes": size, "format": {"jpg": "jpeg"}.get(ext, ext)}


def _problem(project: Project, key: str, sha: str, exc: Exception) -> str:
    """Why an approved take cannot be published, at its line of approvals.yaml."""
    path = project.catalog.approvals_path
    display = project.catalog.rel(path)
    where = f"{display}:{approvals.key_lines(path, display).get(key, 0)}"
    try:
        missing = not project.store.has_blob(sha)
    except StoreError:
        missing = False
    if missing:
        return f"{where}: {missing_take(key, sha, project.catalog.cache_url)}"
    return f"{where}: {key}: the approved take {sha[:12]} cannot be published: {exc}"


def _intact(root: Path, row: dict) -> bool:
    try:
        return (root / row["path"]).stat().st_size == row.get("bytes")
    except (OSError, KeyError, TypeError):
        return False


def _withdraw(root: Path, rel: str, sha: str | None, report: PublishReport) -> None:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        return  # a manifest that names a file outside publish.dir is not ours to act on
    try:
        path.unlink()
        report.withdrawn.append(rel)
    except FileNotFoundError:
        return
    parent = path.parent
    while parent != root.resolve() and parent.is_relative_to(root.resolve()):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
        parent = parent.parent


def _ext(head: bytes) -> str:
    for magic, ext in EXT.items():
        if head.startswith(magic) and (ext != "webp" or head[8:12] == b"WEBP"):
            return ext
    return "bin"


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        doc = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) and isinstance(doc.get("variants"), list) else {}
    except (OSError, ValueError):
        return {}
