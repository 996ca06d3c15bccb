"""The download policy's pure parts, as tables: which addresses are not public, which URLs are
refused by their text alone, which origins `download_hosts` lets through, and the pinned request
that sends a checked URL to the checked address. (Name resolution is tested in
tests/integration/test_download_policy.py.)"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from providers.netpolicy import address_problem, listed, pinned, public_url_problem, target_for


@pytest.mark.parametrize("ip,problem", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.20.0.1", "private"), ("192.168.0.10", "private"), ("fc00::5", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "address"), ("100.64.0.1", "not a public"), ("192.0.2.1", "private"),
    ("::ffff:127.0.0.1", "IPv6 form"), ("::ffff:8.8.8.8", "IPv6 form"), ("::127.0.0.1", "IPv6 form"),
    ("2002:7f00:1::", "IPv6 form"), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "IPv6 form"),
    ("8.8.8.8", None), ("1.1.1.1", None), ("2606:4700:4700::1111", None),
])
def test_address_problem(ip, problem):
    got = address_problem(ipaddress.ip_address(ip))
    assert (got is None) == (problem is None) and (problem is None or problem in got), got


@pytest.mark.parametrize("url,problem", [
    ("https://cdn.example.com/a.png", None),
    ("https://8.8.8.8/a.png", None),
    ("http://cdn.example.com/a.png", "only https"),
    ("https://user:pw@cdn.example.com/a.png", "credentials"),
    ("https://@cdn.example.com/a.png", "credentials"),
    ("https://localhost/a.png", "local"),
    ("https://a.b.localhost/a.png", "local"),
    ("https://printer.local/a.png", "local"),
    ("https://127.0.0.1/a.png", "loopback"),
    ("https://0x7f.1/a.png", "non-standard"),
    ("https://2130706433/a.png", "non-standard"),
    ("https://017700000001/a.png", "non-standard"),
    ("https://127.1/a.png", "non-standard"),
    ("https://[::ffff:127.0.0.1]/a.png", "IPv6 form"),
    ("https://cdn.example.com:0/a.png", "port 0"),
    ("https://cdn.example.com:99999/a.png", "malformed"),
    ("https:///a.png", "no host"),
    ("data:image/png;base64,AAAA", "data:"),
    ("https://cdn.example.com/a b.png", "whitespace"),
])
def test_public_url_problem(url, problem):
    got = public_url_problem(url)
    assert (got is None) == (problem is None) and (problem is None or problem in got), got


@pytest.mark.parametrize("url,hosts,ok", [
    ("http://127.0.0.1:8301/files/a.png", ["http://127.0.0.1:8301"], True),
    ("http://127.0.0.1:8302/files/a.png", ["http://127.0.0.1:8301"], False),  # another port
    ("https://127.0.0.1:8301/files/a.png", ["http://127.0.0.1:8301"], False),  # another scheme
    ("https://cdn.vendor.example/a.png", ["cdn.vendor.example"], True),  # a bare host: https, any port
    ("https://cdn.vendor.example:8443/a.png", ["cdn.vendor.example"], True),
    ("http://cdn.vendor.example/a.png", ["cdn.vendor.example"], False),
    ("https://CDN.Vendor.Example./a.png", ["https://cdn.vendor.example"], True),  # case, trailing dot, 443
    ("https://evil.example/a.png", ["cdn.vendor.example"], False),
    ("https://cdn.vendor.example.evil.example/a.png", ["cdn.vendor.example"], False),
    ("https://u:p@cdn.vendor.example/a.png", ["cdn.vendor.example"], False),  # never with credentials
    ("https://cdn.vendor.example/a.png", [], False),
])
def test_listed(url, hosts, ok):
    assert listed(url, hosts) is ok


def test_pinned_sends_to_the_checked_address_and_keeps_naming_the_host():
    t = pinned("https://cdn.example.com:8443/img/a.png?sig=abc", ipaddress.ip_address("93.184.216.34"))
    assert t.url == "https://93.184.216.34:8443/img/a.png?sig=abc"
    assert t.headers == {"Host": "cdn.example.com:8443"} and t.extensions == {"sni_hostname": "cdn.example.com"}
    t6 = pinned("https://cdn.example.com/a.png", ipaddress.ip_address("2606:4700::1"))
    assert t6.url == "https://[2606:4700::1]/a.png" and t6.headers == {"Host": "cdn.example.com"}


def test_a_listed_origin_is_used_as_it_is():
    t = asyncio.run(target_for("http://127.0.0.1:8301/files/a.png", ["http://127.0.0.1:8301"]))
    assert t.url == "http://127.0.0.1:8301/files/a.png" and not t.headers and not t.extensions
