"""`assetpipe explain`: what differs between a variant's current recipe and the take that is built
(and the approved take, when that is another one), in the words of the catalog.

A recipe is a cache key document (pipelines.plan.keys): the built take's is in its head, an
approved take's in the store note written when it was reviewed. Each difference is named by what it
is: a word diff of the prompt, each parameter, each input (the upstream variant or the ref file,
old -> new digest), model, revision, take; plus the rejection and the approval state.
"""

from __future__ import annotations

import difflib
from typing import Any

from pipelines.plan.plan import Plan, Planned
from pipelines.plan.project import Project
from pipelines.review.actions import take_doc
from pipelines.review.approvals import Entry
from pipelines.review.checks import entry_problems
from pipelines.review.states import info_of

CONTEXT = 4  # words kept either side of a change in a long prompt


def explain(project: Project, plan: Plan, entries: dict[str, Entry], keys: list[str]) -> list[dict[str, Any]]:
    chosen = set(keys)
    problems: dict[str, list[str]] = {}
    for issue in entry_problems(project, plan, {k: e for k, e in entries.items() if k in chosen}):
        problems.setdefault(issue.message.split(":", 1)[0], []).append(str(issue))
    items = [explain_one(project, plan, plan.by_key[k], entries.get(k)) for k in keys]
    for item in items:
        item["problems"] = problems.get(item["key"], [])
    return items


def explain_one(project: Project, plan: Plan, p: Planned, entry: Entry | None) -> dict[str, Any]:
    info = info_of(p, entry)
    head = p.head or {}
    item: dict[str, Any] = {"key": p.key, "review": info.to_json(),
                            "plan": {"status": p.status, "reasons": p.reasons}, "takes": []}
    if info.built:
        item["takes"].append(_against("built", info.built, head.get("doc"), p, plan))
    approved = info.approved
    if approved is not None and approved.sha256 != info.built:
        item["takes"].append(_against("approved", approved.sha256, take_doc(project, approved.sha256), p, plan))
    if entry is not None and entry.status == "rejected":
        built_take = int((head.get("doc") or {}).get("take", 0))
        item["rejection"] = {"sha256": entry.sha256, "by": entry.by, "at": entry.at, "note": entry.note,
                             "next_take": entry.take if entry.take > built_take else None}
    return item


def _against(label: str, sha: str, old: dict | None, p: Planned, plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {"take": label, "sha256": sha}
    if old is None:
        out["changes"] = None
        out["unknown"] = "the recipe of this take is not in this cache"
    else:
        out["changes"] = doc_changes(old, p.doc, p, plan)
    return out


def doc_changes(old: dict[str, Any], new: dict[str, Any], p: Planned, plan: Plan) -> list[dict[str, Any]]:
    if old.get("v") != new.get("v"):
        return [{"what": "key format", "old": old.get("v"), "new": new.get("v")}]
    out: list[dict[str, Any]] = []
    for what in ("operation", "model"):
        if old.get(what) != new.get(what):
            out.append({"what": what, "old": old.get(what), "new": new.get(what)})
    if old.get("prompt") != new.get("prompt"):
        out.append({"what": "prompt", "old": old.get("prompt"), "new": new.get("prompt"),
                    "diff": word_diff(old.get("prompt") or "", new.get("prompt") or "")})
    op, np_ = old.get("params") or {}, new.get("params") or {}
    for k in sorted(set(op) | set(np_)):
        if op.get(k) != np_.get(k):
            out.append({"what": "param", "name": k, "old": op.get(k), "new": np_.get(k)})
    out += _input_changes(old.get("inputs") or [], new.get("inputs") or [], p, plan)
    for what, default in (("revision", 0), ("take", 0), ("text", None)):
        if old.get(what, default) != new.get(what, default):
            out.append({"what": what, "old": old.get(what, default), "new": new.get(what, default)})
    return out


def _input_changes(old: list, new: list, p: Planned, plan: Plan) -> list[dict[str, Any]]:
    out = []
    for idx in range(max(len(old), len(new))):
        before = old[idx]["digest"] if idx < len(old) else None
        after = new[idx]["digest"] if idx < len(new) else None
        if before == after:
            continue
        inp = p.variant.inputs[idx] if idx < len(p.variant.inputs) else None
        row = {"what": "input", "role": (new[idx] if idx < len(new) else old[idx])["role"],
               "kind": inp.kind if inp else "removed", "ref": inp.ref if inp else None, "old": before, "new": after}
        if inp is not None and inp.kind == "upstream" and inp.ref in plan.by_key:
            row["upstream_status"] = plan.by_key[inp.ref].status
        out.append(row)
    return out


def word_diff(old: str, new: str) -> str:
    """`[-removed-]{+added+}` between the words that stay, long unchanged runs shortened to …"""
    a, b = old.split(), new.split()
    parts: list[str] = []
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            words = a[i1:i2]
            first, last = n == 0, n == len(ops) - 1
            if first and last:
                parts += words
            elif first:
                parts += (["…"] if len(words) > CONTEXT else []) + words[-CONTEXT:]
            elif last:
                parts += words[:CONTEXT] + (["…"] if len(words) > CONTEXT else [])
            elif len(words) > 2 * CONTEXT + 1:
                parts += [*words[:CONTEXT], "…", *words[-CONTEXT:]]
            else:
                parts += words
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(b[j1:j2]) + "+}")
    return " ".join(parts)


# -- as text -------------------------------------------------------------------------------------

def render_text(item: dict[str, Any]) -> list[str]:
    r = item["review"]
    who = f" (by {r['by']} at {r['at']}{': ' + repr(r['note']) if r.get('note') else ''})" if r.get("by") else ""
    plan = item["plan"]
    lines = [f"{item['key']}: review {r['state']}{who}; plan {plan['status']}"
             + (f" ({'; '.join(plan['reasons'])})" if plan["reasons"] else "")]
    if not item["takes"]:
        lines.append("  never built: no take to compare")
    for t in item["takes"]:
        name = f"the {t['take']} take {t['sha256'][:12]}"
        if t["changes"] is None:
            lines.append(f"  {name}: {t['unknown']}")
        elif not t["changes"]:
            lines.append(f"  {name} is what the catalog asks for now")
        else:
            lines.append(f"  {name} differs from the current recipe:")
            lines += [f"    {change_text(c)}" for c in t["changes"]]
    rej = item.get("rejection")
    if rej:
        then = (f"the next build makes take {rej['next_take']}" if rej["next_take"] is not None
                else "a new take comes when its recipe or its upstream changes")
        lines.append(f"  rejected {rej['sha256'][:12]} by {rej['by']} at {rej['at']}: {rej['note'] or '(no note)'}; {then}")
    lines += [f"  warning: {problem}" for problem in item.get("problems", [])]
    return lines


def change_text(c: dict[str, Any]) -> str:
    what = c["what"]
    if what == "prompt":
        return f"prompt: {c['diff']}"
    if what == "param":
        return f"{c['name']}: {_v(c['old'])} -> {_v(c['new'])}"
    if what == "input":
        label = f"upstream {c['ref']}" if c["kind"] == "upstream" else f"input file {c['ref']}" if c["ref"] else "input"
        return f"{label} ({c['role']}): {_digest(c['old'])} -> {_digest(c['new'])}"
    if what == "take":
        return f"take: {_v(c['old'])} -> {_v(c['new'])} (a new take of the same request)"
    return f"{what}: {_v(c['old'])} -> {_v(c['new'])}"


def _v(x: Any) -> str:
    return "-" if x is None else str(x)


def _digest(d: str | None) -> str:
    if d is None:
        return "-"
    kind, _, value = d.partition(":")
    return f"not built yet (key {value[:12]})" if kind == "key" else f"{kind}:{value[:12]}"
