"""Curating a dataset in the web UI (issue 17, builds 1-7), each driven in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.harness import RegisterFn, Server, make_image, open_view

pytestmark = [pytest.mark.ui, pytest.mark.slow]

RED = (220, 30, 30)


def shown_paths(page: Page) -> list[str]:
    return page.locator("#gallery .item").evaluate_all("els => els.map((e) => e.dataset.path)")


@pytest.fixture
def shapes(tmp_path: Path, register: RegisterFn) -> tuple[Path, dict]:
    """Four images of known sizes in two folders, captions of different lengths."""
    folder = tmp_path / "shapes"
    make_image(folder / "tall.png", (40, 120), RED)
    make_image(folder / "wide.png", (160, 40), RED)
    make_image(folder / "extra" / "square.png", (80, 80), RED)
    make_image(folder / "extra" / "tiny.png", (10, 10), RED)
    (folder / "tall.txt").write_text("ohwx, a tall red bar, studio")
    (folder / "wide.txt").write_text("ohwx, wide")
    (folder / "extra" / "square.txt").write_text("a red square, studio")
    return folder, register(folder)


def test_cards_show_width_by_height_and_sort_by_each_key(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    _, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}")
    expect(page.locator('#gallery .item[data-path="wide.png"] .dims')).to_have_text("160×40")
    expect(page.locator('#gallery .item[data-path="extra/tiny.png"] .dims')).to_have_text("10×10")

    page.select_option("#sort-by", "width")
    expect(page.locator("#gallery .item").first).to_have_attribute("data-path", "extra/tiny.png")
    assert shown_paths(page) == ["extra/tiny.png", "tall.png", "extra/square.png", "wide.png"]
    page.click("#sort-order")
    expect(page.locator("#gallery .item").first).to_have_attribute("data-path", "wide.png")
    assert shown_paths(page) == ["wide.png", "extra/square.png", "tall.png", "extra/tiny.png"]
    page.select_option("#sort-by", "caption_length")
    expect(page.locator("#gallery .item").first).to_have_attribute("data-path", "tall.png")
    # The sort lives in the URL: a reload keeps it.
    page.reload()
    page.wait_for_selector("#view[data-ready]")
    expect(page.locator("#sort-by")).to_have_value("caption_length")
    assert shown_paths(page)[0] == "tall.png"


def test_filtering_by_folder_name_finds_the_folders_items(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    _, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}")
    for text in ("extra", "extra/"):
        page.fill("#filter-text", text)
        expect(page.locator("#page-range")).to_have_text("1–2 of 2")
        assert shown_paths(page) == ["extra/square.png", "extra/tiny.png"]
