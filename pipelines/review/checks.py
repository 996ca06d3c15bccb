"""What approvals.yaml says that this catalog and cache can no longer honour, as `path:line`
warnings (the file parses; these are not reasons to refuse a plan or a build):

- an entry whose key is no variant of the catalog (renamed or removed): it is kept, never dropped;
- an approved sha256 that is neither the built take nor an image in the cache (edited by hand, or
  the cache was cleared or moved): it cannot be published, and the variant stays `changed`.

Only entries whose approved take is not the built one are looked up in the store, so a catalog
whose approvals match its builds costs no store reads.
"""

from __future__ import annotations

from pipelines.errors import CatalogIssue, StoreError
from pipelines.plan.plan import Plan
from pipelines.plan.project import Project
from pipelines.review import approvals
from pipelines.review.approvals import Entry


def entry_problems(project: Project, plan: Plan, entries: dict[str, Entry]) -> list[CatalogIssue]:
    path = project.catalog.approvals_path
    display = project.catalog.rel(path)
    lines: dict[str, int] | None = None
    out: list[CatalogIssue] = []
    for key, e in sorted(entries.items()):
        p = plan.by_key.get(key)
        if p is None:
            why = (f"{key} is not a variant of this catalog (renamed or removed?): its entry is kept; "
                   "delete the line if the variant is gone")
        elif (a := e.approved_take) is not None and not _held(project, p, a.sha256):
            why = missing_take(key, a.sha256, project.catalog.cache_url)
        else:
            continue
        lines = lines if lines is not None else approvals.key_lines(path, display)
        out.append(CatalogIssue(display, lines.get(key, 0), why))
    return out


def missing_take(key: str, sha: str, cache: str) -> str:
    return (f"{key}: the approved sha256 {sha[:12]}… is no image in the cache ({cache}): edited by hand, or the "
            f"cache was cleared or moved; it cannot be published. Approve the built take again "
            f"(`assetpipe approve {key}`) or point cache: at the store that holds it")


def _held(project: Project, p, sha: str) -> bool:
    if sha in ((p.head or {}).get("blob"), p.record["blob"] if p.record else None):
        return True
    try:
        return project.store.has_blob(sha)
    except StoreError:
        return True  # an unreachable store is the build's error to report, not a verdict on this entry
