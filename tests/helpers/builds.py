"""The example catalog built once per session through the real CLI (Dagster runs cost seconds):
tests copy it (`copy_built`) before they change it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.openai import OpenAIEmulator
from tests.helpers.catalogs import copy_example
from tests.helpers.cli import run_cli
from tests.helpers.vendors import use_openai


def _built_once(tmp_path_factory, name: str, emu: OpenAIEmulator | None) -> tuple[Path, dict[str, str]]:
    cat = copy_example(tmp_path_factory.mktemp(name) / "catalog")
    env = use_openai(cat, emu) if emu is not None else {}
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    return cat, env


@pytest.fixture(scope="session")
def draft_example_built(tmp_path_factory):
    """The example built once with the draft provider: (catalog, env). Copy it before changing it."""
    return _built_once(tmp_path_factory, "draft-built", None)


@pytest.fixture(scope="session")
def openai_example_built(tmp_path_factory, session_openai):
    """The example built once through the OpenAI emulator: (catalog, env). Copy it before changing it."""
    return _built_once(tmp_path_factory, "openai-built", session_openai)
