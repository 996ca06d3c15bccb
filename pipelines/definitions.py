"""The Dagster code location: the catalog named by $ASSETPIPE_CATALOG (default ./assets_spec)."""

from pipelines.catalog.loader import default_catalog_dir
from pipelines.orchestration.definitions import build_definitions
from pipelines.plan.project import Project

defs = build_definitions(Project.load(default_catalog_dir()))
