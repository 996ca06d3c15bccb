"""Loading a catalog directory into validated models, collecting every problem as `path:line`.

    catalog.yaml      Settings
    campaigns/*.yaml  CampaignSpec, one per file
    locales/*.yaml    strings per locale (nested mappings allowed: `t.legal.short`)
    partials/*.j2     Jinja includes and macros
    refs/             reference images and masks
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipelines.catalog.sources import SourceProblem, contained_dir
from pipelines.catalog.spec import AssetSpec, CampaignSpec, Limits, Settings
from pipelines.catalog.yamlpos import Lines, YamlLoadError, load_yaml
from pipelines.errors import CatalogError, CatalogIssue

CATALOG_ENV = "ASSETPIPE_CATALOG"


@dataclass
class CampaignFile:
    spec: CampaignSpec
    lines: Lines
    path: Path
    # when some assets failed validation: the file position of each asset in spec.assets, and the
    # names of the assets left out (so their dependants do not also report "unknown upstream")
    asset_index: list[int] | None = None
    broken_assets: set[str] = field(default_factory=set)

    def asset_pos(self, i: int) -> int:
        return self.asset_index[i] if self.asset_index is not None else i


@dataclass
class LocaleFile:
    code: str
    strings: dict[str, Any]
    lines: Lines
    path: Path


@dataclass
class Catalog:
    root: Path
    settings: Settings
    settings_lines: Lines
    campaigns: list[CampaignFile] = field(default_factory=list)
    locales: dict[str, LocaleFile] = field(default_factory=dict)
    issues: list[CatalogIssue] = field(default_factory=list)  # found while loading (partial=True only)

    def rel(self, path: Path) -> str:
        """A path as users see it in errors: relative to the working directory when below it."""
        return _display(path)

    def resolve(self, setting: str) -> Path:
        """A path from catalog.yaml, relative to the catalog directory."""
        p = Path(setting)
        return p if p.is_absolute() else self.root / p

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.settings.output_dir)

    @property
    def publish_dir(self) -> Path | None:
        return self.resolve(self.settings.publish.dir) if self.settings.publish else None

    @property
    def approvals_path(self) -> Path:
        return self.root / "approvals.yaml"

    @property
    def state_dir(self) -> Path:
        """Local state that is never shared: Dagster instance, locks, hash cache."""
        return self.root / ".assetpipe"

    @property
    def cache_url(self) -> str:
        c = self.settings.cache
        return c if "://" in c else str(self.resolve(c))


def default_catalog_dir() -> Path:
    """$ASSETPIPE_CATALOG, else ./assets_spec, else the current directory when it is a catalog."""
    env = os.environ.get(CATALOG_ENV)
    if env:
        return Path(env)
    if not Path("assets_spec").is_dir() and Path("catalog.yaml").is_file():
        return Path(".")
    return Path("assets_spec")


def _model_issues(exc: ValidationError, lines: Lines, model: type[BaseModel], data: Any) -> list[CatalogIssue]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        kind, msg = err["type"], err["msg"]
        # union/literal branches add their own loc parts that are not YAML keys: drop them
        loc_yaml = tuple(p for p in loc if not _is_branch(p))
        if kind == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}" + _did_you_mean(str(loc[-1]), _fields_at(model, loc_yaml[:-1]))
            where = loc_yaml[:-1]
        elif kind == "missing":
            msg = f"missing required key {loc[-1]!r}"
            where = loc_yaml[:-1]
        else:
            msg = _PLAIN.get(kind) or msg.removeprefix("Value error, ").replace("Input should be ", "must be ")
            where = loc_yaml
            if isinstance(err.get("input"), (str, int, float)) and kind not in ("value_error",):
                msg = f"{msg} (got {err['input']!r})"
        label = _label(where, data)
        out.append(lines.issue(loc_yaml, f"{label}{msg}" if label else msg))
    return out


# pydantic's wording for the mistakes people make in YAML, in words that say what to write instead
_PLAIN = {
    "dict_type": "must be a mapping of keys to values (key: value)",
    "model_type": "must be a mapping of keys to values (key: value)",
    "list_type": "must be a list, e.g. [a, b]",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text (put it in quotes)",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
}


def _is_branch(p: Any) -> bool:
    return isinstance(p, str) and ("[" in p or p in ("str", "list[str]"))


def _label(loc: tuple, data: Any) -> str:
    """`asset 'mug_hero'.edit` rather than `assets[0].edit`: marketers know their assets by name."""
    parts: list[str] = []
    node = data
    for i, p in enumerate(loc):
        named = isinstance(p, int) and i > 0 and loc[i - 1] == "assets" and isinstance(node, list) \
            and p < len(node) and isinstance(node[p], dict) and isinstance(node[p].get("name"), str)
        if named:
            parts[-1] = f"asset {node[p]['name']!r}"
        elif isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        else:
            parts.append(str(p))
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts).replace("'.", "': ") + ": " if parts else ""


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """The keys a mapping at `loc` may hold, following the models' annotations."""
    tp: Any = model
    for p in loc:
        if isinstance(p, str) and _is_model(_model_in(tp)):
            m = _model_in(tp)
            field = next((f for n, f in m.model_fields.items() if p in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        else:  # a list index or a dict key: step into the element type of list[X] / dict[str, X]
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1 and typing.get_args(args[0]):  # X | None around the container
                args = list(typing.get_args(args[0]))
            tp = args[-1] if args else None
    m = _model_in(tp)
    return [f.alias or n for n, f in m.model_fields.items()] if _is_model(m) else []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_in(tp: Any) -> Any:
    """The model of `X` or `X | None`, else tp itself."""
    if _is_model(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(tp) if _is_model(a)), tp)
    return tp


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validate(model: type[BaseModel], data: Any, lines: Lines, issues: list[CatalogIssue]) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        issues.append(lines.issue((), f"expected a mapping at the top of the file, got {type(data).__name__}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues.extend(_model_issues(exc, lines, model, data))
        return None


def load_catalog(root: Path | str, *, partial: bool = False) -> Catalog:
    """Load and validate the catalog's files. Raises CatalogError with every issue found.

    With `partial`, problems in campaign and locale files are kept in `catalog.issues` and the
    catalog holds everything that did validate, so expansion can report its own problems in the
    same run (all errors at once). Problems in catalog.yaml still raise: without valid settings,
    expansion would only add noise."""
    root = Path(root)
    if not root.is_dir():
        raise CatalogError([CatalogIssue(_display(root), 0, "catalog directory not found "
                                                    f"(pass --catalog DIR or set {CATALOG_ENV})")])
    issues: list[CatalogIssue] = []
    settings, settings_lines = _load_settings(root, issues)
    catalog = Catalog(root, settings or Settings(), settings_lines)
    limit = catalog.settings.limits.file_bytes
    catalog.locales = _load_locales(root, limit, issues)
    catalog.campaigns = _load_campaigns(root, limit, issues)
    if not catalog.campaigns and not issues:
        issues.append(CatalogIssue(_display(root / "campaigns"), 0, "no campaigns: add campaigns/<name>.yaml"))
    if issues:
        if partial and settings is not None:
            catalog.issues = issues
            return catalog
        raise CatalogError(issues)
    return catalog


def _load_settings(root: Path, issues: list[CatalogIssue]) -> tuple[Settings | None, Lines]:
    """catalog.yaml (defaults when absent); None when it does not validate."""
    path = root / "catalog.yaml"
    shown = _display(path)
    if not os.path.lexists(path):  # a dangling symlink is a problem, not "no settings"
        return Settings(), Lines(shown)
    try:
        data, lines = load_yaml(path, shown, root=root, max_bytes=Limits().file_bytes)
    except YamlLoadError as exc:
        issues.append(exc.issue)
        return None, Lines(shown)
    issues.extend(lines.problems)
    settings = _validate(Settings, data, lines, issues)
    if settings is not None:
        issues.extend(_provider_type_issues(settings, lines))
    return settings, lines


def _source_files(root: Path, sub: str, issues: list[CatalogIssue]) -> list[Path]:
    """The *.yaml / *.yml entries of a catalog sub-directory, which must itself stay inside the
    catalog (checked before it is listed)."""
    try:
        if contained_dir(root / sub, root) is None:
            return []
    except SourceProblem as exc:
        issues.append(CatalogIssue(_display(root / sub), 0, f"the {sub}/ directory {exc}"))
        return []
    return sorted((root / sub).glob("*.y*ml"))


def _load_locales(root: Path, limit: int, issues: list[CatalogIssue]) -> dict[str, LocaleFile]:
    locales: dict[str, LocaleFile] = {}
    for path in _source_files(root, "locales", issues):
        try:
            data, lines = load_yaml(path, _display(path), root=root, max_bytes=limit)
        except YamlLoadError as exc:
            issues.append(exc.issue)
            continue
        issues.extend(lines.problems)
        code = path.name.rsplit(".", 1)[0]
        if data is None:
            data = {}
        if not isinstance(data, dict):
            issues.append(lines.issue((), "a locale file is a mapping of names to strings"))
            continue
        locales[code] = LocaleFile(code, data, lines, path)
    return locales


def _load_campaigns(root: Path, limit: int, issues: list[CatalogIssue]) -> list[CampaignFile]:
    seen: dict[str, CampaignFile] = {}
    for path in _source_files(root, "campaigns", issues):
        try:
            data, lines = load_yaml(path, _display(path), root=root, max_bytes=limit)
        except YamlLoadError as exc:
            issues.append(exc.issue)
            continue
        issues.extend(lines.problems)
        spec, index, broken = _validate_campaign(data, lines, issues)
        if spec is None:
            continue
        if spec.campaign in seen:
            issues.append(lines.issue(("campaign",), f"duplicate campaign {spec.campaign!r} "
                                                     f"(also in {seen[spec.campaign].lines.path})"))
            continue
        seen[spec.campaign] = CampaignFile(spec, lines, path, index, broken)
    return list(seen.values())


def _provider_type_issues(settings: Settings, lines: Lines) -> list[CatalogIssue]:
    from providers.registry import (  # entry points are scanned only on a miss
        BUILTIN,
        provider_types,
    )

    out = []
    for name, cfg in settings.providers.items():
        if cfg.type == "pool":
            out += [lines.issue(("providers", name, "members"), f"providers.{name}.members: {msg}")
                    for msg in pool_problems(name, cfg.members or [], settings.providers)]
            continue
        if cfg.type not in BUILTIN and cfg.type not in (known := provider_types()):
            out.append(lines.issue(("providers", name, "type"), f"providers.{name}.type: unknown provider type "
                                   f"{cfg.type!r}{_did_you_mean(cfg.type, known)}; known: {', '.join(known)}"))
    return out


def pool_problems(name: str, members: list[str], providers: dict) -> list[str]:
    """What is wrong with a pool's member list: unknown names, pools in pools, repeats."""
    out = []
    for m in members:
        if m == name:
            out.append(f"a pool cannot be its own member ({m!r})")
        elif m not in providers:
            out.append(f"unknown member {m!r}{_did_you_mean(m, list(providers))}; members are other provider entries")
        elif providers[m].type == "pool":
            out.append(f"member {m!r} is a pool itself: list its members instead")
    repeated = sorted({m for m in members if members.count(m) > 1})
    if repeated:
        out.append(f"members listed twice: {', '.join(repeated)}")
    return out


def _validate_campaign(data: Any, lines: Lines, issues: list[CatalogIssue]):
    """(spec, asset_index, broken asset names). When only some assets are invalid, the campaign
    keeps the others, so their own problems are reported in the same run."""
    if not isinstance(data, dict):
        return _validate(CampaignSpec, data, lines, issues), None, set()
    try:
        return CampaignSpec.model_validate(data), None, set()
    except ValidationError as exc:
        issues.extend(_model_issues(exc, lines, CampaignSpec, data))
        errors = exc.errors()
    assets = data.get("assets")
    bad = {e["loc"][1] for e in errors if len(e["loc"]) > 1 and e["loc"][0] == "assets" and isinstance(e["loc"][1], int)}
    if not isinstance(assets, list) or not bad or any(
            not (len(e["loc"]) > 1 and e["loc"][0] == "assets" and isinstance(e["loc"][1], int)) for e in errors):
        return None, None, set()
    fixed = _repaired(assets, bad, errors)
    for keep in (sorted({i for i in range(len(assets)) if i not in bad} | set(fixed)),
                 [i for i in range(len(assets)) if i not in bad]):
        try:
            spec = CampaignSpec.model_validate({**data, "assets": [fixed.get(i, assets[i]) for i in keep]})
        except ValidationError:
            continue
        broken = {a["name"] for i, a in enumerate(assets)
                  if i not in keep and isinstance(a, dict) and isinstance(a.get("name"), str)}
        return spec, keep, broken
    return None, None, set()


def _repaired(assets: list, bad: set[int], errors: list) -> dict[int, dict]:
    """Invalid assets that are valid without the keys their errors are about (an unknown `sise:`, a
    `quality: ultra`): kept without those keys, so the rest of the asset (its prompt's variables,
    its upstream) is checked in the same run (issue #15, item 11). Their errors are already reported."""
    out = {}
    for i in bad:
        mine = [tuple(e["loc"][2:]) for e in errors if tuple(e["loc"][:2]) == ("assets", i)]
        if not isinstance(assets[i], dict) or any(not loc or not isinstance(loc[0], str) for loc in mine):
            continue  # an error about the asset as a whole
        drop = {loc[0] for loc in mine}
        candidate = {k: v for k, v in assets[i].items() if k not in drop}
        try:
            AssetSpec.model_validate(candidate)
        except ValidationError:
            continue
        out[i] = candidate
    return out


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("..") else str(path)
    except ValueError:
        return str(path)
