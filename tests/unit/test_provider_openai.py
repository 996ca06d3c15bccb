"""The OpenAI-compatible provider's registration. Against the emulator:
tests/integration/test_provider_openai.py."""

from __future__ import annotations

from providers.openai_compat import OpenAIProvider
from providers.registry import provider_class


def test_registered_under_openai():
    assert provider_class("openai") is OpenAIProvider
