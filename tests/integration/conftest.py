"""The integration tier: the CLI in subprocesses, vendor emulators on 127.0.0.1, Dagster runs,
several processes on one store, OCR."""

from tests.helpers.builds import openai_example_built  # noqa: F401
from tests.helpers.catalogs import example_catalog  # noqa: F401
