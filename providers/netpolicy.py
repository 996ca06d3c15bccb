"""Which URLs assetpipe fetches or hands to a vendor: the SSRF rules, in one place.

A result URL comes from the vendor's answer, so it is untrusted input: a vendor (or anyone between
us and it) could point us at 169.254.169.254, a service on 10.0.0.5 or one on our own loopback.
A result is downloaded only when

    its origin is listed in the provider's `download_hosts` (trusted by configuration: the test
    emulators on 127.0.0.1, a vendor proxy on a private network), or
    it is https://, carries no credentials, names its host in a normal form (no 0x7f.1, 2130706433,
    127.1) and every address the host resolves to is public: not loopback, private, link-local,
    shared (CGNAT), multicast, reserved, unspecified, nor an IPv4-mapped/compatible, 6to4 or
    Teredo form of one. The connection then goes to the address that was checked (the host name
    still names the TLS certificate), so a second DNS answer cannot swap in a private one.

Every redirect hop is checked again. `public_url_problem` is the syntax half, also used for the
input URLs we hand URL-only vendors (providers.uploads).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def public_url_problem(url: str) -> str | None:
    """Why `url` is not a public https URL by its text alone; None when it may be one."""
    if not isinstance(url, str) or not url:
        return "empty URL"
    if url[:5].lower() == "data:":
        return "data: URIs are not accepted; inputs must be uploaded to public HTTPS storage"
    if any(c in url for c in "\\\r\n\t "):
        return "URL contains whitespace or backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError:
        return "malformed URL"
    if parts.scheme.lower() != "https":
        return f"only https:// URLs are accepted, got {parts.scheme or 'no scheme'}://"
    if parts.username is not None or parts.password is not None:
        return "URL must not carry credentials"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "URL has no host"
    if host in _LOCAL_NAMES or host.endswith(".localhost") or host.endswith(".local"):
        return f"host {host} is local, not public"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        problem = address_problem(ip)
        if problem:
            return f"host {host} is {problem}"
    elif _NUMERIC_HOST.fullmatch(host):
        # 127.1, 2130706433, 0x7f.0.0.1: resolvers read these as IPv4 addresses
        return f"host {host} is a numeric address in a non-standard form"
    if port == 0:
        return "URL has port 0"
    return None


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a connection to `ip` could reach something that is not the public internet."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None or (ip.packed[:12] == bytes(12) and int(ip) > 1):  # ::a.b.c.d (compat)
            return "an IPv4 address in an IPv6 form"
    for what, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                       ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return f"a {what} address"
    if not ip.is_global:
        return "not a public address"
    return None


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int | None]:
    return scheme.lower(), host.rstrip(".").lower(), port or DEFAULT_PORTS.get(scheme.lower())


def listed(url: str, download_hosts: Iterable[str]) -> bool:
    """True when `url`'s origin is one of `download_hosts`: `scheme://host[:port]` entries match
    exactly (default ports filled in); a bare `host` entry means https on that host, any port."""
    try:
        parts = urlsplit(url)
        want = _origin(parts.scheme, parts.hostname or "", parts.port)
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None or not want[1]:
        return False
    for entry in download_hosts:
        entry = str(entry).strip()
        if "://" in entry:
            e = urlsplit(entry)
            if _origin(e.scheme, e.hostname or "", e.port) == want:
                return True
        elif want[0] == "https" and entry.rstrip(".").lower() == want[1]:
            return True
    return False


@dataclass
class Target:
    """What to connect to for one checked URL: `url` (the host replaced by the checked address
    when it was resolved here), plus the Host header and the TLS server name that keep naming the
    original host."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


class Refused(ValueError):
    """A URL the policy will not fetch; the message says why (never the query string)."""


async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


async def target_for(url: str, download_hosts: Iterable[str]) -> Target:
    """The Target to fetch `url` from, or Refused. Resolution failures raise OSError."""
    if listed(url, download_hosts):
        return Target(url)
    problem = public_url_problem(url)
    if problem:
        raise Refused(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    addresses = await resolve(host, port)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for ip in addresses:
        problem = address_problem(ip)
        if problem:
            raise Refused(f"host {host} resolves to {problem}")
    return pinned(url, addresses[0])


def pinned(url: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Target:
    """`url` sent to `ip`: the same path and query, Host and TLS name kept as the URL's host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = host + (f":{parts.port}" if parts.port else "")
    return Target(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
                  {"Host": host_header}, {"sni_hostname": host})
