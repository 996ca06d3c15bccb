"""Result downloads never reach loopback, private, link-local or otherwise non-public addresses
(in any spelling, after any redirect, with credentials in the URL or not), nor plain http, unless
the provider lists the origin in `download_hosts`. A loopback canary counts every connection
attempt: it must see none."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from providers.base import ImageRequest, ProviderConfig
from providers.errors import AmbiguousError
from providers.netpolicy import Refused, address_problem, public_url_problem, target_for
from providers.openai_compat import OpenAIProvider
from tests.emulators.canary import Canary
from tests.emulators.eachlabs import EachLabsEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.helpers.cli import run_cli
from tests.helpers.paid import ENV, paid_catalog

KEY = "sk-ssrf-test-5e4d3c2b"


def hostile_urls(port: int) -> list[str]:
    urls = [
        f"https://127.0.0.1:{port}/x.png",
        f"https://localhost:{port}/x.png",
        f"https://sub.localhost:{port}/x.png",
        f"https://0x7f.1:{port}/x.png",
        f"https://0x7f000001:{port}/x.png",
        f"https://2130706433:{port}/x.png",
        f"https://127.1:{port}/x.png",
        f"https://0177.0.0.1:{port}/x.png",
        f"https://[::ffff:127.0.0.1]:{port}/x.png",
        f"https://[::ffff:7f00:1]:{port}/x.png",
        f"https://[::127.0.0.1]:{port}/x.png",
        f"https://[::1]:{port}/x.png",
        f"https://0.0.0.0:{port}/x.png",
        f"http://127.0.0.1:{port}/x.png",
        f"https://user:secret@127.0.0.1:{port}/x.png",
        "https://169.254.169.254/latest/meta-data/iam/",
        "https://10.0.0.5/x.png",
        "https://192.168.1.1/x.png",
        "https://172.16.0.1/x.png",
        "https://100.64.0.1/x.png",
        "https://[fe80::1]/x.png",
        "https://[fc00::1]/x.png",
        "https://224.0.0.1/x.png",
        "https://[2002:7f00:1::]/x.png",  # 6to4 of 127.0.0.1
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.png",
    ]
    host = socket.gethostname()  # on most machines a name that resolves to a loopback or private address
    try:
        addrs = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except OSError:
        addrs = set()
    if addrs and all(address_problem(a) for a in addrs):
        urls.append(f"https://{host}:{port}/x.png")
    return urls


def _run(p: OpenAIProvider) -> AmbiguousError:
    async def go():
        try:
            with pytest.raises(AmbiguousError) as info:
                await p.run(ImageRequest(cache_key="k", operation="generate", prompt="A poster", width=1024,
                                         height=1024))
            return info.value
        finally:
            await p.aclose()

    return asyncio.run(go())


def _provider(emu, **cfg) -> OpenAIProvider:
    config = ProviderConfig(type="openai", base_url=emu.base_url, api_key_env="K", max_retries=1, **cfg)
    return OpenAIProvider("openai", config, env={"K": KEY})


def test_no_hostile_result_url_is_ever_connected_to():
    with Canary() as canary, OpenAIEmulator() as emu:
        for url in hostile_urls(canary.port):
            emu.result_url = url
            err = _run(_provider(emu))  # a 200 whose image we will not fetch: it may have been billed
            assert "refusing to download" in str(err) and "may have been billed" in str(err), (url, str(err))
            assert "secret" not in str(err), url  # the URL's credentials are never shown
        assert canary.connections == 0


def test_a_redirect_from_a_listed_host_to_loopback_is_refused_at_the_hop():
    with Canary() as canary, OpenAIEmulator() as emu:
        emu.result_url = f"{emu.origin}/_emulator/redirect?to=https://127.0.0.1:{canary.port}/x.png"
        err = _run(_provider(emu, download_hosts=emu.download_hosts))
        assert "refusing to download" in str(err) and "loopback" in str(err)
        assert emu.requests("GET", "/_emulator/redirect")  # the listed host itself was asked
        assert canary.connections == 0


def test_a_listed_origin_is_fetched_even_on_loopback_and_over_http():
    with OpenAIEmulator(style="url") as emu:
        p = _provider(emu, download_hosts=[emu.origin])

        async def go():
            try:
                return await p.run(ImageRequest(cache_key="k", operation="generate", prompt="A poster",
                                                width=1024, height=1024))
            finally:
                await p.aclose()

        assert asyncio.run(go()).width == 1024
        assert emu.requests("GET", "/files/")


@pytest.mark.slow
def test_a_build_whose_vendor_points_results_at_loopback_connects_nowhere(tmp_path):
    with Canary() as canary, EachLabsEmulator() as emu:
        emu.result_url = f"https://127.0.0.1:{canary.port}/latest/meta-data"
        cat = paid_catalog(tmp_path / "cat", emu, "eachlabs", 2)
        code, out, err = run_cli("build", catalog=cat, env=ENV)
        assert code == 1 and "Traceback" not in out + err
        assert out.count("refusing to download a result from 'https://127.0.0.1") == 2, out
        assert canary.connections == 0


def test_a_host_name_that_resolves_to_a_non_public_address_is_refused_after_resolution():
    host = socket.gethostname()  # /etc/hosts maps it to 127.0.x.x on most machines
    try:
        addrs = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)}
    except OSError:
        addrs = set()
    if not addrs or not all(address_problem(a) for a in addrs):
        pytest.skip(f"this machine's name {host!r} does not resolve to a non-public address")
    assert public_url_problem(f"https://{host}/x.png") is None  # nothing in the text gives it away
    with pytest.raises(Refused, match=f"host {host} resolves to a"):
        asyncio.run(target_for(f"https://{host}/x.png", []))
