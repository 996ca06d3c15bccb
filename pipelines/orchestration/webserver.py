"""`dagster-webserver` with the catalog's images beside the UI, for `assetpipe ui`.

    python -m pipelines.orchestration.webserver [dagster-webserver options]

A variant's materialization shows a preview linked to the full image (results.py). Dagster's UI
shows markdown inline only under 1,000 characters, so the pixels cannot be in the event: a
readable preview is a few tens of kB, and 100,000 variants of them would be gigabytes of event log
written at every build. The event holds two short links instead, served here on the UI's own
origin (so they work on any host and port):

  /assetpipe/preview/<sha256>   a JPEG whose longer side is PREVIEW_PX, made once per image and
                                kept in <catalog>/.assetpipe/previews/
  /assetpipe/image/<sha256>     the image itself, from the cache store

The catalog is $ASSETPIPE_CATALOG, as for the code location. Only names of 64 hex digits are
served, and only from the store: a request cannot name a path.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route, Router

from pipelines.cache.files import atomic_write
from pipelines.cache.store import Store
from pipelines.catalog.loader import default_catalog_dir, load_catalog
from pipelines.errors import AssetpipeError
from pipelines.orchestration.results import IMAGE_PATH, PREVIEW_PATH
from pipelines.outputs.preview import thumbnail_bytes

PREVIEW_PX = 384  # a poster's headline is readable; the asset page shows it at its own size
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CACHE = "public, max-age=31536000, immutable"  # a name is the hash of its bytes
KINDS = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}


class Images:
    """The two routes, for one catalog (its store and its preview folder)."""

    def __init__(self, catalog_dir: Path):
        catalog = load_catalog(catalog_dir, partial=True)
        self.store = Store(catalog.cache_url)
        self.previews = catalog.state_dir / "previews"
        self.router = Router(routes=[Route(PREVIEW_PATH + "{name}", self.preview),
                                     Route(IMAGE_PATH + "{name}", self.image)])

    async def image(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not SHA256.match(name):
            return PlainTextResponse("not an image name", status_code=404)
        try:
            path = await asyncio.to_thread(self.store.blob_path, name)
        except AssetpipeError:
            return PlainTextResponse("no such image in the cache", status_code=404)
        with open(path, "rb") as f:
            head = f.read(4)
        kind = next((k for magic, k in KINDS.items() if head.startswith(magic)), "application/octet-stream")
        return FileResponse(path, media_type=kind, headers={"Cache-Control": CACHE})

    async def preview(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not SHA256.match(name):
            return PlainTextResponse("not an image name", status_code=404)
        path = self.previews / f"{name}.jpg"
        if not path.exists():
            try:
                await asyncio.to_thread(self._make_preview, name, path)
            except AssetpipeError:
                return PlainTextResponse("no such image in the cache", status_code=404)
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": CACHE})

    def _make_preview(self, name: str, path: Path) -> None:
        atomic_write(path, thumbnail_bytes(self.store.blob_path(name), max_px=PREVIEW_PX, quality=80))


class WithImages:
    """ASGI: requests under /assetpipe/ go to `images`, everything else to Dagster's app."""

    def __init__(self, app, images: Images):
        self.app, self.images = app, images

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/assetpipe/"):
            return await self.images.router(scope, receive, send)
        return await self.app(scope, receive, send)


def main() -> None:
    import dagster_webserver.cli as cli

    images = Images(default_catalog_dir())
    create = cli.create_app_from_workspace_process_context

    def create_with_images(*args, **kwargs):
        return WithImages(create(*args, **kwargs), images)

    cli.create_app_from_workspace_process_context = create_with_images
    sys.argv[0] = "dagster-webserver"
    cli.main()


if __name__ == "__main__":
    main()
