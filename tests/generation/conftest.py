"""Fixtures shared by the generation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.generation.fakeapi import FakeImageApi, serve


@pytest.fixture
def image_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeImageApi]:
    """A running fake OpenAI-compatible server that the commands are pointed at."""
    for api in serve(FakeImageApi()):
        monkeypatch.setenv("OPENAI_BASE_URL", api.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        monkeypatch.delenv("OPENAI_API_BASE", raising=False)
        monkeypatch.delenv("OPENAI_MODEL", raising=False)
        monkeypatch.delenv("DATASETY_PROGRESS", raising=False)
        yield api
