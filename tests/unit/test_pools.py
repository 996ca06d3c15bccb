"""Pools, in this process: the circuit breaker's states, each strategy's choice of member, waiting
for slots, moving on only from failures that were not billed, and pool entries in catalog.yaml.
The members are in-process vendors behind the real ImageProvider.run (limiter, verification);
the same behaviour against real HTTP vendors is tests/integration/test_pools.py."""

from __future__ import annotations

import asyncio

import pytest

from pipelines.plan.pools import Breaker, PoolProvider, moves_on
from pipelines.plan.project import Project
from providers.base import Capabilities, ImageProvider, ImageRequest, ProviderConfig, RawImage
from providers.errors import (
    AmbiguousError,
    AuthError,
    ModerationBlocked,
    RateLimited,
    RetryableError,
)
from tests.helpers.catalogs import write_catalog
from tests.helpers.images import make_image


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Member(ImageProvider):
    """An in-process vendor: answers after `delay`, or raises what `fail` says; counts in flight."""

    type_name = "fake"
    needs_key = False

    def __init__(self, name: str, limit: int = 2, *, edit: bool = True, price: float = 0.05, delay: float = 0.01):
        super().__init__(name, ProviderConfig(type="fake", max_concurrency=limit), env={})
        self.edit, self.price, self.delay = edit, price, delay
        self.fail: list[Exception] = []  # raised by the next calls, in order
        self.down: Exception | None = None  # raised by every call (an outage) while set
        self.in_flight = self.peak = 0
        self.made: list[str] = []

    def capabilities(self) -> Capabilities:
        return Capabilities(edit=self.edit)

    def estimate_cost(self, req: ImageRequest) -> float:
        return self.price

    async def _generate(self, req: ImageRequest) -> RawImage:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail:
                raise self.fail.pop(0)
            if self.down is not None:
                raise self.down
            self.made.append(req.cache_key)
            return RawImage(make_image(req.width, req.height, "png"))
        finally:
            self.in_flight -= 1

    _edit = _generate


def pool(strategy: str, *members: Member, trip_after: int = 2, cooldown_s: float = 60.0, clock=None) -> PoolProvider:
    from pipelines.catalog.spec import ProviderEntry

    cfg = ProviderEntry(type="pool", members=[m.name for m in members], strategy=strategy, trip_after=trip_after,
                        cooldown_s=cooldown_s)
    by = {m.name: m for m in members}
    return PoolProvider("p", cfg, list(members), lambda name, req: by[name].price, clock=clock or Clock())


def req(i: int = 0, op: str = "generate") -> ImageRequest:
    return ImageRequest(cache_key=f"k{i}", operation=op, prompt="p", width=64, height=64)


def run_all(p: PoolProvider, reqs: list[ImageRequest]):
    async def go():
        return await asyncio.gather(*(p.run(r) for r in reqs), return_exceptions=True)

    return asyncio.run(go())


# -- the breaker --------------------------------------------------------------------------------

def test_breaker_trips_rests_tries_once_and_backs_off():
    clock = Clock()
    b = Breaker(trip_after=2, cooldown_s=10, clock=clock)
    b.failed(RetryableError("503"))
    assert b.allows() and not b.tripped
    b.failed(RetryableError("503"))
    assert b.tripped and not b.allows() and b.retry_in() == 10
    clock.now += 10
    assert b.allows()
    b.started()  # the trial call
    assert not b.allows()  # one trial at a time
    b.failed(RetryableError("503"))
    assert b.retry_in() == 20  # a failed trial doubles the rest
    clock.now += 20
    b.started()
    b.succeeded()
    assert not b.tripped and b.allows() and b.failures == 0


def test_a_refused_key_trips_at_once():
    b = Breaker(trip_after=5, cooldown_s=1, clock=Clock())
    b.failed(AuthError("401"))
    assert b.tripped


@pytest.mark.parametrize("exc,moves", [
    (RetryableError("503 storm"), True), (RateLimited("429 storm"), True), (AuthError("401"), True),
    (AmbiguousError("lost answer"), False), (ModerationBlocked("blocked"), False),
])
def test_only_unbilled_member_failures_move_on(exc, moves):
    assert moves_on(exc) is moves


# -- strategies -----------------------------------------------------------------------------------

def test_spread_fills_every_member_to_its_own_limit():
    a, b = Member("a", limit=3, delay=0.02), Member("b", limit=2, delay=0.02)
    p = pool("spread", a, b)
    out = run_all(p, [req(i) for i in range(30)])
    assert all(r.provider in ("a", "b") for r in out)
    assert (a.peak, b.peak) == (3, 2)  # both full, neither over
    assert p.peak == {"a": 3, "b": 2}
    assert len(a.made) + len(b.made) == 30 and len(a.made) > len(b.made) > 0
    assert all(r.extra["pool"] == "p" for r in out)


def test_fallback_uses_the_first_member_until_it_trips():
    a, b = Member("a", limit=2), Member("b", limit=2)
    p = pool("fallback", a, b, trip_after=2)
    run_all(p, [req(i) for i in range(6)])
    assert len(a.made) == 6 and not b.made  # b only stands by
    a.down = RetryableError("503 storm")
    out = run_all(p, [req(i) for i in range(10, 16)])
    assert all(not isinstance(r, Exception) for r in out)
    assert p.breakers["a"].tripped and sorted(b.made) == [f"k{i}" for i in range(10, 16)]


def test_cheapest_takes_the_cheapest_free_member():
    dear, cheap = Member("dear", limit=4, price=0.10, delay=0.05), Member("cheap", limit=2, price=0.02, delay=0.05)
    p = pool("cheapest", dear, cheap)
    run_all(p, [req(i) for i in range(2)])
    assert len(cheap.made) == 2 and not dear.made
    run_all(p, [req(i) for i in range(10, 16)])  # more at once than the cheap one takes
    assert cheap.peak == 2 and dear.made


def test_members_that_cannot_edit_are_skipped_and_a_pool_fails_only_if_none_can():
    gens, both = Member("gens", edit=False), Member("both")
    p = pool("spread", gens, both)
    out = run_all(p, [req(i, "edit") for i in range(4)])
    assert {r.provider for r in out} == {"both"} and not gens.made
    only = pool("spread", Member("g1", edit=False), Member("g2", edit=False))
    assert "no member of pool 'p' can make this image" in only.problems(req(0, "edit"))[0]
    assert only.problems(req(0)) == []


def test_a_billed_failure_is_never_sent_again_and_a_refusal_is_the_variants_own():
    a, b = Member("a", limit=1), Member("b", limit=1)
    p = pool("fallback", a, b)
    a.fail = [AmbiguousError("sent, no answer"), ModerationBlocked("blocked")]
    out = run_all(p, [req(1)])
    assert isinstance(out[0], AmbiguousError) and not b.made
    out = run_all(p, [req(2)])
    assert isinstance(out[0], ModerationBlocked) and not b.made
    assert not p.breakers["a"].tripped  # the request's fault, not the member's


def test_every_member_failing_gives_the_last_error():
    a, b = Member("a"), Member("b")
    a.fail, b.fail = [AuthError("key refused a")], [AuthError("key refused b")]
    out = run_all(pool("spread", a, b), [req(0)])
    assert isinstance(out[0], AuthError)


def test_a_tripped_member_is_tried_again_after_its_rest():
    clock = Clock()
    a, b = Member("a", limit=1), Member("b", limit=1)
    p = pool("fallback", a, b, trip_after=1, cooldown_s=30, clock=clock)
    a.fail = [RetryableError("503")]
    run_all(p, [req(0)])
    assert b.made == ["k0"] and p.breakers["a"].tripped
    run_all(p, [req(1)])
    assert b.made == ["k0", "k1"]
    clock.now += 30
    run_all(p, [req(2)])
    assert a.made == ["k2"] and not p.breakers["a"].tripped


# -- catalog.yaml -------------------------------------------------------------------------------------

POOL_CATALOG = """
    check_text: "off"
    default_provider: both
    providers:
      a: {type: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: A_KEY, max_concurrency: 3}
      b: {type: openai, base_url: "http://127.0.0.1:8/v1", api_key_env: B_KEY, max_concurrency: 2}
      g: {type: gptimageapi, base_url: "http://127.0.0.1:7", api_key_env: G_KEY}
      both: {type: pool, members: [a, b], strategy: spread}
      gens: {type: pool, members: [g], strategy: fallback}
    """
CAMPAIGN = """
    campaign: c
    assets:
      - {name: hero, prompt: A mug, size: 1024x1024, quality: medium}
      - {name: loft, prompt: A loft, edit: {image: hero}}
    """


def test_a_pool_changes_no_cache_key_and_is_priced_at_its_dearest_member(tmp_path):
    root = write_catalog(tmp_path / "pool", {"catalog.yaml": POOL_CATALOG, "campaigns/c.yaml": CAMPAIGN})
    pooled = {p.key: p for p in Project.load(root).plan().items}
    direct = POOL_CATALOG.replace("default_provider: both", "default_provider: a")
    root2 = write_catalog(tmp_path / "direct", {"catalog.yaml": direct, "campaigns/c.yaml": CAMPAIGN})
    plain = {p.key: p for p in Project.load(root2).plan().items}
    assert {k: p.cache_key for k, p in pooled.items()} == {k: p.cache_key for k, p in plain.items()}
    assert pooled["c/hero/default"].est_cost == pytest.approx(plain["c/hero/default"].est_cost)
    Project.load(root).validate()


def test_pool_problems_are_reported_at_their_line(tmp_path):
    from pipelines.errors import CatalogError

    bad = POOL_CATALOG.replace("members: [a, b]", "members: [a, bb, both, a]")
    with pytest.raises(CatalogError) as info:
        Project.load(write_catalog(tmp_path / "x", {"catalog.yaml": bad, "campaigns/c.yaml": CAMPAIGN})).validate()
    text = "\n".join(str(i) for i in info.value.issues)
    assert "catalog.yaml:7: providers.both.members: unknown member 'bb'" in text, text
    assert "a pool cannot be its own member ('both')" in text and "members listed twice: a" in text
    edits_to_gens = CAMPAIGN.replace("{image: hero}}", "{image: hero}, provider: gens}")
    with pytest.raises(CatalogError) as info:
        Project.load(write_catalog(tmp_path / "y", {"catalog.yaml": POOL_CATALOG,
                                                      "campaigns/c.yaml": edits_to_gens})).validate()
    assert "no member of pool 'gens' can make this image (g: provider 'g' (gptimageapi) has no edit endpoint" \
        in str(info.value.issues[0])


def test_pool_only_keys_belong_to_pools(tmp_path):
    from pipelines.errors import CatalogError

    bad = POOL_CATALOG.replace("max_concurrency: 2}", "max_concurrency: 2, strategy: spread}")
    with pytest.raises(CatalogError) as info:
        Project.load(write_catalog(tmp_path / "x", {"catalog.yaml": bad, "campaigns/c.yaml": CAMPAIGN}))
    assert "strategy: only an entry of `type: pool` takes these" in str(info.value.issues[0])
