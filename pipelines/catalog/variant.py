"""A variant: one image to produce (one Dagster asset, one cache key), as the catalog defines it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from providers.sizes import parse_size

Operation = Literal["generate", "edit", "render"]
InputRole = Literal["image", "mask"]
InputKind = Literal["file", "upstream"]  # a file under the catalog, or another variant's output

DEFAULT_SIZE = "1024x1024"
DEFAULT_FORMAT = "png"
EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}


@dataclass(frozen=True)
class Input:
    role: InputRole
    kind: InputKind
    ref: str  # catalog-relative path, or the upstream variant's key
    path: Path | None = None  # for files


@dataclass
class Variant:
    campaign: str
    asset: str
    vid: str  # "de/1024x1536", or "default" for an asset without a matrix
    values: dict[str, str]
    operation: Operation
    provider: str | None  # provider name from catalog.yaml (None for renders)
    model: str
    prompt: str | None
    params: dict[str, Any]
    text: tuple[str, ...]
    revision: int
    inputs: tuple[Input, ...]
    source: str  # "path:line" of the asset in its campaign file
    description: str | None = None
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    upstream_assets: tuple[str, ...] = ()  # "campaign/asset" of upstream assets
    locale: str | None = None  # the language of `text` (the matrix's, the campaign default, or the upstream's)
    retakes: int = 0  # paid takes after the first when a fresh take fails its text check

    @property
    def key(self) -> str:
        return f"{self.campaign}/{self.asset}/{self.vid}"

    @property
    def asset_id(self) -> str:
        return f"{self.campaign}/{self.asset}"

    @property
    def key_path(self) -> list[str]:
        return [self.campaign, self.asset, *self.values.values()] if self.values else [self.campaign, self.asset]

    @property
    def width(self) -> int:
        return parse_size(self.params["size"])[0]

    @property
    def height(self) -> int:
        return parse_size(self.params["size"])[1]

    @property
    def output_format(self) -> str:
        return self.params.get("output_format") or DEFAULT_FORMAT

    @property
    def relpath(self) -> str:
        return f"{self.campaign}/{self.asset}/{self.vid}.{EXT[self.output_format]}"

    @property
    def upstream_keys(self) -> list[str]:
        return [i.ref for i in self.inputs if i.kind == "upstream"]
