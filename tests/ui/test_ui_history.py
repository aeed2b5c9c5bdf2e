"""Caption history with restore, and job revert, in the web UI (issue 17, build 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.harness import RegisterFn, Server, make_image, open_view

pytestmark = [pytest.mark.ui, pytest.mark.slow]

RED = (220, 30, 30)


def test_an_items_caption_history_lists_each_edit_and_restores_one(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "hist"
    make_image(folder / "cat.png", (32, 32), RED)
    (folder / "cat.txt").write_text("a cat")
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}")
    card = page.locator('#gallery .item[data-path="cat.png"]')
    for text in ("a red cat", "a red cat on a sofa"):
        card.locator("textarea").fill(text)
        card.locator("textarea").press("Control+Enter")
        expect(card.locator(".save-state")).to_have_text("Saved")

    card.locator(".thumb").click()
    history = page.locator("#caption-history")
    expect(history.locator("li")).to_have_count(2)
    expect(history.locator("li").first).to_contain_text("a red cat on a sofa")
    expect(history.locator("li").first.locator("button")).to_have_text("Current")
    older = history.locator("li").nth(1)
    expect(older).to_contain_text("a red cat")
    older.get_by_role("button", name="Restore").click()
    expect(page.locator("#detail textarea")).to_have_value("a red cat")
    expect(history.locator("li")).to_have_count(3)
    assert (folder / "cat.txt").read_text() == "a red cat"
    page.keyboard.press("Escape")
    expect(card.locator("textarea")).to_have_value("a red cat")


def test_a_job_that_wrote_captions_is_reverted_from_its_panel(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "src"
    make_image(folder / "one.png", (64, 64), RED)
    (folder / "one.txt").write_text("one")
    dataset = register(folder)
    out = tmp_path / "reverted_out"
    open_view(page, server, f"/jobs?dataset={dataset['id']}")
    page.fill("#arg-output", str(out))
    page.fill("#arg-resolution", "16x16")
    page.click("#run-submit")
    panel = page.locator("#job-panel")
    expect(panel.locator(".status").first).to_have_text("done", timeout=60_000)
    assert (out / "one.jpg").is_file() and (out / "one.txt").is_file()

    page.click("#job-revert")
    expect(page.locator("#job-reverted")).to_contain_text("Reverted")
    assert not (out / "one.jpg").exists() and not (out / "one.txt").exists()
    assert (folder / "one.png").is_file()  # its input stays
