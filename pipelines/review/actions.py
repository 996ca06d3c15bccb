"""Approve and reject: one decision per selected variant, written to approvals.yaml under its lock.

`approve` pins each variant's built take (the sha256 of the bytes in output_dir). Only a take that
is what the catalog asks for today can be approved: a variant that was never built, whose last
build failed or whose recipe changed since is refused by name, and nothing is written.

`reject` marks the built take rejected and moves the variant's first take past it (the take number
is in the cache key; text retakes count on from there): the next build pays for a new take of
exactly those variants (plan: `changed`, `rejected: <note>`). A rendition is drawn locally from
its upstream, so a new take of it would be the same bytes: it stays `rejected` until its upstream
or its render settings change. A rejected take that was approved is withdrawn from publishing; an
earlier approved take stays published (`approved:` on the entry).

Approving a rejected take after all (a mis-click, a change of mind) is allowed while its recipe is
otherwise what the catalog asks for: the entry's first take goes back to the built one, so the plan
is fresh again and nothing is paid.

A caller that showed the reviewer a take (the review page) passes `seen` (key -> the sha256 it
showed): a decision is refused by name when the built take is no longer that one, so a build that
lands between looking and clicking is never approved unseen.

Both note each reviewed take's recipe in the store (notes/take/<sha256>), so `explain` can show
what an approved take was made from long after the catalog moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.catalog.select import select
from pipelines.errors import ReviewError
from pipelines.plan.keys import take_of, with_take
from pipelines.plan.plan import Plan, Planned
from pipelines.plan.project import Project
from pipelines.review import approvals
from pipelines.review.approvals import Entry, Review

Action = Literal["approve", "reject"]
TAKE_NOTE = "take"


@dataclass(frozen=True)
class Decision:
    key: str
    action: Action
    entry: Entry  # as written (or as it already was)
    previous: Entry | None
    changed: bool  # False: the file already said so


def approve(project: Project, selection, *, reviewer: str, note: str | None = None,
            plan: Plan | None = None, seen: dict[str, str] | None = None) -> list[Decision]:
    note = (note or "").strip() or None  # a blank note is no note
    plan = plan or project.plan()
    chosen = _chosen(project, plan, selection)
    entries = approvals.read(project.catalog.approvals_path, project.catalog.rel(project.catalog.approvals_path))
    problems = [f"  {p.key}: {why}" for p in chosen if (why := _cannot_approve(p, entries.get(p.key), seen))]
    if problems:
        raise ReviewError(f"cannot approve {len(problems)} of the {len(chosen)} selected variant(s); nothing "
                          "was approved:\n" + "\n".join(problems))
    for p in chosen:
        _note_take(project, p.head["blob"], p.key, p.head.get("cache_key"), p.head.get("doc"))  # fresh: head = plan
    at = approvals.now()

    def decide(p: Planned, old: Entry | None) -> Entry:
        why = _cannot_approve(p, old, seen)  # again, under the lock: the file may have changed meanwhile
        if why:
            raise ReviewError(f"cannot approve {p.key}: {why}; nothing was approved")
        sha = p.head["blob"]
        if old is not None and old.status == "approved" and old.sha256 == sha and note in (None, old.note):
            return old
        take = old.take if old else 0
        if _unrejecting(p, old):
            take = take_of(p.head["doc"])  # takes start at the built one again: it is current
        return Entry(status="approved", sha256=sha, by=reviewer, at=at, note=note, take=take)

    return _apply(project, chosen, "approve", decide)


def reject(project: Project, selection, *, reviewer: str, note: str, plan: Plan | None = None,
           seen: dict[str, str] | None = None) -> list[Decision]:
    note = (note or "").strip()
    if not note:
        raise ReviewError("a rejection needs a note: say what is wrong with the take (--note TEXT)")
    plan = plan or project.plan()
    chosen = _chosen(project, plan, selection)
    problems = [f"  {p.key}: {why}" for p in chosen
               if (why := "never built: there is no take to reject" if not (p.head or {}).get("blob")
                   else _unseen(p, p.head["blob"], seen))]
    if problems:
        raise ReviewError(f"cannot reject {len(problems)} of the {len(chosen)} selected variant(s); nothing was "
                          "rejected:\n" + "\n".join(problems))
    for p in chosen:
        _note_take(project, p.head["blob"], p.key, p.head.get("cache_key"), p.head.get("doc"))
    at = approvals.now()

    def decide(p: Planned, old: Entry | None) -> Entry:
        sha = p.head["blob"]
        if old is not None and old.status == "rejected" and old.sha256 == sha:
            return old if note == old.note else old.model_copy(update={"note": note, "by": reviewer, "at": at})
        built_take = int((p.head.get("doc") or {}).get("take", 0))
        take = max(old.take if old else 0, built_take)
        if p.variant.operation != "render":  # a rendition is made locally: a new take of it is the same bytes
            take += 1
        kept = old.approved_take if old else None
        if kept is not None and kept.sha256 == sha:
            kept = None  # rejecting the approved take itself withdraws it
        keep = Review(sha256=kept.sha256, by=kept.by, at=kept.at, note=kept.note) if kept else None
        return Entry(status="rejected", sha256=sha, by=reviewer, at=at, note=note, take=take, approved=keep)

    return _apply(project, chosen, "reject", decide)


def _chosen(project: Project, plan: Plan, selection) -> list[Planned]:
    if not selection:
        raise ReviewError("name what to review: a campaign, an asset, a key glob or locale=de")
    return [plan.by_key[v.key] for v in select(project.variants, selection)]


def _cannot_approve(p: Planned, entry: Entry | None, seen: dict[str, str] | None) -> str | None:
    if p.status == "fresh" and p.record is not None:
        return _unseen(p, p.record["blob"], seen)
    if _unrejecting(p, entry):
        return _unseen(p, p.head["blob"], seen)
    if p.head is None:
        return "never built: build it, look at it, then approve it"
    return (f"the built image is not what the catalog asks for now ({p.status}: {p.reason}); its last build "
            "failed or it was edited since: build it, then approve")


def _unrejecting(p: Planned, entry: Entry | None) -> bool:
    """The built take is the rejected one, and only the rejection moved the recipe's take number."""
    head = p.head or {}
    return (entry is not None and entry.status == "rejected" and bool(head.get("blob")) and head["blob"] == entry.sha256
            and head.get("doc") is not None and with_take(head["doc"], 0) == with_take(p.doc, 0))


def _unseen(p: Planned, sha: str, seen: dict[str, str] | None) -> str | None:
    if seen is None or p.key not in seen or seen[p.key] == sha:
        return None
    return (f"the take you looked at ({str(seen[p.key])[:12]}) is no longer the built one ({sha[:12]}): "
            "a build replaced it; look at the new take, then decide")


def _apply(project: Project, chosen: list[Planned], action: Action, decide) -> list[Decision]:
    decisions: list[Decision] = []

    def change(entries: dict[str, Entry]) -> None:
        decisions.clear()  # the lock re-reads the file: decide from what it says now
        for p in chosen:
            old = entries.get(p.key)
            new = decide(p, old)
            entries[p.key] = new
            decisions.append(Decision(p.key, action, new, old, new != old))

    approvals.update(project.catalog, change)
    return decisions


def _note_take(project: Project, sha: str, key: str, cache_key: str | None, doc: dict | None) -> None:
    if doc is not None and project.store.get_note(TAKE_NOTE, sha) is None:
        project.store.put_note(TAKE_NOTE, sha, {"variant": key, "cache_key": cache_key, "doc": doc})


def take_doc(project: Project, sha: str) -> dict | None:
    """The recipe (cache key document) a reviewed take was made from, when the store knows it."""
    note = project.store.get_note(TAKE_NOTE, sha)
    return note.get("doc") if note else None
