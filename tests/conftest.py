"""The test suite in three tiers (README, "Run the tests"):

    tests/unit          pure code on tmp dirs: seconds; no process, no socket, no Dagster (enforced)
    tests/integration   the CLI in subprocesses, vendor emulators on 127.0.0.1, Dagster runs, OCR
    tests/ui            a real dagster-webserver, headless Chromium

Helpers and fixtures live in tests/helpers/ (one module per concern); the conftest.py of each tier
only wires the fixtures it uses. This one wires those several tiers share, so that a whole run
builds each shared catalog once.
"""

from tests.helpers.builds import draft_example_built  # noqa: F401
from tests.helpers.vendors import openai_emu, session_openai  # noqa: F401
