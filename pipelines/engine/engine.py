"""The execution engine: every variant of a build as one asyncio task, concurrent up to each
vendor's limit, in dependency order.

Provider calls take 40-100 s and are I/O bound, so one process drives all of them: a variant
starts the moment its upstream variants are done, and the provider's Limiter (shared with other
processes through slot files) keeps the calls in flight at the vendor's limit. CPU work (image
decoding, renders, checks) runs in threads so polling never stalls.

`Engine.stream(planned)` is a plain generator of `Outcome`s in completion order: the Dagster asset
body turns each into a MaterializeResult as soon as it lands.

Every paid call goes through the write-ahead journal (pipelines.engine.calls): an earlier build's
job is collected instead of paid for again, a call that may have been billed is held, and every
create is journaled before it leaves. A stop (pipelines.engine.stop) sends no new create and gives
the calls in flight a grace period to land.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from pipelines.cache import calibration
from pipelines.cache.batches import OpenKeys
from pipelines.cache.integrity import check_record, export_verified, quarantine_damage, restore
from pipelines.cache.journal import Journal, StoreJournal
from pipelines.cache.store import Store
from pipelines.catalog.loader import Catalog
from pipelines.engine.calls import Held, PaidCall
from pipelines.engine.outcome import Outcome, OutcomeStatus
from pipelines.engine.render import render_image
from pipelines.engine.retakes import settle
from pipelines.engine.stop import Stop, forcing_signals
from pipelines.errors import AssetpipeError, BlobDamaged, NotSentError
from pipelines.plan.billing import bill_fields, bill_of
from pipelines.plan.failures import note_failure
from pipelines.plan.plan import Planned, Planner
from pipelines.plan.pool import ProviderPool
from pipelines.plan.requests import image_request, verified_input
from providers.pricing import PRICE_TABLE_VERSION


class Engine:
    def __init__(self, catalog: Catalog, store: Store, planner: Planner, pool: ProviderPool, *,
                 refresh: Iterable[str] = (), check_text: str | None = None, log=None, build: str = "local",
                 retry_maybe_billed: bool = False, journal: Journal | None = None, stop: Stop | None = None):
        self.catalog, self.store, self.planner, self.pool = catalog, store, planner, pool
        self.refresh = set(refresh)
        self.check_text = check_text or catalog.settings.check_text
        self.log = log
        self.calls = 0  # provider calls actually made (paid)
        self.build = build  # this build's id (the Dagster run id): journal entries name it
        self.retry_maybe_billed = retry_maybe_billed
        self.journal = journal or StoreJournal(store)
        self.stop = stop or Stop(catalog.settings.stop_grace_s)
        self._paying: dict[str, PaidCall] = {}  # variant key -> its paid call, while it runs
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._finished = True
        self.damaged: dict[str, str] = {}  # variant key -> the damage found in its cached result
        self.notes: dict[str, list[str]] = {}  # variant key -> what was repaired on the way (a restored input)
        self.bills: list[dict[str, Any]] = []  # estimate and bill of every paid call (calibration)
        self.open_batches = OpenKeys(store)  # the batch lane's open batches (pipelines.cache.batches)

    # -- public ----------------------------------------------------------------------------------
    _DONE = object()

    def stream(self, to_build: list[Planned], context: dict[str, Planned]) -> Iterator[Outcome]:
        """Build `to_build` (dependency order); `context` holds the plan of every other variant.

        An interrupt while waiting for results (a signal: KeyboardInterrupt, or the exception a
        Dagster run raises for one) stops the build gracefully: the outcomes still arrive, then
        the interrupt is raised again. A second one forces the stop."""
        self._start(to_build, context)
        yield from self.results()

    def start(self, to_build: list[Planned], context: dict[str, Planned]) -> None:
        """`stream` in two halves: start building now (the first calls go out in the engine's
        thread), take the outcomes later with `results()`, in the thread that handles signals."""
        self._start(to_build, context)

    def waiting(self) -> bool:
        """Outcomes have landed that `results()` has not handed out yet."""
        return self._queue is not None and not self._queue.empty()

    def results(self) -> Iterator[Outcome]:
        """The outcomes of the build `start` began, as in `stream`."""
        interrupt: BaseException | None = None
        while True:
            try:
                item = self._queue.get()
            except BaseException as exc:  # noqa: BLE001 - a signal, delivered in this thread
                interrupt = interrupt or exc
                self.stop.request("a stop signal")
                continue
            if item is self._DONE:
                break
            if isinstance(item, BaseException):
                self._join()
                raise item
            yield item
        self._join()
        if interrupt is not None:
            raise interrupt

    def drain(self) -> list[Outcome]:
        """After the consumer of `stream` stopped early (the run was interrupted between two
        results): stop gracefully and wait for the calls in flight, which are stored and
        journaled; returns the outcomes nobody consumed. A signal meanwhile forces the stop."""
        if self._finished:
            return []
        self.stop.request("a stop signal")
        out: list[Outcome] = []
        with forcing_signals(self.stop):
            while True:
                item = self._queue.get()
                if item is self._DONE:
                    break
                if isinstance(item, Outcome):
                    out.append(item)
        self._join()
        return out

    def run(self, to_build: list[Planned], context: dict[str, Planned]) -> list[Outcome]:
        return list(self.stream(to_build, context))

    def _start(self, to_build: list[Planned], context: dict[str, Planned]) -> None:
        q: queue.Queue = queue.Queue()
        self._queue, self._finished = q, False

        def runner() -> None:
            try:
                asyncio.run(self._run_all(to_build, context, q.put))
            except BaseException as exc:  # surfaced in the consumer thread
                q.put(exc)
            finally:
                q.put(self._DONE)

        self._thread = threading.Thread(target=runner, name="assetpipe-engine", daemon=True)
        self._thread.start()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._finished = True
        self.damaged: dict[str, str] = {}  # variant key -> the damage found in its cached result
        self.notes: dict[str, list[str]] = {}  # variant key -> what was repaired on the way (a restored input)

    # -- internals -------------------------------------------------------------------------------
    async def _run_all(self, to_build: list[Planned], context: dict[str, Planned], emit) -> None:
        done: dict[str, Planned] = dict(context)
        tasks: dict[str, asyncio.Task] = {}
        self.stop.attach(asyncio.get_running_loop(), lambda: [t.cancel() for t in tasks.values() if not t.done()])
        try:
            # the cache and the coordination must work before anything is paid (a UI or schedule
            # run has had no CLI preflight): a StoreError / CoordinationError ends the run here
            await asyncio.to_thread(self.store.check)
            await asyncio.to_thread(self.pool.coordinator.check)
            for p in to_build:  # dependency order: upstream tasks exist before their dependants
                deps = [tasks[k] for k in p.variant.upstream_keys if k in tasks]
                tasks[p.key] = asyncio.create_task(self._one(p, deps, done, emit), name=p.key)
            if tasks:
                await asyncio.gather(*tasks.values())
        finally:
            self.stop.detach()
            await self.pool.aclose()
            self._record_bills()

    def _record_bills(self) -> None:
        try:
            calibration.record(self.store, self.bills, PRICE_TABLE_VERSION)
        except AssetpipeError as exc:  # the history is a nicety: never fail a build over it
            self._info(f"could not record estimates vs bills: {exc}")

    def _info(self, msg: str) -> None:
        if self.log is not None:
            self.log(msg)

    async def _one(self, p: Planned, deps: list[asyncio.Task], done: dict[str, Planned], emit) -> Outcome:
        v = p.variant
        if deps:
            results: list[Outcome] = await asyncio.gather(*deps)
            blocked = [r for r in results if r.blocks_dependants]
            if blocked:
                why = ", ".join(f"{r.key} ({r.status if not r.ok else 'failed text check'})" for r in blocked)
                out = Outcome(p, "skipped", error=f"upstream not usable: {why}")
                await self._remember(out)
                emit(out)
                return out
        try:
            # re-plan now that the upstream outputs exist: the key names their stored digests
            p = self.planner.plan_one(v, done)
            done[v.key] = p
            out = await self._produce(p)
            done[v.key] = out.planned
        except (Held, NotSentError) as exc:
            out = Outcome(p, "held" if isinstance(exc, Held) else "stopped", error=str(exc),
                          maybe_billed=getattr(exc, "maybe_billed", False))
        except AssetpipeError as exc:
            out = Outcome(p, "failed", error=str(exc), maybe_billed=getattr(exc, "maybe_billed", False))
        except asyncio.CancelledError:  # the stop was forced (a second signal, or the grace ran out)
            out = self._cancelled(p)
        except Exception as exc:  # a bug must not take the other 199 variants down with it
            out = Outcome(p, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
        if out.ok:  # checks, and retakes while the text check fails and takes remain
            out = await settle(self, out)
            done[v.key] = out.planned
        await self._remember(out)
        emit(out)
        return out

    async def _remember(self, out: Outcome) -> None:
        """A failed or skipped variant leaves a note, so the plan says what its last attempt met."""
        if out.status in ("failed", "skipped"):
            try:
                await asyncio.to_thread(note_failure, self.store, out.planned.cache_key, out.status, out.error,
                                        self.build)
            except Exception as exc:  # the store failing too must not hide the variant's own failure
                self._info(f"could not record the failure of {out.key}: {exc}")

    def _cancelled(self, p: Planned) -> Outcome:
        call = self._paying.get(p.key)
        if call is None or (call.current is None and call.resumed is None):
            return Outcome(p, "stopped", error=f"not sent: the build was stopped ({self.stop.reason})")
        return Outcome(p, "stopped", in_flight=True, error=f"stopped while in flight ({self.stop.reason}); "
                       "journaled: the next build collects it, or holds it if it may have been billed")

    async def _produce(self, p: Planned, force: bool | None = None) -> Outcome:
        v = p.variant
        refresh = v.key in self.refresh if force is None else force
        if p.record is not None and not refresh:
            out = await self._reuse(p, p.record)
            if out is not None:
                return out
        async with self.store.lease(p.cache_key):
            if not refresh:
                record = await asyncio.to_thread(self.store.get_action, p.cache_key)
                if record is not None:  # another build produced it while we waited: reuse it
                    p.record = record
                    out = await self._reuse(p, record)
                    if out is not None:
                        return out
                if v.operation != "render":  # another build's batch took it since this build planned
                    holder = await asyncio.to_thread(self.open_batches.holder, p.cache_key)
                    if holder:
                        return Outcome(p, "skipped", error=f"in batch {holder}, submitted by another build since "
                                       "this one planned: a later build collects it (never paid twice)")
            record = await self._call(p)
        p.record = record
        p.status = "fresh"
        out = await asyncio.to_thread(self._finish, p, record, "built")
        said = ([f"rebuilt: {self.damaged[v.key]}"] if v.key in self.damaged else []) + self.notes.get(v.key, [])
        out.note = "; ".join(said) or None
        return out

    async def _reuse(self, p: Planned, record: dict[str, Any]) -> Outcome | None:
        """A cached result, exported verified; None when it failed verification: it is then
        quarantined and the variant is rebuilt."""
        try:
            await asyncio.to_thread(check_record, self.store, p.cache_key, record)  # even if its file is in place
            return await asyncio.to_thread(self._finish, p, record, "cached")
        except BlobDamaged as exc:
            dest = self.catalog.output_dir / p.variant.relpath
            if not exc.record_only and await asyncio.to_thread(restore, self.store, exc.digest, [dest]):
                out = await asyncio.to_thread(self._finish, p, record, "cached")
                out.note = f"{exc}: restored from {dest}"
                return out
            await asyncio.to_thread(quarantine_damage, self.store, exc)
            where = f"; moved to {exc.quarantined} in the cache" if exc.quarantined else ""
            self._info(f"{p.key}: {exc}{where}; rebuilding")
            self.damaged[p.key] = str(exc) + where
            p.record = None
            return None

    async def _call(self, p: Planned) -> dict[str, Any]:
        v = p.variant
        started = datetime.now(timezone.utc)
        if v.operation == "render":
            digest = p.doc["inputs"][0]["digest"].split(":", 1)[1]
            src = await asyncio.to_thread(verified_input, self.store, digest, v.inputs[0], self.catalog.output_dir,
                                          self.notes.setdefault(v.key, []))
            t0 = time.monotonic()
            data = await asyncio.to_thread(
                render_image, src, width=v.width, height=v.height, fit=v.params.get("fit", "cover"),
                output_format=v.output_format, quality=v.params.get("compression"))
            meta = {"provider": "local", "model": "render", "request_id": None, "cost_usd": 0.0,
                    "latency_s": round(time.monotonic() - t0, 3), "usage": None}
        else:
            provider = self.pool.get(v.provider)
            req = await asyncio.to_thread(image_request, p, self.store, restore_dir=self.catalog.output_dir,
                                          notes=self.notes.setdefault(v.key, []))
            call = PaidCall(self.journal, self.build, p, provider, self.stop, self.retry_maybe_billed)
            await call.prepare()  # may resume an earlier build's job, or hold a maybe-billed call
            self._info(f"calling {v.provider} for {v.key}" if call.resume is None else
                       f"collecting {v.key} from {v.provider} (sent by build {call.resume.build[:8]})")
            self.calls += call.resume is None  # a collected job was paid for by the build that sent it
            self._paying[v.key] = call
            try:
                result = await provider.run(req, call)
            except Exception as exc:  # a cancellation (a forced stop) leaves the entries as journaled
                await call.failed(exc)
                raise
            data = result.data
            meta = {"provider": result.provider, "model": result.model, "request_id": result.request_id,
                    "cost_usd": round(result.cost_usd, 6), "latency_s": round(result.latency_s, 3),
                    "usage": result.usage, "vendor_size": result.vendor_size, **call.billing(result.extra),
                    **bill_fields(self.pool.estimate_for(result.provider, v.provider, req), result.billed_usd,
                                  result.billed_basis, pool=result.extra.get("pool"))}
        blob = await asyncio.to_thread(self.store.put_blob, data)
        record = {"cache_key": p.cache_key, "blob": blob, "bytes": len(data), "width": v.width, "height": v.height,
                  "format": v.output_format, "created_at": started.isoformat(timespec="seconds"),
                  "variant": v.key, "doc": p.doc, **meta}
        await asyncio.to_thread(self.store.put_action, p.cache_key, record)
        if v.operation != "render":
            await call.stored(record)
            self.bills.append(bill_of(record))
        return record

    def _finish(self, p: Planned, record: dict[str, Any], status: OutcomeStatus) -> Outcome:
        v = p.variant
        dest = self.catalog.output_dir / v.relpath
        export_verified(self.store, p.cache_key, record, dest)  # BlobDamaged: nothing exported, no head
        head = self.store.get_head(v.key)
        if head is None or head.get("cache_key") != p.cache_key or head.get("blob") != record["blob"]:
            self.store.put_head(v.key, {"cache_key": p.cache_key, "blob": record["blob"], "doc": p.doc,
                                        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        return Outcome(p, status, record=record, output_path=dest)
