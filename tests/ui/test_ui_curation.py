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


# -- build 4: detail view, mask overlay, audio, shortcuts, theme -------------------------------


def test_detail_view_zooms_with_wheel_and_keys_and_pans_by_drag(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    _, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}")
    page.locator('#gallery .item[data-path="wide.png"] .thumb').click()
    frame = page.locator("#zoom-frame")
    page.wait_for_function("() => document.querySelector('#detail img.full')?.naturalWidth > 0")
    expect(frame).to_have_attribute("data-zoom", "1.00")
    box = frame.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function("() => Number(document.querySelector('#zoom-frame').dataset.zoom) > 1.5")
    before = frame.locator("img").evaluate("i => i.style.transform")
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 20)
    page.mouse.up()
    assert frame.locator("img").evaluate("i => i.style.transform") != before  # panned
    page.keyboard.press("0")
    expect(frame).to_have_attribute("data-zoom", "1.00")
    page.keyboard.press("+")
    expect(frame).to_have_attribute("data-zoom", "1.50")
    page.keyboard.press("Shift+ArrowLeft")  # pans, stays on this item
    assert "translate(60px, 0px)" in frame.locator("img").evaluate("i => i.style.transform")
    expect(page.locator("#detail-title")).to_have_text("wide.png")
    page.keyboard.press("-")
    expect(frame).to_have_attribute("data-zoom", "1.00")


def test_mask_overlay_on_the_compare_view_follows_its_opacity_slider(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    import io

    from PIL import Image

    folder = tmp_path / "masked"
    make_image(folder / "m_001_input.png", (100, 100), RED)
    make_image(folder / "m_001_target.png", (100, 100), (30, 40, 220))
    make_image(folder / "m_001_mask.png", (100, 100), (255, 255, 255))
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}/pairs")
    pair = page.locator('.pair[data-base="m_001"]')
    page.wait_for_function(
        "() => [...document.querySelectorAll('.pair img')].every((i) => i.naturalWidth > 0)"
    )
    frame = pair.locator(".compare-frame")

    def centre() -> tuple[int, ...]:
        shot = Image.open(io.BytesIO(frame.screenshot())).convert("RGB")
        return shot.getpixel((shot.width // 4, shot.height // 2))  # type: ignore[return-value]

    assert centre()[0] > 150 and centre()[1] < 90  # red input, no mask shown
    pair.locator(".mask-opacity").fill("100")
    assert frame.evaluate("(f) => f.style.getPropertyValue('--mask')") == "1"
    assert min(centre()) > 230  # the white mask covers it
    pair.locator(".mask-opacity").fill("50")
    assert 120 < centre()[1] < 170  # half red (g 30), half white (g 255)


def test_audio_detail_shows_duration_and_a_waveform(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    import io
    import math
    import struct
    import wave

    folder = tmp_path / "tones"
    (folder / "wavs").mkdir(parents=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        tone = (int(12000 * math.sin(i / 8)) for i in range(12000))  # 1.5 s
        out.writeframes(b"".join(struct.pack("<h", v) for v in tone))
    (folder / "wavs" / "tone.wav").write_bytes(buffer.getvalue())
    (folder / "metadata.csv").write_text("tone|a tone\n")
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}")
    page.locator('.audio-row[data-path="wavs/tone.wav"] .details').click()
    expect(page.locator("#audio-duration")).to_contain_text("1.50 s")
    # The canvas has ink: the tone's bars are drawn.
    inked = page.locator("#detail canvas.waveform").evaluate(
        """(c) => {
          const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
          return n;
        }"""
    )
    assert inked > 800 * 20


def test_question_mark_shows_the_shortcuts_and_the_theme_toggle_sticks(
    page: Page, server: Server
) -> None:
    open_view(page, server, "/")
    page.keyboard.press("?")
    legend = page.locator("#shortcuts")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("Zoom in / out")
    page.keyboard.press("Escape")
    expect(legend).to_have_count(0)
    page.fill("#register-path", "?")  # typed into a field: no legend
    expect(legend).to_have_count(0)

    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light != dark and dark == "rgb(22, 22, 21)"
    page.reload()
    page.wait_for_selector("#view[data-ready]")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


# -- build 5: folder tree ----------------------------------------------------------------------

DROP_PNG = """async (png) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
  transfer.items.add(new File(["dropped into extra"], "dropped.txt", { type: "text/plain" }));
  const target = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_the_folder_tree_filters_the_gallery_and_uploads_go_into_the_chosen_folder(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    import base64
    import io

    from PIL import Image

    folder, dataset = shapes
    open_view(page, server, f"/d/{dataset['id']}")
    tree = page.locator("#folder-tree")
    expect(tree.locator('[data-folder=""]')).to_contain_text("All files4")
    expect(tree.locator('[data-folder="extra"]')).to_contain_text("extra2")
    tree.locator('[data-folder="extra"]').click()
    expect(page.locator("#page-range")).to_have_text("1–2 of 2")
    assert shown_paths(page) == ["extra/square.png", "extra/tiny.png"]
    expect(tree.locator('[data-folder="extra"]')).to_have_attribute("aria-current", "true")
    expect(page.locator("#upload-where")).to_have_text("Into extra/")
    assert "folder=extra" in page.url

    png = io.BytesIO()
    Image.new("RGB", (24, 24), RED).save(png, "PNG")
    page.evaluate(DROP_PNG, base64.b64encode(png.getvalue()).decode())
    expect(page.locator('#uploads li[data-name="dropped.png"]')).to_have_attribute(
        "data-state", "done"
    )
    assert (folder / "extra" / "dropped.png").read_bytes() == png.getvalue()
    assert (folder / "extra" / "dropped.txt").read_text() == "dropped into extra"
    assert not (folder / "dropped.png").exists()
    expect(page.locator("#page-range")).to_have_text("1–3 of 3")
    expect(tree.locator('[data-folder="extra"]')).to_contain_text("extra3")

    tree.locator('[data-folder=""]').click()
    expect(page.locator("#page-range")).to_have_text("1–5 of 5")


# -- build 3: stats ----------------------------------------------------------------------------


def test_stats_panel_counts_histograms_terms_that_filter_and_findings_that_link(
    page: Page, server: Server, shapes: tuple[Path, dict]
) -> None:
    folder, dataset = shapes
    (folder / "orphan.txt").write_text("a caption of nothing")
    (folder / "extra" / "tiny_copy.png").write_bytes((folder / "extra" / "tiny.png").read_bytes())
    open_view(page, server, f"/d/{dataset['id']}")
    page.get_by_role("link", name="Stats").click()
    page.wait_for_selector("#stats")
    expect(page.locator("#stat-counts")).to_contain_text("Items5")
    expect(page.locator("#caption-summary")).to_contain_text("60% captioned: 3 with, 2 without")
    expect(page.locator("#resolutions li")).to_have_count(4)  # two are 10x10
    expect(page.locator("#aspect-ratios")).to_contain_text("1:1")
    expect(page.locator('#top-tags a[data-term="studio"]')).to_contain_text("studio 2")

    expect(page.locator('#lint [data-kind="captions_without_images"]')).to_contain_text(
        "orphan.txt"
    )
    duplicates = page.locator('#lint [data-kind="exact_duplicates"]')
    expect(duplicates).to_contain_text("extra/tiny.png")
    duplicates.locator('a[data-path="extra/tiny_copy.png"]').click()
    page.wait_for_selector("#gallery")
    expect(page.locator("#gallery .item")).to_have_count(1)
    assert shown_paths(page) == ["extra/tiny_copy.png"]

    page.go_back()
    page.wait_for_selector("#stats")
    page.locator('#top-tags a[data-term="studio"]').click()
    page.wait_for_selector("#gallery")
    expect(page.locator("#page-range")).to_have_text("1–2 of 2")
    expect(page.locator("#filter-text")).to_have_value("studio")
