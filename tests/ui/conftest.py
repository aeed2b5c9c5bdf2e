"""Fixtures for the web UI tests: one real server and one Chromium per module, a fresh page
(and browser context) per test, and helpers that make small datasets on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.ui.harness import RegisterFn, Server, launch_chromium, start_server

# The suite shares two CPU cores: give slow moments (a thumbnail's first render, a job's
# process start) room without making a real failure wait long.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server"), "--kill-grace", "2") as running:
        yield running


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = launch_chromium(playwright)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own sessionStorage); any uncaught JavaScript error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # confirm() before unregistering: accept it, as a user would.
    tab.on("dialog", lambda dialog: dialog.accept())
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def register(api: httpx.Client) -> RegisterFn:
    """Register a folder through the API; returns the dataset JSON."""

    def _register(path: Path) -> dict[str, Any]:
        response = api.post("/v1/datasets", json={"path": str(path), "name": path.name})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return _register
