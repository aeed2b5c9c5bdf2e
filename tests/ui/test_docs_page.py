"""The API docs in a real Chromium that can reach nothing but this server: Swagger UI renders
every endpoint and model from its packaged assets."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from tests.ui.harness import Server


def offline(page: Page, server: Server) -> list[str]:
    """Abort every request that is not for ``server``; returns the URLs refused."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return refused


def test_swagger_ui_renders_offline(page: Page, server: Server) -> None:
    refused = offline(page, server)
    page.goto(f"{server.url}/docs")
    expect(
        page.locator(".opblock-summary-path", has_text="/v1/jobs/{job_id}").first
    ).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/commands")).to_be_visible()
    expect(page.locator(".models, .model-container").first).to_be_visible()
    assert refused == []
