"""The provider's side of the write-ahead journal of paid calls (the journal itself is kept by
the caller, in the store: pipelines.cache.journal).

A vendor module tells the journal of the one call it is making the two moments money depends on:

    await calls.sending(take, fingerprint)   just before a create leaves. The caller writes its
                                             intent record first; it raises NotSentError instead
                                             when the build is stopping (nothing is sent then)
    await calls.job(job_id)                  the moment the vendor's job id is known
    calls.proceed()                          before every attempt of a create (retries, after a
                                             requests-per-minute wait): NotSentError once the build
                                             is stopping

and reads what earlier builds left for this request:

    calls.first_take                         the take to start at: RunAPI's Idempotency-Key
                                             includes it, so a new take is a new task
    calls.resume                             a job an earlier build created and never collected:
                                             poll it (or replay its take) instead of creating

`current()` is the journal of the call running in this asyncio task: `ImageProvider.run` sets it,
so vendor modules need no extra parameter. Without one (provider tests, benchmarks) `NoJournal`
records nothing and every call starts fresh at take 0.

How a vendor can pick a call up again (`RESUME_BY`, a provider class attribute):

    "job"    poll the job id (EachLabs): resumable once the id is journaled
    "take"   re-send the same take (RunAPI: the Idempotency-Key replays the task): always resumable
    "none"   synchronous (OpenAI-compatible, gptimageapi): a call in flight cannot be picked up;
             its image, if the vendor made one, is lost, and the call may have been billed
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

ResumeBy = Literal["job", "take", "none"]


@dataclass(frozen=True)
class Resume:
    """A job an earlier build created: its id (None when the create's answer was never read) and
    take, and the build that sent it (and was billed for it)."""

    job_id: str | None
    take: int
    build: str


class CallJournal(Protocol):
    first_take: int
    resume: Resume | None

    async def sending(self, take: int, fingerprint: str) -> None: ...

    async def job(self, job_id: str) -> None: ...

    def proceed(self) -> None: ...


class NoJournal:
    """Records nothing: every call starts at take 0, with nothing to resume."""

    first_take = 0
    resume: Resume | None = None

    async def sending(self, take: int, fingerprint: str) -> None:
        return None

    async def job(self, job_id: str) -> None:
        return None

    def proceed(self) -> None:
        return None


class Tracked:
    """Wraps a call's journal and remembers what happened, for `ImageProvider.run`'s messages:
    whether a create was sent, and the job id."""

    def __init__(self, inner: CallJournal):
        self.inner = inner
        self.sent = False
        self.job_id: str | None = inner.resume.job_id if inner.resume else None

    @property
    def first_take(self) -> int:
        return self.inner.first_take

    @property
    def resume(self) -> Resume | None:
        return self.inner.resume

    async def sending(self, take: int, fingerprint: str) -> None:
        await self.inner.sending(take, fingerprint)
        self.sent = True

    async def job(self, job_id: str) -> None:
        self.job_id = job_id
        await self.inner.job(job_id)

    def proceed(self) -> None:
        self.inner.proceed()


_current: contextvars.ContextVar[CallJournal] = contextvars.ContextVar("assetpipe_call_journal")


def current() -> CallJournal:
    """The journal of the call this task is making (NoJournal outside `ImageProvider.run`)."""
    return _current.get(None) or NoJournal()


def bind(journal: CallJournal) -> contextvars.Token:
    return _current.set(journal)


def unbind(token: contextvars.Token) -> None:
    _current.reset(token)


def fingerprint(*parts: Any) -> str:
    """sha256 of what a create sends (JSON fields; bytes by their own sha256): the journal's
    request fingerprint. Never holds a secret: keys travel in headers, which are not part of it."""
    def norm(x: Any) -> Any:
        if isinstance(x, (bytes, bytearray)):
            return "sha256:" + hashlib.sha256(x).hexdigest()
        if isinstance(x, dict):
            return {str(k): norm(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [norm(v) for v in x]
        return x

    text = json.dumps([norm(p) for p in parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
