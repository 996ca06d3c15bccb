"""A `render` whose `from:` is a file under the catalog (refs/) is a local rendition of that file
(issue #15, item 15): it passed validate, then failed every build with "blob ... is missing from the
cache". A changed file makes it changed; the cache key is the file's content."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from pipelines.engine.engine import Engine
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog
from tests.helpers.images import make_image

CAMPAIGN = """
    campaign: a
    assets:
      - name: product_thumb
        render: {from: refs/product.png, size: 300x200, fit: cover, format: webp, quality: 80}
    """


def build(root: Path):
    project = Project.load(root)
    project.validate()
    plan = project.plan()
    return plan, Engine(project.catalog, project.store, project.planner(), project.pool).run(plan.items, plan.by_key)


def test_a_rendition_of_a_reference_file_builds_and_follows_the_file(tmp_path):
    root = write_catalog(tmp_path / "cat", {"campaigns/a.yaml": CAMPAIGN, "refs/product.png": b""})
    plan, [out] = build(root)
    assert plan.items[0].status == "missing"
    assert (out.status, out.error) == ("built", None) and out.planned.variant.operation == "render"
    record = out.record
    data = Project.load(root).store.blob_path(record["blob"]).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.size) == ("WEBP", (300, 200))
    assert record["cost_usd"] == 0 and record["provider"] == "local"

    plan, [again] = build(root)
    assert plan.items[0].status == "fresh" and again.status == "cached"

    (root / "refs" / "product.png").write_bytes(make_image(640, 480, "png", color=(10, 200, 10)))
    plan = Project.load(root).plan()
    assert plan.items[0].status == "changed" and "refs/product.png" in plan.items[0].reason
