"""The UI tier: a real dagster-webserver on 127.0.0.1 and Debian's headless Chromium."""

from tests.helpers.browser import chromium  # noqa: F401
from tests.helpers.webserver import dagster_webserver  # noqa: F401
