"""Checks after a variant is made, and retakes within its budget.

`settle(engine, out)` runs the variant's checks; when its text check *fails* (not when it could
not run) and the variant has `retakes` left, it asks for the next take of the same request: take
1, 2 ... have their own cache keys (pipelines.plan.keys), so a take already in the store is reused
for free and a new one is paid once. It stops at the first take that passes, which becomes the
variant's image, or after 1 + retakes takes, keeping the last one with a failed (blocking) check
that lists every take's readings. Every take stays in the store.

Why a full retake and not a masked edit of the text region: on every vendor here an edit costs at
least as much as a generation of the same size (the output image is the same price, and the input
image is billed on top: bench/repair_cost.py), and a vendor without a mask field (EachLabs,
RunAPI) regenerates the whole picture anyway. A repair would cost more and need the text's
position, which OCR cannot give for a word it failed to read.

The verdict on an image is cached by its blob (store notes, `text_ok`), and what the last build
of a variant found (status of each check, takes used) is written to its head, so the plan knows a
failed variant with takes left and the manifest shows checks of variants this build did not touch.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timezone
from typing import Protocol

from pipelines.cache.store import Store
from pipelines.catalog.loader import Catalog
from pipelines.engine.checks import CheckOutcome, image_check, read_text, text_outcome
from pipelines.engine.outcome import Outcome, Take
from pipelines.errors import AssetpipeError
from pipelines.plan.keys import key_hash, take_of, with_take
from pipelines.plan.plan import Planned
from pipelines.text.check import TextVerdict, note_key


class Engine(Protocol):
    """What the retake loop needs of pipelines.engine.engine.Engine (which imports this module)."""

    catalog: Catalog
    store: Store
    check_text: str

    def _info(self, msg: str) -> None: ...

    async def _produce(self, p: Planned, force: bool | None = None) -> Outcome: ...


async def settle(engine: Engine, out: Outcome) -> Outcome:
    """`out` checked, retaken while its text check fails and takes remain; the kept take."""
    v = out.planned.variant
    takes: list[Take] = []
    while True:
        out.checks = await asyncio.to_thread(run_checks, engine, out)
        text = next((c for c in out.checks if c.name == "text_ok"), None)
        paid = out.status == "built" and not out.record.get("resumed_from_build")  # not a collected job
        takes.append(Take(out.planned.take, out.planned.cache_key, out.record["blob"], paid, out.paid_now_usd,
                          text.status if text else None, text.metadata.get("readings") if text else None))
        first = out.planned.first_take  # 0, or past a take that was rejected in review
        if text is None or text.status != "failed" or out.planned.take >= first + v.retakes:
            break
        engine._info(f"{v.key}: take {out.planned.take} failed its text check; retake "
                     f"{out.planned.take + 1 - first} of {v.retakes}")
        try:
            nxt = await engine._produce(next_take(engine, out.planned), force=False)
        except AssetpipeError as exc:  # the retake failed, was held or the build is stopping: keep the checked take
            text.description += f"; retake {out.planned.take + 1} failed: {exc}"
            out.maybe_billed = out.maybe_billed or getattr(exc, "maybe_billed", False)
            break
        except asyncio.CancelledError:  # a forced stop: the retake's call stays journaled
            text.description += f"; retake {out.planned.take + 1} stopped while in flight"
            break
        out = nxt
    out.takes = takes
    if out.status == "cached" and any(t.paid for t in takes):
        out.status = "built"  # this build paid for the variant, if not for its last take
    if len(takes) > 1:
        _describe_takes(out, takes)
    await asyncio.to_thread(_remember, engine, out)
    return out


def next_take(engine: Engine, p: Planned) -> Planned:
    doc = with_take(p.doc, p.take + 1)
    key = key_hash(doc)
    record = engine.store.get_action(key)
    nxt = Planned(p.variant, key, p.recipe, doc, "missing", [f"retake {p.take + 1}"], record, 0.0, p.max_takes)
    nxt.first_take = p.first_take
    return nxt


def run_checks(engine: Engine, out: Outcome) -> list[CheckOutcome]:
    try:
        v = out.planned.variant
        data = out.output_path.read_bytes()
        checks = [image_check(v, data)]
        if v.text and engine.check_text != "off":
            checks.append(text_outcome(_verdict(engine, out, data), engine.check_text))
        return checks
    except Exception as exc:  # a crashing check is a failed check, never a crashed build
        return [CheckOutcome("image_ok", False, description=f"check crashed: {type(exc).__name__}: {exc}")]


def _verdict(engine: Engine, out: Outcome, data: bytes) -> TextVerdict:
    """OCR takes 0.05-3 s an image: its verdict on a blob is remembered, like any build output."""
    v = out.planned.variant
    locale = v.locale or engine.catalog.settings.locales.default
    key = note_key(out.record["blob"], v.text, locale)
    note = engine.store.get_note("text_ok", key)
    if note is not None:
        return TextVerdict.from_json(note)
    verdict = read_text(v, data, locale)
    if verdict.status != "not_run":  # a check that did not run runs again once it can
        engine.store.put_note("text_ok", key, verdict.to_json())
    return verdict


def _describe_takes(out: Outcome, takes: list[Take]) -> None:
    text = next(c for c in out.checks if c.name == "text_ok")
    text.metadata["takes"] = [dataclasses.asdict(t) for t in takes]
    if text.status == "failed":
        text.description = f"failed on all {len(takes)} takes; last: {text.description}"
    elif text.status == "passed":
        text.description += f" (take {takes[-1].take + 1} of up to {out.planned.max_takes})"


def _remember(engine: Engine, out: Outcome) -> None:
    """The variant's head: its current take, and what its checks found."""
    v = out.planned.variant
    head = engine.store.get_head(v.key) or {}
    checks = {c.name: c.summary() for c in out.checks}
    head.update(cache_key=out.planned.cache_key, blob=out.record["blob"], doc=out.planned.doc, checks=checks,
                takes=len(out.takes), take=take_of(out.planned.doc))
    head.setdefault("built_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    engine.store.put_head(v.key, head)
