"""The unit tier's rule, enforced: a unit test starts no process, opens no network socket (not even
on loopback: emulators belong to the integration tier) and never loads Dagster. A test that
breaks the rule fails with `TierViolation`, naming what it tried; move it to tests/integration.

Local sockets stay allowed (asyncio's event loop wakes itself through an AF_UNIX socket pair)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any, Iterator

import pytest

NETWORK_FAMILIES = {socket.AF_INET, socket.AF_INET6}


class TierViolation(AssertionError):
    pass


def _refuse(what: str):
    def refused(*args: Any, **kwargs: Any):
        raise TierViolation(f"a unit test may not {what}: move the test to tests/integration")

    return refused


def _network_only(what: str, real):
    def guarded(sock: socket.socket, *args: Any, **kwargs: Any):
        if sock.family in NETWORK_FAMILIES:
            raise TierViolation(f"a unit test may not {what} a network socket: move the test to tests/integration")
        return real(sock, *args, **kwargs)

    return guarded


def dagster_loaded() -> bool:
    return any(name == "dagster" or name.startswith(("dagster.", "dagster_")) for name in sys.modules)


@pytest.fixture(autouse=True)
def unit_tier_purity(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No subprocess, no fork, no network socket during the test; no Dagster loaded by it."""
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    monkeypatch.setattr(os, "system", _refuse("start a process"))
    monkeypatch.setattr(os, "fork", _refuse("fork"))
    monkeypatch.setattr(os, "posix_spawn", _refuse("start a process"))
    for method in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, method, _network_only(method, getattr(socket.socket, method)))
    before = dagster_loaded()
    yield
    if not before and dagster_loaded():
        raise TierViolation("a unit test loaded Dagster: move the test to tests/integration")
