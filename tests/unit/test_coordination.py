"""The coordination settings and the local backend: the `coordination:` URL (validation, ${VAR},
what messages show), vendor-key fingerprints, lock-file leases and create-once writes."""

from __future__ import annotations

import asyncio

import pytest

from pipelines.cache.store import Store
from pipelines.coordination import LocalCoordinator, coordinator_for
from pipelines.coordination.urls import check_form, expand, redact, shown
from pipelines.errors import CoordinationError
from providers.limits import key_fingerprint
from tests.helpers.cli import validate_catalog


@pytest.mark.parametrize("url, ok", [
    ("postgresql://assetpipe@db:5432/x", True),
    ("postgres://u:${PW}@db/x", True),
    ("mysql://u@db/x", False),
    ("postgresql:///x", False),  # no host
    ("/tmp/locks", False),
])
def test_only_postgresql_urls_with_a_host_are_coordination_urls(url, ok):
    assert (check_form(url) is None) == ok


def test_a_wrong_coordination_setting_is_a_catalog_error_on_its_line(tmp_path):
    found = validate_catalog(tmp_path, {"catalog.yaml": "check_text: 'off'\ncoordination: redis://cache:6379\n",
                                        "campaigns/c.yaml": "campaign: c\nassets:\n  - {name: a, prompt: x}\n"})
    assert [(line, "postgresql://" in msg) for _, line, msg in found] == [(2, True)]


def test_variables_are_filled_from_the_environment_and_kept_out_of_messages():
    url, secrets = expand("postgresql://u:${PW}@db:5432/${DB}", "catalog.yaml:3", {"PW": "s3cret", "DB": "x"})
    assert url == "postgresql://u:s3cret@db:5432/x" and secrets == ["s3cret", "x"]
    assert redact(f"failed for {url}", secrets) == "failed for postgresql://u:***@db:5432/***"
    with pytest.raises(CoordinationError, match=r"catalog.yaml:3: coordination uses \$\{PW\}, which is not set"):
        expand("postgresql://u:${PW}@db/x", "catalog.yaml:3", {})


def test_a_url_is_shown_without_a_literal_password():
    assert shown("postgresql://u:hunter2@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert shown("postgresql://u:${PW}@db:5432/x") == "postgresql://u:${PW}@db:5432/x"
    assert "hunter2" not in shown("postgresql://u@db/x?sslmode=require&password=hunter2")


def test_a_key_fingerprint_names_the_key_without_revealing_it():
    fp = key_fingerprint("openai", "https://api.example.com/v1/", "sk-live-123")
    assert fp == key_fingerprint("openai", "https://api.example.com/v1", "sk-live-123")  # trailing slash
    assert "sk-live-123" not in fp and len(fp) == 32
    assert fp != key_fingerprint("openai", "https://api.example.com/v1", "sk-live-124")
    assert fp != key_fingerprint("openai", "https://other.example.com/v1", "sk-live-123")


def test_the_default_coordination_is_local_lock_files(tmp_path):
    coord = coordinator_for(None, tmp_path / "locks")
    assert isinstance(coord, LocalCoordinator)
    coord.check()  # nothing to reach

    async def main():
        async with coord.lease("ab" * 32):
            assert coord.held("ab" * 32) and not coord.held("cd" * 32)
        assert not coord.held("ab" * 32)

    asyncio.run(main())
    assert (tmp_path / "locks" / "keys" / "ab").is_dir()


def test_local_slots_of_one_key_are_shared_by_name(tmp_path):
    coord = LocalCoordinator(tmp_path / "locks")
    a, b = coord.slots("f" * 32, 1), coord.slots("f" * 32, 1)
    order: list[str] = []

    async def hold(s, tag):
        async with s.hold():
            order.append(f"{tag}+")
            await asyncio.sleep(0.05)
            order.append(f"{tag}-")

    async def main():
        await asyncio.gather(hold(a, "a"), hold(b, "b"))

    asyncio.run(main())
    assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])


def test_a_local_name_is_created_once(tmp_path):
    store = Store(str(tmp_path / "cache"))
    assert store.create_file("journal/x.json", b"first") is True
    assert store.create_file("journal/x.json", b"second") is False
    assert (tmp_path / "cache" / "journal" / "x.json").read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "cache" / "journal").iterdir()] == ["x.json"]  # no temp file left
    store.check()
