"""RunAPI's pure helpers as tables: aspect ratios and resolution tiers for a size, failure messages
in every envelope, idempotency keys; the emulator's output sizes. Against the emulator:
tests/integration/test_provider_runapi.py."""

from __future__ import annotations

import pytest

from providers.runapi import aspect_ratio, failure_message, idempotency_key, output_resolution
from tests.emulators.runapi import output_size


@pytest.mark.parametrize(
    "w, h, ratio",
    [(1024, 1024, "1:1"), (1536, 1024, "3:2"), (1024, 1536, "2:3"), (1920, 1080, "16:9"), (1080, 1920, "9:16"),
     (2520, 1080, "21:9"), (3000, 1000, "3:1"), (1200, 1000, "5:4"), (1000, 1333, "3:4"), (2048, 1024, "2:1")],
)
def test_aspect_ratio(w, h, ratio):
    assert aspect_ratio(w, h) == ratio


@pytest.mark.parametrize(
    "w, h, tier",
    [(1024, 1024, "1k"), (1536, 1024, "1k"), (1537, 1024, "2k"), (2560, 1440, "2k"), (2561, 1440, "4k"),
     (3840, 3840, "2k")],
)
def test_output_resolution(w, h, tier):
    assert output_resolution(w, h, aspect_ratio(w, h)) == tier


@pytest.mark.parametrize(
    "body, message",
    [({"message": "m"}, "m"), ({"error": "e"}, "e"), ({"detail": "d"}, "d"), ({"errors": ["x", "y"]}, "x"),
     ({"errors": [{"message": "em"}]}, "em"), ({"error": {"message": "nested"}}, "nested"), ({}, None)],
)
def test_failure_message(body, message):
    assert failure_message(body) == message


def test_idempotency_key_is_stable_and_opaque():
    assert idempotency_key("ck") == idempotency_key("ck") != idempotency_key("ck", 1)
    assert "my-cache-key" not in idempotency_key("my-cache-key")
    assert len(idempotency_key("x" * 500)) < 64


def test_emulator_output_sizes():
    assert output_size("1:1", "1k") == (1024, 1024)
    assert output_size("16:9", "4k") == (3840, 2160)
