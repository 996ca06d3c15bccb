"""The unit tier's rule is enforced (tests/helpers/purity.py), not just written down: starting a
process, opening a network socket or loading Dagster fails the test that does it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import types

import pytest

from tests.helpers.purity import TierViolation, dagster_loaded


@pytest.mark.parametrize("start", [
    lambda: subprocess.run(["true"], check=True),
    lambda: os.system("true"),
    lambda: os.fork(),
], ids=["subprocess", "system", "fork"])
def test_a_process_is_refused(start):
    with pytest.raises(TierViolation, match="tests/integration"):
        start()


@pytest.mark.parametrize("family,addr", [(socket.AF_INET, ("127.0.0.1", 9)), (socket.AF_INET6, ("::1", 9))])
def test_a_network_socket_is_refused_even_on_loopback(family, addr):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        with pytest.raises(TierViolation):
            s.connect(addr)
        with pytest.raises(TierViolation):
            s.bind(addr[:1] + (0,))


def test_local_sockets_and_event_loops_still_work():
    a, b = socket.socketpair()  # what asyncio's loop wakes itself with
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"
    assert asyncio.run(asyncio.sleep(0, result=42)) == 42


def test_dagster_modules_are_recognized(monkeypatch):
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "dagster_tier_probe", types.ModuleType("dagster_tier_probe"))
        assert dagster_loaded()
    assert "dagster_tier_probe" not in sys.modules
