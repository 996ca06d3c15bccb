"""Leases and vendor slots in PostgreSQL (pipelines.coordination.postgres), against a real server.

A "process" here is a coordination session: each distinct database URL gets its own connection,
so two URLs to one database (differing in a harmless parameter) act as two machines in one test
process. The crash tests use real processes, killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from pipelines.coordination.postgres import PgCoordinator, hash64
from pipelines.errors import CoordinationError
from tests.helpers.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.deploy]


def machines(dsn: str, n: int) -> list[PgCoordinator]:
    """`n` coordinators that share the database but not a session (as n machines would)."""
    sep = "&" if "?" in dsn else "?"
    return [PgCoordinator(f"{dsn}{sep}connect_timeout={10 + i}", f"catalog.yaml:{i + 1}") for i in range(n)]


async def _hold(coord_slots, events: list, tag: str, hold_s: float) -> None:
    async with coord_slots.hold():
        events.append((time.monotonic(), +1, tag))
        await asyncio.sleep(hold_s)
        events.append((time.monotonic(), -1, tag))


def _peak(events: list) -> int:
    # an end and a start at the same instant: count the end first (no overlap)
    peak = cur = 0
    for _, d, _ in sorted(events, key=lambda e: (e[0], e[1])):
        cur += d
        peak = max(peak, cur)
    return peak


def test_slots_are_shared_by_every_session_and_never_exceed_the_limit(pg_database):
    coords = machines(pg_database, 3)
    events: list = []

    async def main():
        slots = [c.slots("fp-shared", 4) for c in coords]  # one key, three machines
        await asyncio.gather(*(_hold(s, events, f"m{i}", 0.15) for i, s in enumerate(slots) for _ in range(6)))

    try:
        asyncio.run(main())
    finally:
        for c in coords:
            c.close()
    assert len(events) == 36
    assert _peak(events) == 4  # the limit reached, never passed, although each machine alone allows 4


def test_two_limits_for_one_key_are_bounded_by_the_larger(pg_database):
    a, b = machines(pg_database, 2)
    events: list = []

    async def main():
        await asyncio.gather(*(_hold(a.slots("fp", 2), events, "a", 0.1) for _ in range(5)),
                             *(_hold(b.slots("fp", 3), events, "b", 0.1) for _ in range(5)))

    try:
        asyncio.run(main())
    finally:
        a.close(), b.close()
    assert _peak(events) <= 3


def test_a_lease_is_single_flight_across_sessions_and_within_one(pg_database):
    coords = machines(pg_database, 2)
    inside: dict[str, int] = {}
    overlap: list[int] = []

    async def produce(c: PgCoordinator, key: str) -> None:
        async with c.lease(key):
            inside[key] = inside.get(key, 0) + 1
            overlap.append(inside[key])
            await asyncio.sleep(0.3)  # longer than a polling pass: a second grant would overlap
            inside[key] -= 1

    async def main():
        # two tasks of one machine and two of another for each of three keys
        await asyncio.gather(*(produce(c, k) for k in ("k1", "k2", "k3") for c in coords for _ in range(2)))

    try:
        asyncio.run(main())
        assert overlap == [1] * 12  # advisory locks are re-entrant per session: the books prevent that
        assert not coords[0].held("k1")  # all given back
    finally:
        for c in coords:
            c.close()


def test_held_peeks_at_another_sessions_lease_without_taking_it(pg_database):
    a, b = machines(pg_database, 2)

    async def main():
        async with a.lease("key"):
            assert a.held("key") and b.held("key")
            assert not b.held("other")
        assert not b.held("key")

    try:
        asyncio.run(main())
    finally:
        a.close(), b.close()


def test_a_cancelled_waiter_leaves_nothing_held(pg_database):
    a, b = machines(pg_database, 2)

    async def main():
        async with a.lease("key"):
            waiter = asyncio.create_task(_enter(b, "key"))
            await asyncio.sleep(0.3)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        await asyncio.wait_for(_enter(b, "key"), 5)  # b can take it, then gives it back
        await asyncio.wait_for(_enter(a, "key"), 5)

    try:
        asyncio.run(main())
    finally:
        a.close(), b.close()


async def _enter(c: PgCoordinator, key: str) -> None:
    async with c.lease(key):
        pass


HOLDER = """
import asyncio, sys
from pipelines.coordination.postgres import PgCoordinator
async def main():
    c = PgCoordinator(sys.argv[1], "catalog.yaml:1")
    async with c.lease("held-key"), c.slots("fp-kill", 2).hold(), c.slots("fp-kill", 2).hold():
        print("READY", flush=True)
        await asyncio.sleep(600)
asyncio.run(main())
"""


def test_a_killed_holder_loses_its_lease_and_slots_at_once(pg_database):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, pg_database], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    (me,) = machines(pg_database, 1)
    try:
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
        assert me.held("held-key")

        async def blocked() -> bool:
            try:
                await asyncio.wait_for(_enter(me, "held-key"), 0.5)
                return False
            except asyncio.TimeoutError:
                return True

        assert asyncio.run(blocked())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()

        async def take_all():
            slots = me.slots("fp-kill", 2)
            async with me.lease("held-key"), slots.hold(), slots.hold():
                return time.monotonic() - t0

        assert asyncio.run(asyncio.wait_for(take_all(), 10)) < 5  # milliseconds in practice
    finally:
        proc.kill()
        me.close()


def test_a_session_asks_the_server_to_notice_a_vanished_host_within_25_s(pg_database):
    (c,) = machines(pg_database, 1)
    try:
        c.check()
        conn = c.session()._conn
        settings = {name: conn.execute(f"show {name}").fetchone()[0] for name in
                    ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout")}
        assert settings == {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                            "tcp_keepalives_count": "3", "tcp_user_timeout": "25000"}, settings
        app = conn.execute("show application_name").fetchone()[0]
        assert app.startswith("assetpipe ") and str(os.getpid()) in app
    finally:
        c.close()


def test_a_lost_connection_fails_new_leases_clearly_and_lets_holders_finish(pg_database):
    (c,) = machines(pg_database, 1)

    async def main():
        async with c.lease("in-flight"):  # a call in flight when the connection dies
            pid = c.session()._conn.execute("select pg_backend_pid()").fetchone()[0]
            with psycopg.connect(pg_database, autocommit=True) as admin:
                admin.execute("select pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 15
            while c.session().lost is None:  # the session thread notices within a heartbeat
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            with pytest.raises(CoordinationError, match="lost the coordination database"):
                await _enter(c, "another")
        # nothing of the dead session is in use any more: the next lease reconnects
        await asyncio.wait_for(_enter(c, "another"), 10)

    try:
        asyncio.run(main())
    finally:
        c.close()


def test_connection_errors_name_the_database_never_the_password(postgres, monkeypatch):
    monkeypatch.setenv("ASSETPIPE_TEST_PG_PASSWORD", "s3cr3t-pw")
    dead = f"postgresql://postgres:${{ASSETPIPE_TEST_PG_PASSWORD}}@127.0.0.1:{_closed_port()}/x"
    with pytest.raises(CoordinationError) as err:
        PgCoordinator(dead, "catalog.yaml:4").check()
    msg = str(err.value)
    assert "s3cr3t-pw" not in msg and "catalog.yaml:4" in msg and "${ASSETPIPE_TEST_PG_PASSWORD}" in msg
    literal = f"postgresql://postgres:hunter2@127.0.0.1:{_closed_port()}/x"
    with pytest.raises(CoordinationError) as err:
        PgCoordinator(literal, "catalog.yaml:4").check()
    assert "hunter2" not in str(err.value) and "postgres:***@" in str(err.value)


def test_an_unset_variable_is_named_before_any_connection(monkeypatch):
    monkeypatch.delenv("ASSETPIPE_NOT_SET", raising=False)
    with pytest.raises(CoordinationError, match=r"catalog.yaml:3: coordination uses \$\{ASSETPIPE_NOT_SET\}"):
        PgCoordinator("postgresql://u:${ASSETPIPE_NOT_SET}@db.invalid/x", "catalog.yaml:3").check()


def test_lease_keys_are_64_bit_and_stable():
    assert hash64("lease", "a" * 64) == hash64("lease", "a" * 64) != hash64("lease", "b" * 64)
    assert -(2 ** 63) <= hash64("lease", "x") < 2 ** 63


def _closed_port() -> int:
    from tests.helpers.services import free_port

    return free_port()

