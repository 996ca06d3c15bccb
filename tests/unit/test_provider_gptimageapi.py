"""gptimageapi.dev: the provider's registration and the ratios its emulator draws. Against the
emulator: tests/integration/test_provider_gptimageapi.py."""

from __future__ import annotations

from providers.gptimageapi import RATIOS, GptImageApiProvider
from providers.registry import provider_class
from tests.emulators.gptimageapi import pixels_for


def test_registered_under_gptimageapi():
    assert provider_class("gptimageapi") is GptImageApiProvider


def test_emulator_serves_the_ratio_it_was_asked():
    for r in RATIOS:
        w, h = pixels_for(r)
        a, b = (int(x) for x in r.split(":"))
        assert abs(w / h - a / b) < 0.05
