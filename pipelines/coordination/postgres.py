"""Leases and vendor slots held in PostgreSQL: `coordination: postgresql://user@host:port/db`.

Every lock is a session-level advisory lock on ONE dedicated connection per process, so it lives
exactly as long as that session:

    lease(key)           pg_try_advisory_lock(<64-bit hash of the cache key>)
    slot of a vendor     pg_try_advisory_lock(<32-bit hash of the key fingerprint>, i), i < limit
                         (the two-int form never collides with the bigint one)

A holder that dies loses its locks when the server sees its connection end: at once for a killed
process (its kernel closes the socket), and for a vanished host (power, network) after the TCP
keepalives this client asks the server to use for its session: idle 10 s, then 3 probes 5 s apart,
and a 25 s user timeout, so within ~25 s. No server setting is needed. Heartbeat rows with a TTL were
measured too: they survive transaction poolers, but a late heartbeat (a busy loop, a GC pause)
hands a live holder's lease to someone else, and recovery always waits the full TTL.

Advisory locks are re-entrant within a session, so this process keeps its own books: a key or slot
it holds is never asked for again until released (a second task waits for the first one's release).
A thread owns the polling: every pass tries all waiting keys in one statement and each vendor's
free slots in one more, so a thousand waiting variants cost a few statements a tenth of a second.

A lost connection ends this process's coordination: the calls already in flight finish and are
stored, every new lease or slot fails with CoordinationError (the locks may be someone else's now),
and nothing reconnects behind the engine's back. The connection must be direct or through a
session-mode pool: a transaction-mode pooler (pgbouncer's default) moves a session's locks between
clients; the first connect checks for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, AsyncIterator

from pipelines.coordination.base import Coordinator
from pipelines.coordination.urls import expand, redact, shown
from pipelines.errors import CoordinationError
from providers.limits import SharedSlots

KEEPALIVE = {"idle": 10, "interval": 5, "count": 3}  # a vanished host's locks free within ~25 s
POLL_S = 0.1  # how often waiting keys and slots are tried again
HEARTBEAT_S = 5.0  # a `select 1` when idle, so a dead connection is noticed between builds' calls

LEASE_SQL = "select k from unnest(%s::bigint[]) as k where pg_try_advisory_lock(k)"
# One statement takes up to `n` free slots; slots this session holds are skipped (re-entrancy would
# hand them out again); CASE fixes the evaluation order and LIMIT stops at the n-th lock taken.
SLOT_SQL = ("select i from generate_series(0, %s::int - 1) as i where case when i = any(%s::int[]) "
            "then false else pg_try_advisory_lock(%s::int, i) end limit %s")
HELD_SQL = ("select exists(select 1 from pg_locks where locktype = 'advisory' and objsubid = 1 and granted "
            "and classid = %s::bigint::oid and objid = %s::bigint::oid)")


def hash64(namespace: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{namespace}\0{key}".encode()).digest()[:8], "big", signed=True)


def hash32(namespace: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{namespace}\0{key}".encode()).digest()[:4], "big", signed=True)


def session_options(idle: int, interval: int, count: int) -> str:
    """Server-side TCP keepalives for this session: how the server notices a vanished client."""
    return (f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} "
            f"-c tcp_keepalives_count={count} -c tcp_user_timeout={(idle + interval * count) * 1000}")


class _Waiter:
    """One task waiting for a lock; granted by the session thread, on the task's own loop."""

    def __init__(self, release: tuple):
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future = self.loop.create_future()
        self.release = release  # the release order for what it is granted (a slot adds its number)
        self.granted: tuple | None = None
        self.abandoned = False

    def settle(self, value: Any = None, error: BaseException | None = None) -> bool:
        def apply() -> None:
            if not self.future.done():
                self.future.set_exception(error) if error else self.future.set_result(value)
        try:
            self.loop.call_soon_threadsafe(apply)
            return True
        except RuntimeError:  # its loop is closed: nobody will use what we took
            return False


class Session:
    """The process's lock connection to one database, and the thread that polls for waiters."""

    def __init__(self, url: str, display: str, secrets: list[str]):
        self.url, self.display, self.secrets = url, display, secrets
        self._cv = threading.Condition()
        self._start_lock = threading.Lock()
        self._conn = None
        self._thread: threading.Thread | None = None
        self._last = time.monotonic()
        self._kick = False
        self._closing = False
        self.lost: str | None = None
        self._lease_wait: dict[int, deque[_Waiter]] = {}
        self._slot_wait: dict[tuple[int, int], deque[_Waiter]] = {}
        self._held_leases: set[int] = set()
        self._held_slots: dict[int, set[int]] = {}
        self._releases: list[tuple] = []
        self._returns: list[_Waiter] = []  # holders waiting for their release to be done

    # -- connecting ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._start_lock:
            if self.lost:
                raise CoordinationError(self.lost)
            if self._thread is not None:
                return
            self._conn = self._connect()
            self._thread = threading.Thread(target=self._run, name="assetpipe-coordination", daemon=True)
            self._thread.start()

    def _connect(self):
        try:
            import psycopg
        except ImportError:
            raise CoordinationError(f"coordination {self.display} needs psycopg: "
                                    "pip install 'assetpipe[deploy]'") from None
        try:
            conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=10, options=session_options(**KEEPALIVE),
                application_name=f"assetpipe {socket.gethostname()}:{os.getpid()}"[:63],
                keepalives=1, keepalives_idle=KEEPALIVE["idle"], keepalives_interval=KEEPALIVE["interval"],
                keepalives_count=KEEPALIVE["count"])
        except psycopg.Error as exc:
            raise CoordinationError(f"cannot connect to the coordination database {self.display}: "
                                    f"{self._say(exc)}") from None
        self._check_session(conn)
        return conn

    def _check_session(self, conn) -> None:
        """A lock taken by one statement must be seen by the next: not so through a pooler in
        transaction mode, where each statement may run on another server connection."""
        probe = hash64("probe", f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}")
        conn.execute("select pg_advisory_lock(%s)", (probe,))
        mine = conn.execute("select count(*) from pg_locks where locktype = 'advisory' and objsubid = 1 "
                            "and pid = pg_backend_pid() and classid = %s::bigint::oid and objid = %s::bigint::oid",
                            _split(probe)).fetchone()[0]
        conn.execute("select pg_advisory_unlock(%s)", (probe,))
        if mine != 1:
            conn.close()
            raise CoordinationError(
                f"coordination {self.display}: a lock taken by one statement is not held by the next one; the "
                "connection goes through a pooler in transaction mode. Connect directly, or through a "
                "session-mode pool.")

    def _say(self, exc: BaseException) -> str:
        return redact((str(exc).strip().splitlines() or [type(exc).__name__])[0], self.secrets)

    def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(5)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # the server drops every lock of the session

    # -- what tasks call -------------------------------------------------------------------------
    async def acquire_lease(self, k: int) -> None:
        await self._wait(self._lease_wait, k, ("lease", k))

    async def acquire_slot(self, cls: int, limit: int) -> int:
        return await self._wait(self._slot_wait, (cls, limit), ("slot", cls))

    async def _wait(self, table: dict, key, release: tuple):
        if self._thread is None:
            await asyncio.to_thread(self.start)
        w = _Waiter(release)
        with self._cv:
            if self.lost:
                raise CoordinationError(self.lost)
            table.setdefault(key, deque()).append(w)
            self._kick = True
            self._cv.notify()
        try:
            return await w.future
        except BaseException:  # cancelled (or failed): give back what may have been granted meanwhile
            with self._cv:
                w.abandoned = True
                if w.granted is not None:
                    self._release_locked(w.granted)
                with contextlib.suppress(ValueError, KeyError):
                    table[key].remove(w)
            raise

    async def give_back(self, what: tuple) -> None:
        """Give a lease or slot back; returns once the server has it (a peek then sees it free)."""
        with self._cv:
            if self.lost or self._thread is None:
                self._forget(what)
                return
            w = _Waiter(what)
            self._returns.append(w)
            self._release_locked(what)
        await w.future

    def _release_locked(self, what: tuple) -> None:
        if self.lost:  # the session is gone, and its locks with it: only the books are left
            self._forget(what)
            return
        self._releases.append(what)
        self._kick = True
        self._cv.notify()

    def held(self, k: int) -> bool:
        if k in self._held_leases:
            return True
        self.start()
        try:
            return bool(self._conn.execute(HELD_SQL, _split(k)).fetchone()[0])
        except Exception as exc:
            raise CoordinationError(f"coordination {self.display}: {self._say(exc)}") from None

    # -- the session thread ----------------------------------------------------------------------
    def _run(self) -> None:
        returns: list[_Waiter] = []
        try:
            while True:
                with self._cv:
                    if not self._kick and not self._closing:
                        waiting = any(self._lease_wait.values()) or any(self._slot_wait.values())
                        self._cv.wait(POLL_S if waiting else HEARTBEAT_S)
                    if self._closing:
                        return
                    self._kick = False
                    releases, self._releases = self._releases, []
                    returns, self._returns = self._returns, []
                self._unlock(releases)
                for w in returns:
                    w.settle()
                returns = []
                self._try_leases()
                self._try_slots()
                if time.monotonic() - self._last >= HEARTBEAT_S:
                    self._q("select 1")
        except Exception as exc:  # the connection is gone (or the server refused us): stop here
            self._fail(exc, returns)

    def _q(self, sql: str, params: tuple = ()):
        self._last = time.monotonic()
        return self._conn.execute(sql, params)

    def _unlock(self, releases: list[tuple]) -> None:
        keys = [r[1] for r in releases if r[0] == "lease"]
        slots = [(r[1], r[2]) for r in releases if r[0] == "slot"]
        if keys:
            self._q("select pg_advisory_unlock(k) from unnest(%s::bigint[]) as k", (keys,))
        if slots:
            self._q("select pg_advisory_unlock(c, i) from unnest(%s::int[], %s::int[]) as t(c, i)",
                               ([c for c, _ in slots], [i for _, i in slots]))
        with self._cv:
            for r in releases:
                self._forget(r)

    def _forget(self, what: tuple) -> None:
        if what[0] == "lease":
            self._held_leases.discard(what[1])
        else:
            self._held_slots.get(what[1], set()).discard(what[2])

    def holds_nothing(self) -> bool:
        with self._cv:
            return not self._held_leases and not any(self._held_slots.values())

    def _try_leases(self) -> None:
        with self._cv:
            wanted = [k for k, ws in self._lease_wait.items() if ws and k not in self._held_leases]
        if not wanted:
            return
        got = [r[0] for r in self._q(LEASE_SQL, (wanted,)).fetchall()]
        with self._cv:
            for k in got:
                self._held_leases.add(k)
                self._grant(self._lease_wait, k, ("lease", k))

    def _try_slots(self) -> None:
        with self._cv:
            groups = [(cls, limit, len(ws), sorted(self._held_slots.get(cls, ())))
                      for (cls, limit), ws in self._slot_wait.items() if ws]
        for cls, limit, n, held in groups:
            got = [r[0] for r in self._q(SLOT_SQL, (limit, held, cls, n)).fetchall()]
            with self._cv:
                for i in got:
                    self._held_slots.setdefault(cls, set()).add(i)
                    self._grant(self._slot_wait, (cls, limit), ("slot", cls, i), value=i)

    def _grant(self, table: dict, key, what: tuple, value: Any = None) -> None:
        """Hand a lock just taken to the first live waiter; with none left, give it back."""
        queue = table.get(key) or deque()
        while queue:
            w = queue.popleft()
            if not w.abandoned:
                w.granted = what
                if w.settle(value):
                    break
        else:
            self._release_locked(what)
        if not queue:
            table.pop(key, None)

    def _fail(self, exc: BaseException, returns: list[_Waiter]) -> None:
        message = (f"lost the coordination database {self.display} ({self._say(exc)}): this process sends "
                   "no new vendor call; the calls in flight finish and are stored")
        with self._cv:
            self.lost = message
            for r in self._releases:
                self._forget(r)
            self._releases.clear()
            returns, self._returns = returns + self._returns, []
            waiters = [w for ws in (*self._lease_wait.values(), *self._slot_wait.values()) for w in ws]
            self._lease_wait.clear()
            self._slot_wait.clear()
        for w in waiters:
            w.settle(error=CoordinationError(message))
        for w in returns:  # their locks went with the session
            w.settle()
        with contextlib.suppress(Exception):
            self._conn.close()


def _split(k: int) -> tuple[int, int]:
    """A bigint advisory key as pg_locks shows it: (classid, objid), the high and low 32 bits."""
    u = k & 0xFFFFFFFFFFFFFFFF
    return u >> 32, u & 0xFFFFFFFF


_sessions: dict[tuple[int, str], Session] = {}
_sessions_lock = threading.Lock()


def session_for(url: str, display: str, secrets: list[str]) -> Session:
    """One session per process and database URL (a forked child gets its own: the key has the pid).
    A lost session is replaced only once none of its leases or slots is still in use: until then a
    task of this process may still be producing under a lock the server has let go."""
    key = (os.getpid(), url)
    with _sessions_lock:
        s = _sessions.get(key)
        if s is None or (s.lost and s.holds_nothing()):
            s = _sessions[key] = Session(url, display, secrets)
        return s


class PgSlots:
    def __init__(self, coordinator: "PgCoordinator", fingerprint: str, limit: int):
        self.coordinator = coordinator
        self.cls = hash32("slots", fingerprint)
        self.limit = limit

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        session = self.coordinator.session()
        i = await session.acquire_slot(self.cls, self.limit)
        try:
            yield
        finally:
            await session.give_back(("slot", self.cls, i))


class PgCoordinator(Coordinator):
    def __init__(self, template: str, source: str, local_root: Path | None = None):
        self.template, self.source = template, source
        self.description = shown(template)
        self.local_root = local_root
        self._url: tuple[str, list[str]] | None = None
        self._session: Session | None = None

    def session(self) -> Session:
        if self._url is None:
            self._url = expand(self.template, self.source)
        url, secrets = self._url
        self._session = session_for(url, f"{self.description} ({self.source})", secrets)
        return self._session

    def check(self) -> None:
        self.session().start()

    @contextlib.asynccontextmanager
    async def lease(self, key: str) -> AsyncIterator[None]:
        session, k = self.session(), hash64("lease", key)
        await session.acquire_lease(k)
        try:
            yield
        finally:
            await session.give_back(("lease", k))

    def held(self, key: str) -> bool:
        return self.session().held(hash64("lease", key))

    def slots(self, fingerprint: str, limit: int) -> SharedSlots:
        return PgSlots(self, fingerprint, limit)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
