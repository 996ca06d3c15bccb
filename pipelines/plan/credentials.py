"""Which vendor keys a build of some variants needs and are not exported: `build` refuses before
anything runs; `validate`, `plan` and `build --dry-run` warn (issue #15, item 12), so a missing key
is found before the build that needs it."""

from __future__ import annotations

import os
from typing import Iterable

from pipelines.catalog.variant import Variant
from pipelines.plan.pool import ProviderPool


def missing_keys(pool: ProviderPool, variants: Iterable[Variant]) -> dict[tuple[str, str | None], list[str]]:
    """{(provider, its key's environment variable): [variant keys]} for every provider call whose
    key is not set; a pool lacks its key only when none of its members has one (the variable is
    then each member's, joined by "or")."""
    missing: dict[tuple[str, str | None], list[str]] = {}
    for v in variants:
        if v.provider is None:
            continue  # a local rendition
        try:
            members = [pool.get(m) for m in pool.members(v.provider)]
        except Exception:  # an unknown type or member: validation reports it
            continue
        if any(_has_key(m) for m in members):
            continue
        env = " or ".join(_env(m.config.api_key_env) for m in members) if len(members) > 1 else \
            members[0].config.api_key_env
        missing.setdefault((v.provider, env), []).append(v.key)
    return missing


def _has_key(provider) -> bool:
    env = provider.config.api_key_env
    return not getattr(provider, "needs_key", True) or bool(env and os.environ.get(env))


def _env(env: str | None) -> str:
    return env or "api_key_env in catalog.yaml"


def describe(missing: dict[tuple[str, str | None], list[str]]) -> list[str]:
    """One line per provider: what it needs, for how many variants, and one of them."""
    return [f"{name} needs {_env(env)} (for {len(keys)} variant(s), e.g. {keys[0]})"
            for (name, env), keys in missing.items()]


def key_warnings(pool: ProviderPool, variants: Iterable[Variant], who: str) -> list[str]:
    """Warnings for `validate`, `plan` and `--dry-run`; `who` needs the keys ("this build")."""
    return [f"warning: {_env(env)} is not set: {who} needs it for {len(keys)} variant(s) of provider {name} "
            f"(e.g. {keys[0]}); export it before building"
            for (name, env), keys in missing_keys(pool, variants).items()]
