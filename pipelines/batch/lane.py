"""The batch lane as a build sees it: collect what finished, split the work between the lanes,
submit what can go into batches now, and (with --wait) come back until every batch is done.

A build runs in rounds. Each round collects finished batches into the store, re-plans, submits
the batch-lane variants whose inputs are built (an edit of a variant that is itself in a batch
waits for it), and hands the rest to the synchronous engine: cache hits (collected images are
materialized for free), renders, drafts, and what the sync lane pays for. Anything downstream of
a variant still in a batch waits. A build with nothing waiting on the lane is one pass, exactly
as without it. Without --wait the build stops when a round makes no progress (it never sleeps on
a batch); with --wait it sleeps `options.batch_poll_s` (default 30 s) and
collects again until no batch is open. A key is submitted at most twice per build (an unbilled
failure such as an expired line goes into a new batch once) and run synchronously at most once.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Callable, Iterator

from pipelines.batch.collect import Collected, collect
from pipelines.batch.submit import Submitted, submit
from pipelines.cache import batches as records
from pipelines.plan.lanes import lane_of, stays_sync
from pipelines.plan.plan import Planned
from pipelines.plan.project import Project
from pipelines.plan.worklist import plan_build

MAX_SUBMITS = 2
DEFAULT_POLL_S = 30.0


class BatchLane:
    def __init__(self, project: Project, echo: Callable[[str], None] = print, *, refresh: bool = False,
                 retry_maybe_billed: bool = False):
        self.project, self.echo, self.refresh = project, echo, refresh
        self.retry_maybe_billed = retry_maybe_billed
        self.collected: dict[str, dict] = {}  # variant key -> action record collected by this build
        self.failed: dict[str, dict] = {}  # variant key -> {error, billed} not retried by this build
        self.submitted: list[dict] = []
        self.submits: collections.Counter[str] = collections.Counter()
        self.ran_sync: set[str] = set()
        self.problems: list[str] = []

    # -- the vendor side, run on an event loop of their own ------------------------------------
    def _run(self, coro_fn):
        async def go():
            try:
                return await coro_fn()
            finally:
                await self.project.pool.aclose()

        return asyncio.run(go())

    def collect(self) -> Collected | None:
        if not records.load_open(self.project.store):
            return None
        got: Collected = self._run(lambda: collect(self.project))
        self.collected.update(got.stored)
        for rec in got.closed:
            stored = sum(1 for r in rec["results"].values() if r.get("state") == "stored")
            cost = sum(float(got.stored[i["variant"]].get("cost_usd") or 0) for i in rec["items"].values()
                       if i["variant"] in got.stored)
            self.echo(f"collected batch {rec.get('batch_id') or rec['id']} ({rec.get('status') or 'not created'}): "
                      f"{stored} of {len(rec['items'])} image(s) stored, billed ${cost:.4f}")
        for key, f in sorted(got.failed.items()):
            retry = "billed: not sent again on its own (--refresh pays again)" if f["billed"] else \
                "not billed: goes into a new batch"
            self.echo(f"  FAILED  {key:<55} {f['error']} ({retry})")
            if f["billed"]:
                self.failed[key] = f
        for rec in got.pending:
            counts = rec.get("counts") or {}
            done = f" {counts.get('completed', 0)}/{counts.get('total', 0)}" if counts.get("total") else ""
            self.echo(f"pending batch {rec.get('batch_id') or rec['id']} ({rec.get('status') or rec['state']}{done}): "
                      f"{len(rec['items'])} variant(s), submitted {rec['created_at']}")
        for p in got.problems:
            self.echo(f"warning: {p}")
        self.problems += got.problems
        return got

    def submit(self, planned: list[Planned]) -> Submitted | None:
        if not planned:
            return None
        for p in planned:
            self.submits[p.key] += 1
        sub: Submitted = self._run(lambda: submit(self.project, planned))
        sync_price = sum(self.project.sync_estimate(p.variant) for p in planned)
        for rec in sub.records:
            est = sum(float(i.get("estimate_usd") or 0) for i in rec["items"].values())
            self.echo(f"submitted batch {rec.get('batch_id') or '(answer lost: found by the next build)'} to "
                      f"{rec['provider']}: {len(rec['items'])} variant(s) for {rec['endpoint']}, estimated ${est:.4f}")
        if sub.records:
            self.echo(f"  the batch lane: ${sub.estimate_usd:.4f} against ${sync_price:.4f} in the sync lane "
                      f"(saving ${sync_price - sub.estimate_usd:.4f})")
        for key, where in sub.taken.items():
            self.echo(f"  not submitted: {key}: another build got there first ({where})")
        for key, why in sub.failed.items():
            self.echo(f"  not submitted: {key}: {why}")
            self.failed.setdefault(key, {"error": why, "billed": False})
        self.submitted += sub.records
        return sub

    def open(self) -> list[dict]:
        return records.load_open(self.project.store)

    def poll_s(self) -> float:
        names = {r["provider"] for r in self.open()}
        waits = [float(self.project.pool.get(n).config.options.get("batch_poll_s") or DEFAULT_POLL_S)
                 for n in names if n in self.project.catalog.settings.providers]
        return min(waits, default=DEFAULT_POLL_S)

    # -- rounds --------------------------------------------------------------------------------
    def split(self, to_build: list[Planned]) -> tuple[list[Planned], list[Planned], list[Planned]]:
        """(run synchronously now, submit now, wait): see the module docstring."""
        batch, sync = [], []
        for p in to_build:
            if not stays_sync(p, self.refresh) and lane_of(self.project, p.variant) == "batch":
                batch.append(p)
            else:
                sync.append(p)
        held = {p.key for p in batch}
        changed = True
        while changed:  # everything downstream of a batch-lane variant waits for it
            changed = False
            for p in sync:
                if p.key not in held and any(up in held for up in p.variant.upstream_keys):
                    held.add(p.key)
                    changed = True
        ready = [p for p in batch if all(d["digest"].startswith("sha256:") for d in p.doc["inputs"])
                 and self.submits[p.key] < MAX_SUBMITS and not self._billed_before(p)]
        now = [p for p in sync if p.key not in held and p.key not in self.ran_sync]
        waiting = [p for p in to_build if p not in now and p not in ready]
        return now, ready, waiting

    def _billed_before(self, p: Planned) -> bool:
        note = records.billed_failure(self.project.store, p.cache_key)
        if note is not None and p.key not in self.failed:
            self.failed[p.key] = {"error": f"batch {note.get('batch_id')} billed it without a usable image: "
                                           f"{note.get('error')}; build with --refresh to pay again", "billed": True}
            self.echo(f"  FAILED  {p.key:<55} {self.failed[p.key]['error']}")
        return note is not None

    def rounds(self, selection, to_build: list[Planned], *, wait: bool) -> Iterator[list[Planned]]:
        """Yield what the sync engine runs in each round, until nothing is left to do now (and,
        with `wait`, until no batch is open)."""
        first = True
        while True:
            collected = None if first else self.collect()
            if not first:
                _, to_build, _ = plan_build(self.project, selection, False, self.retry_maybe_billed)
            first = False
            now, ready, waiting = self.split(to_build)
            if ready:
                self.submit(ready)
            if now:
                self.ran_sync.update(p.key for p in now)
                yield now
            # another round only for the lane: what waited on a sync upstream or a batch may be ready
            # now; a build with nothing in the batch lane is one pass, as without the lane (a variant
            # that went missing during it, say a damaged image quarantined, is the next build's)
            if ready or (now and waiting) or (collected and (collected.stored or collected.closed)):
                continue
            if not wait or not self.open():
                return
            time.sleep(self.poll_s())
