"""Provider pools: a `type: pool` entry builds each image on one of its `members` (other provider
entries: several vendors, or several keys of one vendor), chosen by `strategy`:

    spread     the member with the most free slots: every member is filled up to its own limit,
               so a pool's throughput is the sum of its members'
    fallback   the first healthy member in the order listed; the next one only while it is tripped
    cheapest   the cheapest member (by the price table) that has a free slot

A member is skipped for a request it cannot serve (gptimageapi has no edits); a pool fails
validation only when no member can. Every member has a circuit breaker: `trip_after` consecutive
calls that failed without reaching the vendor's model (an outage, a storm of 429/5xx that outlived
the retries, a refused key) trip it for `cooldown_s`, then one trial call decides whether it is back
(a failed trial doubles the rest, up to 16x). A call that failed that way was not billed, so its
image is asked of the next member; a call that may have been billed (a lost answer, an unusable
image) is never sent again, and a refusal of the input (moderation, a bad size) is the variant's
own error on every member alike.

The pool holds no slots of its own: it waits until a member it may use has a free slot (counted
in this process) and the member's own Limiter keeps the vendor's limit: its slots come from
pipelines.coordination by the fingerprint of the member's key (slot files on one machine, PostgreSQL
across machines), shared with every other process and entry using that key. The image's record names the member that made it (and the pool); the
cache key names neither, so adding, removing or reordering members rebuilds nothing.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import Callable

from providers.base import Capabilities, ImageProvider, ImageRequest, ImageResult, RawImage
from providers.errors import AuthError, ProviderError, RetryableError, UnsupportedError

MAX_COOLDOWN_FACTOR = 16


def moves_on(exc: ProviderError) -> bool:
    """Whether a failed call may be asked of another member: it never reached the model (so it
    was not billed) and the cause is the member's, not the request's."""
    if exc.maybe_billed:
        return False
    return isinstance(exc, (RetryableError, AuthError))


@dataclass
class Breaker:
    """One member's health: closed (in use), open (resting until `open_until`), half-open (one
    trial call in flight)."""

    trip_after: int
    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    open_until: float = 0.0
    trials: int = 0  # consecutive failed trials: the rest doubles with each
    trial_in_flight: bool = False
    last_error: str | None = None

    @property
    def tripped(self) -> bool:
        return self.open_until > 0

    def allows(self) -> bool:
        if not self.tripped:
            return True
        return self.clock() >= self.open_until and not self.trial_in_flight

    def retry_in(self) -> float:
        return max(0.0, self.open_until - self.clock()) if self.tripped else 0.0

    def started(self) -> None:
        if self.tripped:
            self.trial_in_flight = True

    def succeeded(self) -> None:
        self.failures, self.open_until, self.trials, self.trial_in_flight = 0, 0.0, 0, False

    def failed(self, exc: ProviderError) -> None:
        self.last_error = str(exc)
        was_trial, self.trial_in_flight = self.trial_in_flight, False
        self.failures += 1
        if was_trial:
            self.trials += 1
        if was_trial or isinstance(exc, AuthError) or self.failures >= self.trip_after:
            factor = min(MAX_COOLDOWN_FACTOR, 2 ** self.trials)
            self.open_until = self.clock() + self.cooldown_s * factor

    def released(self) -> None:
        """A call that neither succeeded nor failed the member (the request's own fault)."""
        self.trial_in_flight = False


@dataclass
class _Waiter:
    req: ImageRequest
    tried: set[str]
    future: asyncio.Future = field(repr=False)


class PoolProvider(ImageProvider):
    type_name = "pool"
    needs_key = False

    def __init__(self, name: str, config, members: list[ImageProvider],
                 estimate: Callable[[str, ImageRequest], float], *, clock: Callable[[], float] = time.monotonic):
        super().__init__(name, config, env={})
        self.members = members
        self.strategy = getattr(config, "strategy", "spread")
        self._estimate = estimate
        trip_after, cooldown = getattr(config, "trip_after", 2), getattr(config, "cooldown_s", 60.0)
        self.breakers = {m.name: Breaker(trip_after, cooldown, clock) for m in members}
        self.busy = {m.name: 0 for m in members}
        self.peak = {m.name: 0 for m in members}
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    # -- what the pool can do: what some member can
    def capabilities(self) -> Capabilities:
        caps = [m.capabilities() for m in self.members]
        return Capabilities(generate=any(c.generate for c in caps), edit=any(c.edit for c in caps),
                            mask=all(c.mask for c in caps), max_input_images=max(c.max_input_images for c in caps),
                            formats=tuple(dict.fromkeys(f for c in caps for f in c.formats)),
                            needs_public_urls=False)

    def capable(self, req: ImageRequest) -> list[ImageProvider]:
        return [m for m in self.members if not m.problems(req)]

    def problems(self, req: ImageRequest) -> list[str]:
        if self.capable(req):
            return []
        why = "; ".join(f"{m.name}: {'; '.join(m.problems(req))}" for m in self.members)
        return [f"no member of pool '{self.name}' can make this image ({why})"]

    def estimate_cost(self, req: ImageRequest) -> float:
        """The most expensive member that can serve it: which member runs is decided at run time
        (by free slots and health), and a budget must not be under-estimated."""
        prices = [self._estimate(m.name, req) for m in self.capable(req)]
        return max(prices) if prices else 0.0

    def ordered(self, req: ImageRequest) -> list[ImageProvider]:
        """The members that can serve `req`, in the strategy's order of preference."""
        members = self.capable(req)
        if self.strategy == "cheapest":
            return sorted(members, key=lambda m: self._estimate(m.name, req))  # stable: ties keep the order listed
        return members

    # -- the calls
    async def run(self, req: ImageRequest, *args, **kwargs) -> ImageResult:
        problems = self.problems(req)
        if problems:
            raise UnsupportedError("; ".join(problems), provider=self.name)
        tried: set[str] = set()
        last: ProviderError | None = None
        while True:
            member = await self._acquire(req, tried)
            if member is None:
                raise last or UnsupportedError(f"no member of pool '{self.name}' is usable", provider=self.name)
            breaker = self.breakers[member.name]
            breaker.started()
            try:
                result = await member.run(req, *args, **kwargs)
            except ProviderError as exc:
                if moves_on(exc):
                    breaker.failed(exc)
                    tried.add(member.name)
                    last = exc
                    continue
                breaker.released()
                raise
            except BaseException:
                breaker.released()
                raise
            else:
                breaker.succeeded()
                result.extra["pool"] = self.name
                return result
            finally:
                self._release(member)

    async def _generate(self, req: ImageRequest) -> RawImage:  # run() is overridden: never called
        raise UnsupportedError("a pool calls its members", provider=self.name)

    # -- slots: who may go next
    def _free(self, m: ImageProvider) -> int:
        return m.config.max_concurrency - self.busy[m.name]

    def _pick(self, req: ImageRequest, tried: set[str]) -> ImageProvider | None | bool:
        """A member to take now; False to wait (for a slot, or for a rest to end); None when no
        member is left to try."""
        left = [m for m in self.ordered(req) if m.name not in tried]
        if not left:
            return None
        usable = [m for m in left if self.breakers[m.name].allows()]
        if not usable:
            return False
        if self.strategy == "fallback":
            first = usable[0]
            return first if self._free(first) > 0 else False
        free = [m for m in usable if self._free(m) > 0]
        if not free:
            return False
        if self.strategy == "spread":
            return max(free, key=self._free)  # max keeps the first of equals: the order listed
        return free[0]

    def _take(self, m: ImageProvider) -> ImageProvider:
        self.busy[m.name] += 1
        self.peak[m.name] = max(self.peak[m.name], self.busy[m.name])
        return m

    async def _acquire(self, req: ImageRequest, tried: set[str]) -> ImageProvider | None:
        pick = self._pick(req, tried) if not self._waiters else False  # first come, first served
        if pick is None or pick is not False:
            return None if pick is None else self._take(pick)
        waiter = _Waiter(req, tried, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._dispatch()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled() and waiter.future.result() is not None:
                self._release(waiter.future.result())
            raise

    def _release(self, m: ImageProvider) -> None:
        self.busy[m.name] -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to the waiters, oldest first; wake the pool again when a rest ends.
        Waiters alike (same operation, inputs and members tried) get the same answer, so a pass
        asks once per kind: a release costs O(kinds), not O(waiters)."""
        stuck: set[tuple] = set()
        for w in list(self._waiters):
            if not any(self._free(m) > 0 for m in self.members):
                break
            kind = (w.req.operation, len(w.req.images), w.req.mask is None, frozenset(w.tried))
            if w.future.done() or kind in stuck:
                if w.future.done():
                    self._waiters.remove(w)
                continue
            pick = self._pick(w.req, w.tried)
            if pick is False:
                stuck.add(kind)
                continue
            self._waiters.remove(w)
            w.future.set_result(None if pick is None else self._take(pick))
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        resting = [b.retry_in() for b in self.breakers.values() if b.tripped and not b.trial_in_flight]
        if self._waiters and resting:
            self._timer = asyncio.get_running_loop().call_later(min(resting) + 0.001, self._dispatch)

    async def aclose(self) -> None:
        """The members are the catalog's own provider instances: whoever made them closes them."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def health(self) -> dict[str, dict]:
        return {name: {"tripped": b.tripped, "retry_in_s": round(b.retry_in(), 3), "failures": b.failures,
                       "last_error": b.last_error, "peak_in_flight": self.peak[name]}
                for name, b in self.breakers.items()}
