"""The catalog language as typed models: catalog.yaml and campaigns/*.yaml.

Every model forbids unknown keys, so a marketer's typo fails validation with its line instead of
being ignored. String-or-dict shorthands (`edit: mug_hero`) are accepted where they read naturally.
Loading (files -> models, with line numbers) lives in `pipelines.catalog.loader`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipelines.coordination.urls import check_form
from providers.base import ProviderConfig
from providers.sizes import parse_size

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
FIELD_KEYS = {"size", "quality", "background", "output_format", "compression", "fidelity", "provider", "revision",
              "retakes"}
MAX_RETAKES = 10

Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Quality = Literal["low", "medium", "high", "auto"]
Background = Literal["transparent", "opaque", "auto"]
Format = Literal["png", "jpeg", "webp"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_size(v: str | None) -> str | None:
    if v is None:
        return v
    try:
        w, h = parse_size(v)
    except ValueError as exc:  # the error is shown as "size: ...": do not say "size" twice
        raise ValueError(str(exc).removeprefix("size ")) from None
    return f"{w}x{h}"


class Params(Strict):
    """Image parameters; set in catalog defaults, campaign defaults, an asset, or a matrix key."""

    size: str | None = None
    quality: Quality | None = None
    background: Background | None = None
    output_format: Format | None = None
    compression: int | None = Field(default=None, ge=0, le=100)
    fidelity: Literal["high", "low"] | None = None
    # paid takes after the first when a take fails its text check (README "Retakes")
    retakes: int | None = Field(default=None, ge=0, le=MAX_RETAKES)

    _size = field_validator("size")(classmethod(lambda cls, v: _check_size(v)))


Strategy = Literal["spread", "fallback", "cheapest"]
Lane = Literal["sync", "batch"]
POOL_ONLY = ("members", "strategy", "cooldown_s", "trip_after")


class ProviderEntry(ProviderConfig):
    """One entry of `providers:`: a vendor, or (`type: pool`) a pool of other entries that builds
    each image on one of its `members` by `strategy` (pipelines.plan.pools)."""

    members: list[str] | None = None
    strategy: Strategy = "spread"
    cooldown_s: float = Field(default=60.0, gt=0)  # a tripped member rests this long before a trial call
    trip_after: int = Field(default=2, ge=1, le=100)  # consecutive failed calls that trip a member

    @model_validator(mode="after")
    def _pool_keys(self) -> "ProviderEntry":
        if self.type == "pool":
            if not self.members:
                raise ValueError("a pool needs `members:`, a list of other provider entries")
        else:
            extra = [k for k in POOL_ONLY if k in self.model_fields_set]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only an entry of `type: pool` takes these")
        return self


class LocaleSettings(Strict):
    default: str = "en"
    fallback: bool = False  # fill a locale's missing strings from the default locale


class Uploads(Strict):
    target: str
    public_url: str

    @field_validator("public_url")
    @classmethod
    def _https(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("public_url must be an https:// URL (vendors fetch inputs from it)")
        return v.rstrip("/")


class Limits(Strict):
    """What one catalog may ask for (`limits:` in catalog.yaml): hostile or mistaken input ends in a
    clear error instead of a hang or an out-of-memory crash."""

    variants: int = Field(default=100_000, ge=1, le=10_000_000)  # variants in the whole catalog
    file_mb: float = Field(default=2.0, gt=0, le=1024)  # one campaign, locale or partial file
    matrix_entries: int = Field(default=10_000, ge=1, le=1_000_000)  # one include: or exclude: list
    template_chars: int = Field(default=1_000_000, ge=1_000, le=100_000_000)  # what one template renders
    template_seconds: float = Field(default=2.0, gt=0, le=600)  # rendering one template, partials included

    @property
    def file_bytes(self) -> int:
        return int(self.file_mb * (1 << 20))


class Publish(Strict):
    """`publish: {dir: published}`: a mirror of output_dir holding only approved bytes."""

    dir: str = "published"


class Settings(Strict):
    """catalog.yaml"""

    providers: dict[str, ProviderEntry] = Field(default_factory=lambda: {"draft": ProviderEntry(type="draft")})
    default_provider: str = "draft"  # after providers: its validator checks against them
    uploads: Uploads | None = None
    cache: str = ".assetpipe/cache"
    # where builds on many machines meet (leases, vendor slots): postgresql://user@host:port/db,
    # `${VAR}` filled from the environment; unset: lock files under .assetpipe/locks (one machine)
    coordination: str | None = None
    output_dir: str = "out"
    publish: Publish | None = None
    defaults: Params = Field(default_factory=Params)
    locales: LocaleSettings = Field(default_factory=LocaleSettings)
    pricing: dict[str, Price] = Field(default_factory=dict)  # provider name -> USD per call override
    check_text: Literal["auto", "off", "required"] = "auto"  # OCR text checks: auto = when OCR is installed
    # after SIGTERM/SIGINT: seconds the calls in flight get to land before they are cancelled
    stop_grace_s: float = Field(default=30.0, ge=0, le=3600)
    limits: Limits = Field(default_factory=Limits)
    lane: Lane = "sync"  # how builds pay for missing images: sync calls, or the vendor's Batch API

    @field_validator("check_text", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:  # YAML reads a bare `off` as False
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("coordination")
    @classmethod
    def _coordination_url(cls, v: str | None) -> str | None:
        problem = check_form(v) if v else None
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("cache")
    @classmethod
    def _cache_protocol(cls, v: str) -> str:
        proto = v.split("://", 1)[0] if "://" in v else None
        if proto and proto != "file":
            import fsspec  # only for remote caches

            if proto not in fsspec.available_protocols():
                raise ValueError(f"unknown storage protocol {proto!r} in {v!r} (known: s3, gcs, az, memory ... "
                                 "with their fsspec package installed)")
            try:  # a known protocol whose package is not installed (gcs:// without gcsfs)
                fsspec.get_filesystem_class(proto)
            except ImportError as exc:
                raise ValueError(f"storage protocol {proto!r} in {v!r} needs a package that is not installed: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        return v

    @field_validator("publish")
    @classmethod
    def _publish_apart(cls, v: Publish | None, info: ValidationInfo) -> Publish | None:
        out = info.data.get("output_dir")
        if v is not None and out is not None and v.dir.rstrip("/") == out.rstrip("/"):
            raise ValueError("publish.dir must differ from output_dir: it holds only approved images")
        return v

    @field_validator("default_provider")
    @classmethod
    def _default_known(cls, v: str, info: ValidationInfo) -> str:
        # a field validator, not a model one, so the error carries the line of default_provider
        providers = info.data.get("providers")
        if providers is not None and v not in providers:
            raise ValueError(f"{v!r} is not one of providers: {', '.join(providers)}")
        return v


class EditSpec(Strict):
    image: str | list[str]
    mask: str | None = None
    where: dict[str, Any] = Field(default_factory=dict)

    @property
    def images(self) -> list[str]:
        return [self.image] if isinstance(self.image, str) else list(self.image)


class RenderSpec(Strict):
    from_: str = Field(alias="from")
    where: dict[str, Any] = Field(default_factory=dict)
    size: str
    fit: Literal["cover", "contain", "stretch"] = "cover"
    format: Format | None = None
    quality: int | None = Field(default=None, ge=1, le=100)

    _size = field_validator("size")(classmethod(lambda cls, v: _check_size(v)))


class AssetSpec(Params):
    name: str
    description: str | None = None
    prompt: str | None = None
    # expected in-image text; default: the quoted strings of the prompt, else (edits, renders) the upstream's
    text: list[str] | None = Field(default=None, max_length=100)
    revision: int = 0
    provider: str | None = None
    matrix: dict[str, Any] | None = None
    edit: EditSpec | None = None
    render: RenderSpec | None = None
    owners: list[str] | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("asset names are letters, digits and _ and start with a letter")
        return v

    @field_validator("edit", mode="before")
    @classmethod
    def _edit_shorthand(cls, v: Any) -> Any:
        return {"image": v} if isinstance(v, (str, list)) else v

    @model_validator(mode="after")
    def _one_operation(self) -> "AssetSpec":
        if self.render is not None and self.edit is not None:
            raise ValueError("an asset is either an edit or a render, not both")
        if self.render is None and not self.prompt:
            raise ValueError("a generated or edited asset needs a prompt")
        if self.render is not None and self.prompt:
            raise ValueError("a render makes no provider call: it takes no prompt")
        return self

    @property
    def operation(self) -> str:
        return "render" if self.render else "edit" if self.edit else "generate"


class CampaignSpec(Strict):
    campaign: str
    description: str | None = None
    owners: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    locales: list[str] = Field(default_factory=list)
    defaults: Params = Field(default_factory=Params)
    provider: str | None = None
    schedule: str | None = None
    lane: Lane | None = None  # this campaign's builds and schedule ticks (default: catalog.yaml's)
    assets: list[AssetSpec] = Field(default_factory=list)

    @field_validator("campaign")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("campaign names are letters, digits and _ and start with a letter")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        problem = cron_problem(v) if v is not None else None
        if problem:
            raise ValueError(f"schedule must be a 5-field cron expression (minute hour day month weekday), "
                             f"got {v!r}: {problem}")
        return v


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_CRON_NAMES = {3: "jan feb mar apr may jun jul aug sep oct nov dec", 4: "sun mon tue wed thu fri sat"}
_CRON_PART = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


def cron_problem(expr: str) -> str | None:
    """Why `expr` is not a standard 5-field cron expression (month and weekday names allowed)."""
    fields = expr.split()
    if len(fields) != 5:
        return f"it has {len(fields)} fields"
    for i, (field, (name, lo, hi)) in enumerate(zip(fields, _CRON_FIELDS)):
        names = _CRON_NAMES.get(i, "").split()
        for part in field.lower().split(","):
            m = _CRON_PART.match(part)
            bounds = m and [names.index(x) + (1 if i == 3 else 0) if x in names else int(x) if x.isdigit() else None
                            for x in m.group(1).split("-") if x != "*"]
            if not m or None in bounds or any(not lo <= b <= hi for b in bounds) or m.group(2) == "0":
                return f"the {name} field {field!r} is not valid ({lo}-{hi})"
    return None
