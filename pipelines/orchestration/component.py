"""Adding a catalog to a Dagster code location a team already has.

In Python, merge a catalog's Definitions with the team's own:

    import dagster as dg
    from pipelines.orchestration.component import catalog_definitions

    defs = dg.Definitions.merge(team_defs, catalog_definitions("path/to/assets_spec"))

In a `dg` project (Dagster Components), a folder under the project's defs/ with a defs.yaml:

    type: pipelines.orchestration.component.CatalogComponent
    attributes:
      catalog: ../../../assets_spec        # relative to this defs.yaml, or absolute

Either gives what `pipelines.definitions` gives for one catalog: every catalog asset as a Dagster
asset partitioned by its variants, the reference images as observable sources, and each scheduled
campaign's job and schedule (launches and the CLI use Dagster's implicit asset job). The catalog is
read when the code location loads (reload it after editing the YAML). One catalog per code
location: two would both define the multi_asset `assetpipe_variants`, which Dagster refuses.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pipelines.errors import CatalogError, CatalogIssue
from pipelines.orchestration.definitions import build_definitions
from pipelines.review.project import load_project


def catalog_definitions(catalog_dir: str | os.PathLike) -> dg.Definitions:
    """The Dagster Definitions of the catalog in `catalog_dir` (the directory of its catalog.yaml).
    Raises CatalogError (every problem as path:line) when the catalog does not load."""
    root = Path(catalog_dir)
    if not (root / "catalog.yaml").is_file():
        raise CatalogError([CatalogIssue(str(root / "catalog.yaml"), 0, "no catalog here (catalog.yaml is missing)")])
    return build_definitions(load_project(root))  # with approvals.yaml's takes, as every entry point


class CatalogComponent(dg.Component, dg.Resolvable, dg.Model):
    """An assetpipe catalog: every variant of its campaigns as a Dagster asset, its build job and
    its schedules. `catalog` is the catalog's directory, relative to this defs.yaml or absolute."""

    catalog: str

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = Path(os.path.expanduser(self.catalog))
        if not path.is_absolute():
            path = context.path / path
        where = context.path / "defs.yaml"
        line = _line_of(where, "catalog:")
        if not (path / "catalog.yaml").is_file():
            raise CatalogError([CatalogIssue(str(where), line, f"catalog: {self.catalog} is not a catalog directory "
                                             f"(no catalog.yaml in {path.resolve()})")])
        try:
            return catalog_definitions(path)
        except CatalogError as exc:  # say which defs.yaml brought the catalog in
            raise CatalogError([*exc.issues, CatalogIssue(str(where), line, f"the catalog {self.catalog} does not load")]) from None


def _line_of(path: Path, text: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 1
    return next((i for i, row in enumerate(lines, 1) if row.strip().startswith(text)), 1)
