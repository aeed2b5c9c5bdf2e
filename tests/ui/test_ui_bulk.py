"""Multi-select and bulk actions in the web UI (issue 17, build 1), driven in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.harness import Server, open_view
from tests.ui.test_ui_curation import shapes, shown_paths

pytestmark = [pytest.mark.ui, pytest.mark.slow]
__all__ = ["shapes"]  # the fixture, shared


def test_select_with_click_and_shift_click_then_preview_apply_and_undo_a_prefix(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    folder, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}?sort=name")
    expect(page.locator("#bulk-panel")).to_be_hidden()
    order = shown_paths(page)
    assert order == ["extra/square.png", "tall.png", "extra/tiny.png", "wide.png"]
    box = page.locator("#gallery .item .select-box")
    box.nth(0).click()
    box.nth(2).click(modifiers=["Shift"])  # a range: the first three
    expect(page.locator("#bulk-count")).to_have_text("3")
    expect(page.locator("#gallery .item.selected")).to_have_count(3)

    page.select_option("#bulk-op", "prefix")
    page.fill("#bulk-text", "ohwx, ")
    expect(page.locator("#bulk-apply")).to_be_disabled()  # nothing applies unseen
    page.click("#bulk-preview-button")
    preview = page.locator("#bulk-preview")
    expect(preview).to_be_visible()
    # tall.png already starts with the prefix: unchanged; tiny.png has no caption yet.
    expect(page.locator("#bulk-summary")).to_have_text("2 of 3 would change.")
    expect(preview.locator('tr[data-path="extra/square.png"] .after')).to_have_text(
        "ohwx, a red square, studio"
    )
    assert (folder / "extra" / "square.txt").read_text() == "a red square, studio"  # a preview

    page.click("#bulk-apply")
    expect(page.locator("#bulk-summary")).to_contain_text("Applied: 2 changed")
    assert (folder / "extra" / "square.txt").read_text() == "ohwx, a red square, studio"
    assert (folder / "extra" / "tiny.txt").read_text() == "ohwx, "
    expect(page.locator('#gallery .item[data-path="extra/square.png"] textarea')).to_have_value(
        "ohwx, a red square, studio"
    )

    page.click("#bulk-undo")
    expect(page.locator("#bulk-summary")).to_contain_text("Undone")
    assert (folder / "extra" / "square.txt").read_text() == "a red square, studio"
    assert not (folder / "extra" / "tiny.txt").exists()
    assert (folder / "wide.txt").read_text() == "ohwx, wide"  # never selected


def test_select_all_matching_the_filter_then_find_replace_and_delete_to_trash(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    folder, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}?limit=24")
    page.fill("#filter-text", "studio")
    expect(page.locator("#page-range")).to_have_text("1–2 of 2")
    page.click("#select-all")
    expect(page.locator("#bulk-count")).to_have_text("2")

    page.select_option("#bulk-op", "replace")
    page.fill("#bulk-find", r"\bred\b")
    page.fill("#bulk-replace", "crimson")
    page.check("#bulk-regex")
    page.click("#bulk-preview-button")
    expect(page.locator("#bulk-summary")).to_have_text("2 of 2 would change.")
    page.click("#bulk-apply")
    expect(page.locator("#bulk-summary")).to_contain_text("Applied: 2 changed")
    assert (folder / "tall.txt").read_text() == "ohwx, a tall crimson bar, studio"
    assert (folder / "extra" / "square.txt").read_text() == "a crimson square, studio"
    assert (folder / "wide.txt").read_text() == "ohwx, wide"  # outside the filter

    page.select_option("#bulk-op", "delete")
    page.click("#bulk-preview-button")
    expect(page.locator("#bulk-preview")).to_contain_text("extra/square.png")
    page.click("#bulk-apply")
    expect(page.locator("#bulk-summary")).to_contain_text("Applied: 2 changed")
    assert not (folder / "tall.png").exists() and not (folder / "tall.txt").exists()
    expect(page.locator("#page-range")).to_have_text("0–0 of 0")
    page.click("#bulk-undo")
    expect(page.locator("#bulk-summary")).to_contain_text("Undone")
    assert (folder / "tall.png").is_file()
    assert (folder / "tall.txt").read_text() == "ohwx, a tall crimson bar, studio"


def test_move_the_selection_into_a_folder_and_the_tree_follows(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    folder, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}")
    page.locator('#gallery .item[data-path="wide.png"] .select-box').click()
    page.select_option("#bulk-op", "move")
    page.fill("#bulk-folder", "rejected")
    page.click("#bulk-preview-button")
    expect(page.locator("#bulk-preview")).to_contain_text("rejected/wide.png")
    page.click("#bulk-apply")
    expect(page.locator("#bulk-summary")).to_contain_text("Applied: 1 changed")
    assert (folder / "rejected" / "wide.png").is_file()
    assert (folder / "rejected" / "wide.txt").read_text() == "ohwx, wide"
    assert not (folder / "wide.png").exists()
    expect(page.locator('#folder-tree [data-folder="rejected"]')).to_contain_text("rejected1")
    expect(page.locator('#gallery .item[data-path="rejected/wide.png"]')).to_have_count(1)
