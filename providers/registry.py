"""Provider types by name. A new vendor is one module plus one line in BUILTIN."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from providers.base import ImageProvider

# type name -> "module:Class"; imported lazily so `validate` never pays for httpx it does not use
BUILTIN: dict[str, str] = {
    "draft": "providers.draft:DraftProvider",
    "openai": "providers.openai_compat:OpenAIProvider",
    "eachlabs": "providers.eachlabs:EachLabsProvider",
    "gptimageapi": "providers.gptimageapi:GptImageApiProvider",
    "runapi": "providers.runapi:RunApiProvider",
}


def provider_types() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group="assetpipe.providers"))
    return sorted(names)


def provider_class(type_name: str) -> type[ImageProvider]:
    target = BUILTIN.get(type_name)
    if target is None:
        for ep in entry_points(group="assetpipe.providers"):
            if ep.name == type_name:
                return ep.load()
        raise KeyError(f"unknown provider type {type_name!r}; known: {', '.join(provider_types())}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
