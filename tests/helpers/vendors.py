"""Loopback vendors for CLI builds: the OpenAI emulator that draws a new take per call, pointed at
by a catalog's provider, with a test key that must never show up in any output, file or manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.openai import OpenAIEmulator, TakesOpenAI
from tests.helpers.catalogs import add_provider, set_setting

TEST_KEY_ENV = "ASSETPIPE_TEST_OPENAI_KEY"
TEST_KEY = "sk-test-e2e-5f0c2a9b7d"  # must never show up in any output, file or manifest


def use_openai(catalog: Path, emu: OpenAIEmulator, name: str = "openai") -> dict[str, str]:
    """Point provider `name` at the emulator and make it the default; returns the env for the CLI."""
    add_provider(catalog, name, {"type": "openai", "base_url": emu.base_url, "api_key_env": TEST_KEY_ENV,
                                 "timeout_s": 10, "max_retries": 0, "download_hosts": emu.download_hosts})
    set_setting(catalog, "default_provider", name)
    return {TEST_KEY_ENV: TEST_KEY}


@pytest.fixture
def openai_emu():
    with TakesOpenAI(latency=0.01) as emu:
        yield emu


@pytest.fixture(scope="session")
def session_openai():
    """One emulator for the catalogs built once per session (their catalog.yaml points at it).
    Tests count calls as differences, so sharing it couples nothing."""
    with TakesOpenAI(latency=0.01) as emu:
        yield emu
