"""The `coordination:` URL: `${VAR}` references filled from the environment, and a form that is
safe to print (a password written in the URL is shown as ***; a `${VAR}` is shown by its name)."""

from __future__ import annotations

import os
import re
from typing import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipelines.errors import CoordinationError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SCHEMES = ("postgresql", "postgres")
SECRET_PARAMS = {"password", "sslpassword", "passfile"}


def check_form(url: str) -> str | None:
    """Why `url` is not a coordination URL (None when it is one): for catalog validation."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return "must be a postgresql://user@host:port/database URL (leave it out for the local lock files)"
    if not parts.hostname:
        return "names no host: write postgresql://user@host:port/database"
    return None


def expand(template: str, source: str, env: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """(the URL with every ${VAR} filled in, the values filled in: secrets to keep out of messages)."""
    env = os.environ if env is None else env
    values: list[str] = []
    missing = [m.group(1) for m in ENV_REF.finditer(template) if m.group(1) not in env]
    if missing:
        names = ", ".join(f"${{{n}}}" for n in dict.fromkeys(missing))
        raise CoordinationError(f"{source}: coordination uses {names}, which is not set in the environment")

    def fill(m: re.Match) -> str:
        values.append(env[m.group(1)])
        return env[m.group(1)]

    return ENV_REF.sub(fill, template), [v for v in values if v]


def shown(template: str) -> str:
    """The URL as messages show it: no literal password, in the authority or the query."""
    parts = urlsplit(template)
    netloc = parts.netloc
    if parts.password and not ENV_REF.fullmatch(parts.password):
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = urlencode([(k, "***" if k in SECRET_PARAMS and not ENV_REF.fullmatch(v) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="${}")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str, secrets: list[str]) -> str:
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    return text
