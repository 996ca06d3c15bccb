"""The integration tier: the CLI in subprocesses, vendor emulators on 127.0.0.1, Dagster runs,
several processes on one store, OCR, real PostgreSQL / redis / S3 servers for the deployment."""

from tests.helpers.builds import openai_example_built  # noqa: F401
from tests.helpers.catalogs import example_catalog  # noqa: F401
from tests.helpers.services import (  # noqa: F401
    pg_database,
    postgres,
    redis_server,
    s3_env,
    s3_server,
    s3_server_auth,
)
