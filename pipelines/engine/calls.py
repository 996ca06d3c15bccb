"""One variant's paid call in one build, as the write-ahead journal sees it.

`PaidCall` is the `providers.calls.CallJournal` the engine hands `ImageProvider.run`. Before the
call it reads the key's unsettled entries (under the key's lease, so no build on this machine is
working on them): a job an earlier build can hand over is resumed; a call that may have been
billed and cannot be picked up is *held*: not re-sent unless the build was told to
(`--retry-maybe-billed`), because re-sending would pay a second time for an image the vendor may
already have made and billed. During the call it journals the intent before the create leaves and
the job id once known. After it, the entries are closed with the outcome, or left open when the
outcome is unknown (an answer lost, a job still running, a stop).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipelines.cache.journal import Entry, Journal
from pipelines.engine.stop import Stop
from pipelines.errors import (
    AmbiguousError,
    AssetpipeError,
    AuthError,
    NotSentError,
    RetryableError,
)
from pipelines.plan.plan import Planned
from providers.answers import redact, secrets_of
from providers.base import ImageProvider
from providers.calls import Resume


class Held(AssetpipeError):
    """A variant whose earlier call may have been billed and cannot be picked up: not re-sent."""

    maybe_billed = True


def held_message(entries: list[Entry], vendor: str) -> str:
    e = entries[-1]
    other = f" at {e.vendor}" if e.vendor != vendor else ""
    return (f"held: {e.describe()}{other}; not re-sent, so it is not paid twice. "
            "`assetpipe build --retry-maybe-billed` re-sends it")


class PaidCall:
    def __init__(self, journal: Journal, build: str, p: Planned, provider: ImageProvider, stop: Stop,
                 retry_maybe_billed: bool = False):
        self.journal, self.build, self.p, self.provider, self.stop = journal, build, p, provider, stop
        self.retry_maybe_billed = retry_maybe_billed
        self.first_take = 0
        self.resume: Resume | None = None
        self.resumed: Entry | None = None  # the earlier build's entry being collected
        self.current: Entry | None = None  # the entry of the create in flight
        self.entries: list[Entry] = []  # every entry this call wrote, and those it found
        self._secrets = secrets_of(provider)

    def _refuse_if_stopping(self) -> None:
        if self.stop.requested:
            raise NotSentError("not sent: the build is stopping (nothing billed)", provider=self.provider.name)

    async def prepare(self) -> None:
        """Before the call: resume, hold or go ahead, and pick the first take."""
        self._refuse_if_stopping()
        found = await asyncio.to_thread(self.journal.open_for, self.p.cache_key)
        record = self.p.record or {}
        if record:  # a --refresh: the image is in the cache, so these calls were settled by it
            for e in found:
                await asyncio.to_thread(self.journal.close, e, {"result": "settled by the cache",
                                                                "blob": record.get("blob"), "by_build": self.build})
            found = []
        self.entries.extend(found)
        vendor = self.provider.type_name
        resumable = [e for e in found if e.resumable and e.vendor == vendor]
        held = [e for e in found if e not in resumable]
        if held and not self.retry_maybe_billed:
            raise Held(held_message(held, vendor))
        if resumable:
            self.resumed = resumable[-1]
            self.resume = Resume(self.resumed.job_id, self.resumed.take, self.resumed.build)
        takes = await asyncio.to_thread(self.journal.takes, self.p.cache_key)
        if record:  # a --refresh: the take after the one that made the cached image
            takes.append(int(record.get("take") or 0))
        self.first_take = max(takes) + 1 if takes else 0

    # -- providers.calls.CallJournal
    async def sending(self, take: int, fingerprint: str) -> None:
        self._refuse_if_stopping()
        if self.resumed is not None and take == self.resumed.take:
            self.current = self.resumed  # the same take again: the vendor replays its task
            return
        v, prov = self.p.variant, self.provider
        entry = Entry(cache_key=self.p.cache_key, variant=v.key, provider=prov.name, vendor=prov.type_name,
                      resume_by=prov.resume_by, fingerprint=fingerprint, take=take, build=self.build)
        await asyncio.to_thread(self.journal.write, entry)  # the intent, before the create leaves
        self.current = entry
        self.entries.append(entry)

    def proceed(self) -> None:
        self._refuse_if_stopping()

    async def job(self, job_id: str) -> None:
        entry = self.current
        if entry is None:
            return
        entry.job_id = redact(job_id, self._secrets)
        await asyncio.to_thread(self.journal.write, entry)

    # -- after the call
    @property
    def billed_by(self) -> str:
        """The build that paid for the result: an earlier one when its job was collected."""
        if self.resumed is not None and self.current in (None, self.resumed):
            return self.resumed.build
        return self.build

    def billing(self, result_extra: dict[str, Any]) -> dict[str, Any]:
        """What the action record says about who paid."""
        take = (self.current or self.resumed).take if (self.current or self.resumed) else self.first_take
        out: dict[str, Any] = {"take": take, "billed_by_build": self.billed_by}
        if self.billed_by != self.build:
            out["resumed_from_build"] = self.billed_by
        if result_extra.get("replayed"):
            out["replayed"] = True
        return out

    async def stored(self, record: dict[str, Any]) -> None:
        """The result is in the store: every entry of this key is settled."""
        outcome = {"result": "stored", "blob": record["blob"], "by_build": self.build, "billed_by": self.billed_by}
        for e in self.entries:
            await asyncio.to_thread(self.journal.close, e, outcome)

    async def failed(self, exc: BaseException) -> None:
        """The call ended without a result: close the entries whose fate is known, keep the
        others open with why (the next build collects or holds them)."""
        note = redact(str(exc), self._secrets)[:300]
        for e in self.entries:
            if e is not self.current and e is not self.resumed:
                continue  # found from earlier builds and not touched: leave them as they were
            if _keeps_open(exc, e):
                e.note = note
                await asyncio.to_thread(self.journal.write, e)
            else:
                await asyncio.to_thread(self.journal.close, e, {
                    "result": "failed", "error": note, "maybe_billed": bool(getattr(exc, "maybe_billed", False)),
                    "by_build": self.build})


def _keeps_open(exc: BaseException, e: Entry) -> bool:
    """Whether the vendor may still hold a result for this entry: the answer was lost, or a job
    that can be collected could not be reached this time."""
    if isinstance(exc, AmbiguousError):
        return True
    # a job that can be collected, but not now (a retry refused because the build is stopping, the
    # vendor unreachable, the key refused): the next build tries again, for free
    return e.resumable and isinstance(exc, (RetryableError, AuthError, NotSentError))
