"""A holder whose machine vanishes (power or network gone: no FIN, no RST, the process still
alive) loses its leases within a bounded time: the server notices through the TCP keepalives the
holder's session asked for (pipelines.coordination.postgres: idle 10 s, 3 probes 5 s apart, a 25 s
user timeout). The holder runs in a network namespace of its own whose link the test cuts.
Needs root and iproute2 (CI runs as root); skipped without them.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time

import pytest

from pipelines.coordination.postgres import PgCoordinator
from tests.helpers.paths import ROOT
from tests.helpers.services import pg_bindir, start_postgres

pytestmark = [pytest.mark.slow, pytest.mark.deploy,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2")]

HOLDER = """
import asyncio, sys
from pipelines.coordination.postgres import PgCoordinator
async def main():
    c = PgCoordinator(sys.argv[1], "catalog.yaml:1")
    async with c.lease("vanishing"), c.slots("fp-vanishing", 1).hold():
        print("READY", flush=True)
        await asyncio.sleep(600)
asyncio.run(main())
"""


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


@pytest.fixture
def netns():
    """A namespace joined to this host by a veth pair on a /24 of its own: (name, host ip, ns ip)."""
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    ns, host_if, ns_if = f"apns{tag}", f"aph{tag}", f"apn{tag}"
    net = f"10.{random.randrange(200, 250)}.{random.randrange(1, 250)}"
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{net}.1/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{net}.2/24", "dev", ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        _ip("netns", "del", ns, check=False)
        _ip("link", "del", host_if, check=False)
        pytest.skip(f"cannot make a network namespace here: {exc.stderr.decode(errors='replace').strip()}")
    yield ns, ns_if, f"{net}.1", net
    _ip("netns", "del", ns, check=False)
    _ip("link", "del", host_if, check=False)


def test_a_vanished_holders_lease_and_slot_free_within_the_keepalive_bound(netns):
    if pg_bindir() is None:
        pytest.skip("PostgreSQL is not installed here")
    ns, ns_if, host_ip, net = netns
    with start_postgres(listen=("127.0.0.1", host_ip), trust=(f"{net}.0/24",)) as pg:
        holder = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", HOLDER,
                                   f"postgresql://postgres@{host_ip}:{pg.port}/postgres"],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        me = PgCoordinator(pg.dsn, "catalog.yaml:1")
        try:
            assert holder.stdout.readline().strip() == "READY", holder.stderr.read()
            assert me.held("vanishing")
            _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "down")  # the machine vanishes
            t0 = time.monotonic()

            async def take() -> float:
                async with me.lease("vanishing"), me.slots("fp-vanishing", 1).hold():
                    return time.monotonic() - t0

            freed_after = asyncio.run(asyncio.wait_for(take(), 60))
            assert holder.poll() is None  # the holder never died: only its network did
            assert 10 <= freed_after <= 40, freed_after  # not before the keepalives give up, not much after
        finally:
            holder.kill()
            holder.wait()
            me.close()
