"""The Dagster code location: the catalog named by $ASSETPIPE_CATALOG (default ./assets_spec)."""

from pipelines.assets import build_definitions
from pipelines.catalog import default_catalog_dir
from pipelines.project import Project

defs = build_definitions(Project.load(default_catalog_dir()))
