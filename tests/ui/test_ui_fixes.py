"""What a curator hit in the web UI (issue 17, fixes 1-7), each reproduced in Chromium."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.harness import RegisterFn, Server, make_image, open_view

pytestmark = [pytest.mark.ui, pytest.mark.slow]

RED = (220, 30, 30)
BLUE = (30, 40, 220)


def silent_wav(frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * frames)
    return buffer.getvalue()


@pytest.fixture
def voice(tmp_path: Path, register: RegisterFn) -> tuple[Path, dict]:
    """An LJSpeech-style dataset: wavs/, metadata.csv and a stray notes.txt."""
    folder = tmp_path / "voice"
    (folder / "wavs").mkdir(parents=True)
    for name in ("a", "b"):
        (folder / "wavs" / f"{name}.wav").write_bytes(silent_wav())
    (folder / "metadata.csv").write_text("a|hello there\n")
    (folder / "notes.txt").write_text("recorded in March")
    return folder, register(folder)


# -- 1: a 390 px wide screen -------------------------------------------------------------------


def test_a_phone_sized_screen_shows_the_detail_image_and_the_whole_datasets_table(
    browser: Browser, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "phone"
    make_image(folder / "wide.png", (600, 300), RED)
    dataset = register(folder)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        open_view(page, server, "/")
        row = page.locator(f'tr[data-id="{dataset["id"]}"]')
        expect(row).to_be_visible()
        assert page.evaluate("document.querySelector('table.datasets').scrollWidth") <= 390
        for name in ("Open", "Rename", "Unregister"):
            box = row.get_by_role("button" if name != "Open" else "link", name=name).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)

        open_view(page, server, f"/d/{dataset['id']}")
        page.locator('#gallery .item[data-path="wide.png"] .thumb').click()
        page.wait_for_function("() => document.querySelector('#detail img.full')?.naturalWidth > 0")
        box = page.locator("#detail img.full").bounding_box()
        assert box is not None and box["width"] >= 300 and box["height"] >= 150, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    finally:
        context.close()


# -- 2 and 5: audio datasets -------------------------------------------------------------------


def test_an_audio_dataset_has_no_pairs_tab_no_stray_items_and_audio_wording(
    page: Page, server: Server, voice: tuple[Path, dict]
) -> None:
    _, dataset = voice
    open_view(page, server, f"/d/{dataset['id']}")
    expect(page.locator(".audio-row")).to_have_count(2)
    assert page.locator("#gallery .item").evaluate_all("els => els.map((e) => e.dataset.path)") == [
        "wavs/a.wav",
        "wavs/b.wav",
    ]
    expect(page.locator("#page-range")).to_have_text("1–2 of 2")
    expect(page.locator(".tabs")).to_have_attribute("data-pairs", "no")
    expect(page.locator(".tabs")).not_to_contain_text("Pairs")
    expect(page.locator("#dropzone")).to_contain_text("Drop audio files")
    expect(page.locator("#dropzone")).not_to_contain_text("images")


def test_a_transcript_edited_in_the_pairs_view_goes_to_metadata_csv_without_a_conflict(
    page: Page, server: Server, voice: tuple[Path, dict]
) -> None:
    folder, dataset = voice
    open_view(page, server, f"/d/{dataset['id']}/pairs")
    group = page.locator('.pair[data-base="a"]')
    editor = group.locator("textarea")
    expect(editor).to_have_value("hello there")
    editor.fill("hello from the pairs view")
    editor.press("Control+Enter")
    expect(group.locator(".save-state")).to_have_text("Saved")
    assert (folder / "metadata.csv").read_text() == "a|hello from the pairs view\n"
    assert not (folder / "wavs" / "a.txt").exists()
    assert not (folder / "a.txt").exists()


def test_the_pairs_tab_shows_on_a_dataset_with_pairs_only(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    plain = tmp_path / "plain"
    make_image(plain / "one.png", (16, 16), RED)
    (plain / "notes.txt").write_text("not a caption of anything")
    edits = tmp_path / "edits"
    make_image(edits / "e_001_input.png", (16, 16), RED)
    make_image(edits / "e_001_target.png", (16, 16), BLUE)
    plain_set, edit_set = register(plain), register(edits)

    open_view(page, server, f"/d/{plain_set['id']}")
    expect(page.locator("#gallery .item")).to_have_count(1)  # notes.txt is no item
    expect(page.locator(".tabs")).to_have_attribute("data-pairs", "no")
    expect(page.locator(".tabs")).not_to_contain_text("Pairs")
    expect(page.locator("#dropzone")).to_contain_text("Drop images")
    open_view(page, server, f"/d/{edit_set['id']}")
    expect(page.locator(".tabs")).to_have_attribute("data-pairs", "yes")
    expect(page.locator(".tabs")).to_contain_text("Pairs")


# -- 4: captions of folder-style pairs ---------------------------------------------------------


def test_a_new_caption_of_a_folder_style_pair_follows_the_datasets_convention(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "scenes"
    for n in ("01", "02"):
        make_image(folder / "control" / f"scene_{n}.png", (32, 32), RED)
        make_image(folder / "target" / f"scene_{n}.png", (32, 32), BLUE)
    (folder / "target" / "scene_01.txt").write_text("a blue scene")
    dataset = register(folder)

    open_view(page, server, f"/d/{dataset['id']}/pairs")
    group = page.locator('.pair[data-base="scene_02"]')
    group.locator("textarea").fill("another blue scene")
    group.locator("textarea").press("Control+Enter")
    expect(group.locator(".save-state")).to_have_text("Saved")
    assert (folder / "target" / "scene_02.txt").read_text() == "another blue scene"
    assert not (folder / "scene_02.txt").exists()
    assert not (folder / "control" / "scene_02.txt").exists()


def test_a_new_caption_in_the_gallery_goes_where_the_server_says(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    # Captions kept at the group's folder: the server's rule (caption_home.py) puts a new one
    # there too, and the gallery writes through the pair's image instead of guessing a path.
    folder = tmp_path / "scenes"
    for n in ("01", "02"):
        make_image(folder / "control" / f"scene_{n}.png", (32, 32), RED)
        make_image(folder / "target" / f"scene_{n}.png", (32, 32), BLUE)
    (folder / "scene_01.txt").write_text("a blue scene")
    dataset = register(folder)

    open_view(page, server, f"/d/{dataset['id']}")
    card = page.locator("#gallery .item").filter(has_text="scene_02")
    card.locator("textarea").fill("another blue scene")
    card.locator("textarea").press("Control+Enter")
    expect(card.locator(".save-state")).to_have_text("Saved")
    assert (folder / "scene_02.txt").read_text() == "another blue scene"
    assert not (folder / "target" / "scene_02.txt").exists()
    assert not (folder / "control" / "scene_02.txt").exists()


# -- 6: a file that does not decode ------------------------------------------------------------


def test_a_file_that_does_not_decode_says_so_on_its_card(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "broken"
    make_image(folder / "good.png", (16, 16), RED)
    (folder / "bad.png").write_bytes(b"this is no PNG at all" * 20)
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}")
    bad = page.locator('#gallery .item[data-path="bad.png"]')
    # The failure is the first thing on the card, in the server's words.
    expect(bad.locator(".card-error")).to_be_visible()
    assert bad.locator(":scope > *").first.get_attribute("class") == "card-error error"
    assert bad.locator(".card-error").inner_text().strip()
    expect(page.locator('#gallery .item[data-path="good.png"] .card-error')).to_have_count(0)


# -- 7: job forms and the job list -------------------------------------------------------------


def test_the_run_form_checks_fields_against_the_schema_before_sending(
    page: Page, server: Server, api: httpx.Client
) -> None:
    before = len(api.get("/v1/jobs").json()["jobs"])
    open_view(page, server, "/jobs")
    page.fill("#arg-input", "/somewhere")
    page.fill("#arg-workers", "-1")
    page.fill("#arg-megapixel", "-2")
    page.click("#run-submit")
    expect(page.locator("#arg-workers-error")).to_have_text("At least 0")
    expect(page.locator("#arg-workers")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#arg-megapixel-error")).to_be_visible()
    assert len(api.get("/v1/jobs").json()["jobs"]) == before  # nothing was sent
    # Fixing the field clears its message on the next try.
    page.fill("#arg-workers", "1")
    page.fill("#arg-megapixel", "")
    page.select_option("#run-command", "shuffle")
    page.click("#run-submit")
    expect(page.locator("#arg-input-error")).to_have_text("Required")


def test_a_servers_400_is_shown_beside_the_field_it_names(page: Page, server: Server) -> None:
    open_view(page, server, "/jobs")
    placed = page.evaluate(
        """async () => {
          const { paramOfError } = await import("./runform.js");
          const { commands } = await (await fetch("/v1/commands")).json();
          const params = commands.resize.params;
          const err = (message, body = null) => ({ message, body, status: 400 });
          return [
            paramOfError(err("Invalid value for '--resolution' / '-r': banana"), params),
            paramOfError(err("bad", { error: "bad", field: "output" }), params),
            paramOfError(err("Parameter 'workers' of resize must not contain a NUL byte"), params),
            paramOfError(err("Unknown command"), params),
          ];
        }"""
    )
    assert placed == ["resolution", "output", "workers", None]


def test_the_job_list_shows_input_folder_a_plain_command_line_and_partial_failures(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "mixed"
    make_image(folder / "fine.png", (64, 64), RED)
    (folder / "corrupt.png").write_bytes(b"not an image" * 10)
    dataset = register(folder)
    out = tmp_path / "mixed_out"
    open_view(page, server, f"/jobs?dataset={dataset['id']}")
    page.fill("#arg-output", str(out))
    page.fill("#arg-resolution", "16x16")
    page.click("#run-submit")

    panel = page.locator("#job-panel")
    status = panel.locator(".status").first
    expect(status).not_to_have_text("running", timeout=60_000)
    expect(status).not_to_have_text("queued", timeout=60_000)
    # One file failed: not a green "done".
    assert status.get_attribute("data-status") != "done"
    expect(status).to_contain_text("1 failed")
    expect(panel.locator("#job-failed")).to_contain_text("corrupt.png")
    expect(panel.locator("code.argv")).to_contain_text(f"datasety resize --input {folder}")
    assert "python" not in panel.locator("code.argv").inner_text()
    row = page.locator("#jobs-list .job").first
    expect(row.locator(".job-input")).to_have_text("mixed")
    expect(row.locator(".job-input")).to_have_attribute("title", str(folder))


def test_rerun_prefills_the_form_and_an_output_opens_as_a_dataset(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "small"
    make_image(folder / "one.png", (64, 64), RED)
    dataset = register(folder)
    out = tmp_path / "small_out"
    open_view(page, server, f"/jobs?dataset={dataset['id']}")
    page.fill("#arg-output", str(out))
    page.fill("#arg-resolution", "16x16")
    page.check("#arg-upscale")
    page.click("#run-submit")
    panel = page.locator("#job-panel")
    expect(panel.locator(".status").first).to_have_text("done", timeout=60_000)

    page.select_option("#run-command", "shuffle")  # the form moves on to something else
    page.click("#job-rerun")
    expect(page.locator("#run-command")).to_have_value("resize")
    expect(page.locator("#arg-output")).to_have_value(str(out))
    expect(page.locator("#arg-resolution")).to_have_value("16x16")
    expect(page.locator("#arg-upscale")).to_be_checked()

    page.click("#job-open-output")
    page.wait_for_url("**/#/d/*")
    page.wait_for_selector("#view[data-ready]")
    expect(page.locator(".dataset-head .path")).to_have_text(str(out))
    expect(page.locator('#gallery .item[data-path="one.jpg"]')).to_have_count(1)


UPLOAD_BAD = """async (bytes) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([atob(bytes)], "corrupt.png", { type: "image/png" }));
  const target = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_a_corrupt_upload_is_refused_and_says_why(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "uploads"
    make_image(folder / "ok.png", (16, 16), RED)
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}")
    page.evaluate(UPLOAD_BAD, base64.b64encode(b"garbage" * 30).decode())
    row = page.locator('#uploads li[data-name="corrupt.png"]')
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator(".upload-state")).to_contain_text("Not a readable image")
    assert not (folder / "corrupt.png").exists()
    expect(page.locator('#gallery .item[data-path="corrupt.png"]')).to_have_count(0)
