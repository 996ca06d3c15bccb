"""The plan: what is fresh, what is missing, what changed and why, and the cost.

Each variant's cache key (pipelines.plan.keys) is looked up in the store; its head (the last
build of that variant) says why it changed. `recipe` is the same hash with upstream inputs named by *their* recipe instead of their output.
It is the Dagster code_version: Dagster tracks upstream data versions itself, so the recipe is the
part of the key a definitions load can know before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

from pipelines.cache.hashing import FileHasher
from pipelines.cache.integrity import record_problem
from pipelines.cache.store import Store
from pipelines.catalog.loader import Catalog
from pipelines.catalog.variant import Variant
from pipelines.plan.keys import key_doc, key_hash, take_of, with_take
from pipelines.text.check import note_key
from pipelines.text.locales import language
from pipelines.text.ocr import missing_language

PlanStatus = Literal["fresh", "missing", "changed"]


@dataclass(frozen=True)
class FirstTake:
    """The take a variant's next build starts from (0, or past a rejected take; text retakes count
    on from it) and why it is not 0, e.g. "rejected: <note>". The plan layer only reads these;
    the review layer decides them (pipelines.review.project)."""

    number: int = 0
    why: str | None = None


NO_FIRST_TAKE = FirstTake()


@dataclass
class Planned:
    variant: Variant
    cache_key: str
    recipe: str
    doc: dict[str, Any]
    status: PlanStatus
    reasons: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None  # the action record when fresh
    est_cost: float = 0.0  # the worst case: every take it may pay for
    max_takes: int = 1  # 1 + retakes when a failed text check may pay for another take
    # open journal entries of this cache key (pipelines.plan.unsettled): calls an earlier build sent
    unsettled: list[Any] = field(default_factory=list)
    held: bool = False  # one of them may have been billed and cannot be picked up: not re-sent
    batch: dict[str, Any] | None = None  # the open batch this key is in (pipelines.plan.lanes)
    last: dict[str, Any] = field(default_factory=dict)  # the current take's checks and takes, from its last build
    first_take: int = 0  # where this recipe's takes start (a rejection moves it on)
    head: dict[str, Any] | None = None  # the variant's last build (its blob is the file in output_dir)

    @property
    def take(self) -> int:
        return take_of(self.doc)

    @property
    def key(self) -> str:
        return self.variant.key

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass
class Plan:
    items: list[Planned]
    # unsettled journal entries of keys no variant has now (its spec was edited since): they may
    # have been billed, and are never sent again (pipelines.plan.unsettled)
    elsewhere: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_key = {p.key: p for p in self.items}

    def totals(self, items: Iterable[Planned] | None = None) -> dict[str, Any]:
        items = list(self.items if items is None else items)
        todo = [p for p in items if p.status != "fresh"]
        paid = [p for p in todo if not p.held]  # a held variant is not sent by a plain build
        held = [p for p in todo if p.held]
        by_provider: dict[str, float] = {}
        for p in paid:
            name = p.variant.provider or "local"
            by_provider[name] = round(by_provider.get(name, 0.0) + p.est_cost, 4)
        return {
            "variants": len(items),
            "fresh": sum(p.status == "fresh" for p in items),
            "missing": sum(p.status == "missing" for p in items),
            "changed": sum(p.status == "changed" for p in items),
            "to_build": len(todo),
            "estimated_cost_usd": round(sum(p.est_cost for p in paid), 4),
            "estimated_cost_by_provider_usd": by_provider,
            # calls an earlier build sent: collected for free, or held as maybe billed; the held
            # ones may have cost this much already, and re-sending them (--retry-maybe-billed)
            # costs it again
            "resumed": sum(1 for p in todo if p.unsettled and not p.held),
            "maybe_billed": len(held),
            "maybe_billed_usd": round(sum(p.est_cost for p in held), 4),
        }

    def to_json(self, items: Iterable[Planned] | None = None) -> dict[str, Any]:
        items = list(self.items if items is None else items)
        out = {"variants": [_row(p) for p in items], "totals": self.totals(items)}
        if self.elsewhere:
            out["unsettled_elsewhere"] = [{"variant": e.variant, "cache_key": e.cache_key, "build": e.build,
                                           "vendor": e.vendor, "job_id": e.job_id, "sent_at": e.sent_at}
                                          for e in self.elsewhere]
        return out


def downstream_of(items: list[Planned], seeds: set[str]) -> set[str]:
    """`seeds` and every key of `items` downstream of one of them, through `items` (they are in
    dependency order, but a fixpoint does not rely on it)."""
    closed = set(seeds)
    changed = True
    while changed:
        changed = False
        for p in items:
            if p.key not in closed and any(up in closed for up in p.variant.upstream_keys):
                closed.add(p.key)
                changed = True
    return closed


def _row(p: Planned) -> dict[str, Any]:
    v = p.variant
    return {
        "key": v.key, "campaign": v.campaign, "asset": v.asset, "variant": v.vid, "vars": v.values,
        "operation": v.operation, "status": p.status, "reason": p.reason, "reasons": p.reasons,
        "provider": v.provider, "model": v.model, "size": v.params.get("size"), "cache_key": p.cache_key,
        "estimated_cost_usd": round(p.est_cost, 4) if p.status != "fresh" and not p.held else 0.0,
        "max_takes": p.max_takes, "upstream": v.upstream_keys,
        "maybe_billed": p.held,
        "maybe_billed_usd": round(p.est_cost, 4) if p.held else 0.0,  # possibly spent, and a re-send's price
        "unsettled": [{"build": e.build, "provider": e.provider, "vendor": e.vendor, "job_id": e.job_id,
                       "take": e.take, "sent_at": e.sent_at, "resumable": e.resumable, "note": e.note}
                      for e in p.unsettled],
        **({"batch": p.batch} if p.batch else {}),
    }


class Planner:
    """Computes keys in dependency order. `estimator(variant) -> USD` prices the first take in the
    variant's lane; `retake_estimator` a retake, which the engine always pays synchronously (the
    batch lane's take is checked once it is collected, and a failed one is retaken at once)."""

    def __init__(self, catalog: Catalog, store: Store, hasher: FileHasher, estimator=None, retake_estimator=None,
                 first_takes: Mapping[str, FirstTake] | None = None):
        self.catalog, self.store, self.hasher = catalog, store, hasher
        self.estimator = estimator or (lambda v: 0.0)
        self.retake_estimator = retake_estimator or self.estimator
        self.first_takes = first_takes or {}

    def plan(self, variants: list[Variant]) -> Plan:
        done: dict[str, Planned] = {}
        for v in variants:
            done[v.key] = self.plan_one(v, done)
        return Plan(list(done.values()))

    def recipes(self, variants: list[Variant]) -> dict[str, str]:
        """Only the recipe hashes (Dagster code versions): no store reads at all."""
        out: dict[str, str] = {}
        for v in variants:
            digests = ["sha256:" + self.hasher.digest(i.path) if i.kind == "file" else "recipe:" + out[i.ref]
                       for i in v.inputs]
            out[v.key] = key_hash(key_doc(v, digests, self.first_takes.get(v.key, NO_FIRST_TAKE).number))
        return out

    def input_digests(self, v: Variant, done: dict[str, Planned]) -> tuple[list[str], list[str]]:
        """(digests for the cache key, digests for the recipe)."""
        key_digests, recipe_digests = [], []
        for i in v.inputs:
            if i.kind == "file":
                d = "sha256:" + self.hasher.digest(i.path)
                key_digests.append(d)
                recipe_digests.append(d)
            else:
                up = done[i.ref]
                key_digests.append("sha256:" + up.record["blob"] if up.record else "key:" + up.cache_key)
                recipe_digests.append("recipe:" + up.recipe)
        return key_digests, recipe_digests

    def text_checked(self, v: Variant) -> bool:
        return bool(v.text) and self.catalog.settings.check_text != "off"

    def max_takes(self, v: Variant) -> int:
        """How many takes a build of `v` may pay for: a take that fails its text check is retaken
        up to `retakes` times (renders are local and never retaken)."""
        return 1 + v.retakes if v.provider is not None and self.text_checked(v) else 1

    def plan_one(self, v: Variant, done: dict[str, Planned], *, record: dict | None = None) -> Planned:
        head = self.store.get_head(v.key)
        first = self.first_takes.get(v.key, NO_FIRST_TAKE)
        p = self._plan_one(v, done, record, head, first)
        p.max_takes, p.first_take, p.head = self.max_takes(v), first.number, head
        if head is not None and head.get("cache_key") == p.cache_key:
            p.last = {k: head[k] for k in ("checks", "takes") if k in head}
        left = p.max_takes - 1 - (p.take - first.number)  # retakes still allowed after the current take
        if p.record is None:
            p.est_cost += self.retake_estimator(v) * max(left, 0)  # the worst case: every take fails its text check
        else:
            recheck(self, p, head, left)
        return p

    def _plan_one(self, v: Variant, done: dict[str, Planned], record: dict | None,
                  head: dict[str, Any] | None, first: FirstTake) -> Planned:
        key_digests, recipe_digests = self.input_digests(v, done)
        doc = key_doc(v, key_digests, first.number)
        recipe = key_hash(key_doc(v, recipe_digests, first.number))
        head_doc = (head or {}).get("doc") or {}
        if first.number < take_of(head_doc) <= first.number + v.retakes and with_take(head_doc, first.number) == doc:
            doc = head_doc  # the last build kept a retake of this very request: that take is current
        cache_key = key_hash(doc)
        record = record or self.store.get_action(cache_key)
        damage = record_problem(self.store, cache_key, record) if record is not None else None
        if damage is not None:  # never "fresh" on an image that is missing or not the recorded one
            return Planned(v, cache_key, recipe, doc, "missing", [f"the cached result cannot be used: its record "
                                                                  f"{damage}"], None, self.estimator(v))
        if record is not None:
            if head is not None and head.get("cache_key") == cache_key:
                return Planned(v, cache_key, recipe, doc, "fresh", [], record, 0.0)
            # The image is in the cache, but this variant's last build was another take (say the
            # spec was edited, built, then reverted) or it was never built here: a build must still
            # materialize it (free: a cache hit) so its file, its head and the UI agree with the plan.
            if head is None:
                return Planned(v, cache_key, recipe, doc, "missing", ["never built here; in the cache (free)"], record, 0.0)
            reasons = _why(head, doc, v, done, first) + ["in the cache (free)"]
            return Planned(v, cache_key, recipe, doc, "changed", reasons, record, 0.0)
        est = self.estimator(v)
        if head is None:
            return Planned(v, cache_key, recipe, doc, "missing", ["never built"], None, est)
        if head.get("cache_key") == cache_key:
            return Planned(v, cache_key, recipe, doc, "missing", ["built before, but not in this cache"], None, est)
        return Planned(v, cache_key, recipe, doc, "changed", _why(head, doc, v, done, first), None, est)


def _why(head: dict, doc: dict, v: Variant, done: dict[str, Planned], first: FirstTake) -> list[str]:
    """diff_reasons, with a moved first take named by its reason ("rejected: <note>")."""
    reasons = diff_reasons(head.get("doc") or {}, doc, v, done)
    built = take_of(head.get("doc") or {})
    if built < first.number:
        moved = first.why or f"take {built} -> {first.number}"
        reasons = [moved] + [r for r in reasons if r != "key changed"]
    return reasons


def recheck(planner: Planner, p: Planned, head: dict[str, Any] | None, left: int) -> None:
    """A variant whose current take is in the store is built again (free) when its text check did
    not run and now can, and may still pay for retakes: when its last build's text check failed
    with takes left (it is then not fresh: a build retakes it), or when it is re-materialized and
    its take was never checked here. Priced at the worst case."""
    v = p.variant
    last = (((head or {}).get("checks") or {}).get("text_ok") or {}).get("status")
    current = head is not None and head.get("cache_key") == p.cache_key
    if current and last == "not_run" and text_checkable(v, planner.catalog.settings.locales.default):
        p.status, p.reasons = "changed", ["text not checked yet, and now it can be (free)"]
    elif current and last == "failed" and left > 0:
        p.status, p.reasons = "changed", [f"text check failed on take {p.take + 1}: up to {left} retake(s) left"]
    elif p.status == "fresh" or left <= 0 or last == "passed" or _passed_before(planner, p):
        return
    p.est_cost = planner.retake_estimator(v) * left


def _passed_before(planner: Planner, p: Planned) -> bool:
    note = planner.store.get_note("text_ok", note_key(p.record["blob"], p.variant.text,
                                                      p.variant.locale or planner.catalog.settings.locales.default))
    return bool(note) and note.get("status") == "passed"


def text_checkable(v: Variant, default_locale: str) -> bool:
    lang = language(v.locale or default_locale)
    return lang is not None and missing_language(lang) is None


def diff_reasons(old: dict[str, Any], new: dict[str, Any], v: Variant, done: dict[str, Planned]) -> list[str]:
    out: list[str] = []
    if old.get("v") != new.get("v"):
        return ["cache key format changed"]
    if old.get("operation") != new.get("operation"):
        out.append(f"operation {old.get('operation')} -> {new.get('operation')}")
    if old.get("model") != new.get("model"):
        out.append(f"model {old.get('model')} -> {new.get('model')}")
    if old.get("prompt") != new.get("prompt"):
        out.append("prompt")
    op, np_ = old.get("params") or {}, new.get("params") or {}
    for k in sorted(set(op) | set(np_)):
        if op.get(k) != np_.get(k):
            out.append(f"{k} {op.get(k, '-')} -> {np_.get(k, '-')}")
    oi, ni = old.get("inputs") or [], new.get("inputs") or []
    for idx, inp in enumerate(v.inputs):
        before = oi[idx]["digest"] if idx < len(oi) else None
        after = ni[idx]["digest"] if idx < len(ni) else None
        if before != after:
            what = f"upstream {inp.ref}" if inp.kind == "upstream" else f"input {inp.role} {inp.ref}"
            if inp.kind == "upstream":
                up = done.get(inp.ref)
                what += " (rebuilt)" if up is not None and up.status == "fresh" else " (changed)"
            out.append(what)
    if len(oi) > len(v.inputs):
        out.append("inputs removed")
    if old.get("revision") != new.get("revision"):
        out.append(f"revision {old.get('revision')} -> {new.get('revision')}")
    if old.get("text") != new.get("text") and ("text" in old or "text" in new):
        out.append("expected text")
    return out or ["key changed"]
