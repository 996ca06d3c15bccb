"""The Dagster code location: the catalog named by $ASSETPIPE_CATALOG (default ./assets_spec)."""

from pipelines.catalog.loader import default_catalog_dir
from pipelines.orchestration.definitions import build_definitions
from pipelines.review.project import load_project

defs = build_definitions(load_project(default_catalog_dir()))
