"""The web UI end to end: a real ``datasety server`` process driven through headless Chromium.

Every check looks at what the user would see and at the bytes on disk afterwards.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect

from tests.ui.harness import RegisterFn, Server, make_image, open_view, start_server

pytestmark = [pytest.mark.ui, pytest.mark.slow]

# Every image matching the selector has loaded and decoded (a broken one has naturalWidth 0).
ALL_LOADED = """(selector) => {
  const images = [...document.querySelectorAll(selector)];
  return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
}"""
RED = (220, 30, 30)
BLUE = (30, 40, 220)


def shown_paths(page: Page) -> list[str]:
    items = page.locator("#gallery .item")
    return [items.nth(i).get_attribute("data-path") or "" for i in range(items.count())]


def card(page: Page, path: str) -> Locator:
    return page.locator(f'#gallery .item[data-path="{path}"]')


@pytest.fixture
def photos(tmp_path: Path, register: RegisterFn) -> tuple[Path, dict]:
    """Three images of known sizes, two with captions."""
    folder = tmp_path / "photos"
    make_image(folder / "cat.png", (300, 150), RED)
    make_image(folder / "dog.png", (200, 400), BLUE)
    make_image(folder / "empty.png", (64, 64), (20, 160, 40))
    (folder / "cat.txt").write_text("a red cat")
    (folder / "dog.txt").write_text("a blue dog")
    return folder, register(folder)


# -- datasets page -----------------------------------------------------------------------------


def test_register_rename_and_unregister(
    page: Page, server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "fresh"
    for name in ("a.png", "b.png", "c.png"):
        make_image(folder / name, (16, 16), RED)
    open_view(page, server, "/")

    page.fill("#register-path", str(tmp_path / "does-not-exist"))
    page.click("#register-form button[type=submit]")
    expect(page.locator("#register-error")).to_have_text(
        "Provided path does not exist or is not a directory"
    )

    page.fill("#register-path", str(folder))
    page.fill("#register-name", "Fresh set")
    page.click("#register-form button[type=submit]")
    # Wait for the UI's own result (the new row) before asking the API: the registration is
    # finished once the list shows it.
    expect(page.locator("#datasets-body td[data-col=name]", has_text="Fresh set")).to_have_count(1)
    expect(page.locator("#register-error")).to_be_hidden()
    (dataset,) = [d for d in api.get("/v1/datasets").json()["datasets"] if d["path"] == str(folder)]
    row = page.locator(f'tr[data-id="{dataset["id"]}"]')
    expect(row.locator("td[data-col=name]")).to_have_text("Fresh set")
    expect(row.locator(".badge")).to_have_text("image")
    expect(row.locator("td[data-col=files]")).to_have_text("3")

    row.get_by_role("button", name="Rename").click()
    row.locator(".rename-input").fill("Renamed set")
    row.locator(".rename-input").press("Enter")
    expect(row.locator("td[data-col=name]")).to_have_text("Renamed set")
    assert api.get(f"/v1/datasets/{dataset['id']}").json()["name"] == "Renamed set"

    row.get_by_role("button", name="Unregister").click()
    expect(row).to_have_count(0)
    assert api.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert (folder / "a.png").is_file()  # unregistering never deletes files


# -- gallery -----------------------------------------------------------------------------------


def test_thumbnails_load_at_the_servers_thumbnail_size(
    page: Page, server: Server, photos: tuple[Path, dict]
) -> None:
    _, dataset = photos
    open_view(page, server, f"/d/{dataset['id']}")
    expect(page.locator("#gallery .item")).to_have_count(3)
    page.wait_for_function(ALL_LOADED, arg="#gallery img")
    sizes = page.eval_on_selector_all(
        "#gallery img",
        "imgs => imgs.map((img) => [img.alt, img.naturalWidth, img.naturalHeight, img.src])",
    )
    by_name = {alt: (w, h, src) for alt, w, h, src in sizes}
    # ?thumb=256 fits 256 x 256, never enlarges.
    assert by_name["cat.png"][:2] == (256, 128)
    assert by_name["dog.png"][:2] == (128, 256)
    assert by_name["empty.png"][:2] == (64, 64)
    assert all("thumb=256" in src for _, _, src in by_name.values())
    expect(page.locator("#page-range")).to_have_text("1–3 of 3")


def test_edit_captions_in_place_and_with_the_keyboard(
    page: Page, server: Server, photos: tuple[Path, dict]
) -> None:
    folder, dataset = photos
    open_view(page, server, f"/d/{dataset['id']}")

    # Ctrl+Enter saves.
    editor = card(page, "cat.png").locator("textarea")
    editor.fill("a red cat on a sofa")
    editor.press("Control+Enter")
    expect(card(page, "cat.png").locator(".save-state")).to_have_text("Saved")
    assert (folder / "cat.txt").read_text() == "a red cat on a sofa"

    # Arrow keys move between items, Enter edits, Escape leaves (and the blur saves).
    card(page, "cat.png").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.path") == "dog.png"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.path") == "empty.png"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
    page.keyboard.type("green field")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.dataset.path") == "empty.png"
    expect(card(page, "empty.png").locator(".save-state")).to_have_text("Saved")
    assert (folder / "empty.txt").read_text() == "green field"

    # The saved captions are what the server lists now.
    page.reload()
    page.wait_for_selector("#view[data-ready]")
    expect(card(page, "empty.png").locator("textarea")).to_have_value("green field")


def test_a_caption_changed_on_disk_shows_a_conflict_instead_of_being_overwritten(
    page: Page, server: Server, photos: tuple[Path, dict]
) -> None:
    folder, dataset = photos
    open_view(page, server, f"/d/{dataset['id']}")
    editor = card(page, "dog.png").locator("textarea")
    expect(editor).to_have_value("a blue dog")

    (folder / "dog.txt").write_text("edited elsewhere")
    editor.fill("my edit")
    editor.press("Control+Enter")

    conflict = card(page, "dog.png").locator(".conflict")
    expect(conflict).to_be_visible()
    expect(conflict.locator(".disk-text")).to_have_text("edited elsewhere")
    expect(card(page, "dog.png").locator(".save-state")).to_contain_text("Conflict")
    assert (folder / "dog.txt").read_text() == "edited elsewhere"

    conflict.get_by_role("button", name="Overwrite with mine").click()
    expect(card(page, "dog.png").locator(".save-state")).to_have_text("Saved")
    assert (folder / "dog.txt").read_text() == "my edit"


def test_filter_by_text_and_by_missing_caption(
    page: Page, server: Server, photos: tuple[Path, dict]
) -> None:
    _, dataset = photos
    open_view(page, server, f"/d/{dataset['id']}")
    expect(page.locator("#gallery .item")).to_have_count(3)

    page.fill("#filter-text", "blue")
    expect(page.locator("#gallery .item")).to_have_count(1)
    assert shown_paths(page) == ["dog.png"]
    expect(page.locator("#page-range")).to_have_text("1–1 of 1")

    page.fill("#filter-text", "")
    expect(page.locator("#gallery .item")).to_have_count(3)
    page.check("#filter-missing")
    expect(page.locator("#gallery .item")).to_have_count(1)
    assert shown_paths(page) == ["empty.png"]
    # The filter lives in the URL: a reload keeps it.
    page.reload()
    page.wait_for_selector("#view[data-ready]")
    expect(page.locator("#filter-missing")).to_be_checked()
    assert shown_paths(page) == ["empty.png"]


def test_pages_of_a_larger_dataset(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "many"
    for i in range(30):
        make_image(folder / f"img_{i:03d}.png", (8, 8), (i * 8, 0, 0))
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}?limit=24")
    expect(page.locator("#page-range")).to_have_text("1–24 of 30")
    assert shown_paths(page)[0] == "img_000.png"
    page.click("#page-next")
    expect(page.locator("#page-range")).to_have_text("25–30 of 30")
    assert shown_paths(page) == [f"img_{i:03d}.png" for i in range(24, 30)]
    expect(page.locator("#page-next")).to_be_disabled()


def test_detail_view_shows_the_full_size_image_and_its_info(
    page: Page, server: Server, photos: tuple[Path, dict]
) -> None:
    _, dataset = photos
    open_view(page, server, f"/d/{dataset['id']}")
    card(page, "cat.png").focus()
    page.keyboard.press(" ")
    dialog = page.locator("#detail")
    expect(dialog).to_be_visible()
    page.wait_for_function("() => document.querySelector('#detail img.full')?.naturalWidth > 0")
    assert page.eval_on_selector("#detail img.full", "i => [i.naturalWidth, i.naturalHeight]") == [
        300,
        150,
    ]
    expect(dialog.locator("dl.info").first).to_contain_text("cat.txt")
    expect(dialog).to_contain_text("300 × 150 px")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("document.activeElement.dataset.path") == "cat.png"


# -- pairs, audio, upload ----------------------------------------------------------------------


def test_pair_view_with_compare_slider_and_group_caption(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "edits"
    make_image(folder / "edit_001_input.png", (200, 100), RED)
    make_image(folder / "edit_001_target.png", (200, 100), BLUE)
    make_image(folder / "edit_001_mask.png", (200, 100), (255, 255, 255))
    (folder / "edit_001.txt").write_text("make it blue")
    dataset = register(folder)
    open_view(page, server, f"/d/{dataset['id']}/pairs")

    pair = page.locator('.pair[data-base="edit_001"]')
    expect(pair).to_have_count(1)
    roles = pair.locator("figure.role")
    assert [roles.nth(i).get_attribute("data-role") for i in range(roles.count())] == [
        "input",
        "target",
        "mask",
    ]
    page.wait_for_function(ALL_LOADED, arg=".pair img")

    # Slider at 20%: the input shows left of the line, the target right of it.
    pair.locator(".compare-slider").fill("20")
    frame = pair.locator(".compare-frame")
    assert frame.evaluate("(f) => f.style.getPropertyValue('--pos')") == "20%"
    shot = Image.open(io.BytesIO(frame.screenshot())).convert("RGB")
    width, height = shot.size
    left = shot.getpixel((int(width * 0.1), height // 2))
    right = shot.getpixel((int(width * 0.6), height // 2))
    assert left[0] > 150 and left[2] < 90, left  # red input
    assert right[2] > 150 and right[0] < 90, right  # blue target

    editor = pair.locator("textarea")
    expect(editor).to_have_value("make it blue")
    editor.fill("make the shirt blue")
    editor.press("Control+Enter")
    expect(pair.locator(".save-state")).to_have_text("Saved")
    assert (folder / "edit_001.txt").read_text() == "make the shirt blue"
    assert not (folder / "edit_001_input.txt").exists()


def test_audio_rows_edit_metadata_csv_transcripts(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "voice"
    (folder / "wavs").mkdir(parents=True)
    for name in ("a", "b"):
        (folder / "wavs" / f"{name}.wav").write_bytes(_silent_wav())
    (folder / "metadata.csv").write_text("a|hello there\n")
    dataset = register(folder)
    assert dataset["type"] == "audio"
    open_view(page, server, f"/d/{dataset['id']}")

    row_a = page.locator('.audio-row[data-path="wavs/a.wav"]')
    expect(row_a.locator("audio")).to_have_count(1)
    expect(row_a.locator("textarea")).to_have_value("hello there")
    row_a.locator("textarea").fill("hello again")
    row_a.locator("textarea").press("Control+Enter")
    expect(row_a.locator(".save-state")).to_have_text("Saved")

    row_b = page.locator('.audio-row[data-path="wavs/b.wav"]')
    row_b.locator("textarea").fill("a new row")
    row_b.locator("textarea").press("Control+Enter")
    expect(row_b.locator(".save-state")).to_have_text("Saved")
    assert (folder / "metadata.csv").read_text() == "a|hello again\nb|a new row\n"
    assert not (folder / "wavs" / "a.txt").exists()


def _silent_wav() -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    return buffer.getvalue()


DROP_FILES = """async ([png, caption]) => {
  const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "new.png", { type: "image/png" }));
  transfer.items.add(new File([caption], "new.txt", { type: "text/plain" }));
  const target = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_drag_and_drop_upload_of_an_image_and_its_caption(
    page: Page, server: Server, photos: tuple[Path, dict]
) -> None:
    import base64

    folder, dataset = photos
    open_view(page, server, f"/d/{dataset['id']}")
    png = io.BytesIO()
    Image.new("RGB", (40, 30), BLUE).save(png, "PNG")
    page.evaluate(DROP_FILES, [base64.b64encode(png.getvalue()).decode(), "an uploaded square"])

    row = page.locator('#uploads li[data-name="new.png"]')
    expect(row).to_have_attribute("data-state", "done")
    expect(row.locator(".upload-state")).to_have_text("Done, with caption")
    assert (folder / "new.png").read_bytes() == png.getvalue()
    assert (folder / "new.txt").read_text() == "an uploaded square"
    # The gallery reloads with the new file and its caption.
    expect(card(page, "new.png").locator("textarea")).to_have_value("an uploaded square")


# -- jobs --------------------------------------------------------------------------------------


def test_run_a_resize_job_from_the_form_and_watch_it_finish(
    page: Page, server: Server, photos: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, dataset = photos
    out = tmp_path / "resized"
    open_view(page, server, f"/jobs?dataset={dataset['id']}")

    expect(page.locator("#run-command")).to_have_value("resize")
    expect(page.locator("#arg-input")).to_have_value(str(folder))  # prefilled with the dataset
    expect(page.locator("#arg-crop_position")).to_have_value("center")  # the default
    page.fill("#arg-output", str(out))
    page.fill("#arg-resolution", "32x32")
    page.click("#run-submit")

    panel = page.locator("#job-panel")
    expect(panel.locator(".status").first).to_have_text("done", timeout=60_000)
    expect(panel.locator(".job-title progress")).to_have_attribute("value", "3")
    expect(page.locator("#job-log")).to_contain_text("cat.png")
    # The live log replaces the tail it started from: every line shows once.
    log_lines = page.locator("#job-log").inner_text().splitlines()
    assert sum("cat.png" in line for line in log_lines) == 1, log_lines
    expect(page.locator("#jobs-list .job").first.locator(".status")).to_have_text("done")
    outputs = sorted(p.name for p in out.iterdir())
    # Captions travel with their images (the form's --captions default).
    assert outputs == ["cat.jpg", "cat.txt", "dog.jpg", "dog.txt", "empty.jpg"]
    for name in ("cat.jpg", "dog.jpg", "empty.jpg"):
        with Image.open(out / name) as image:
            assert image.size == (32, 32)
    assert (out / "cat.txt").read_text() == "a red cat"


def test_cancel_a_long_job(
    page: Page, server: Server, api: httpx.Client, photos: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, _ = photos
    # A workflow of many quick steps: it keeps running until it is cancelled.
    step = {
        "command": "resize",
        "args": {
            "input": str(folder),
            "output": str(tmp_path / "o"),
            "resolution": "8x8",
            "dry_run": True,
        },
    }
    workflow = tmp_path / "long.json"
    workflow.write_text(json.dumps({"steps": [step] * 500}))
    open_view(page, server, "/jobs")

    page.select_option("#run-command", "workflow")
    page.fill("#arg-file", str(workflow))
    page.click("#run-submit")
    panel = page.locator("#job-panel")
    expect(panel.locator(".status").first).to_have_text("running", timeout=30_000)
    expect(page.locator("#job-log")).to_contain_text("cat.png", timeout=30_000)

    page.click("#job-cancel")
    expect(panel.locator(".status").first).to_have_text("cancelled")
    expect(page.locator("#job-cancel")).to_have_count(0)
    job_id = panel.get_attribute("data-id")
    deadline = time.monotonic() + 30
    while api.get(f"/v1/jobs/{job_id}").json()["ended_at"] is None:
        assert time.monotonic() < deadline, "the cancelled job's process never ended"
        time.sleep(0.2)
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"


# -- token -------------------------------------------------------------------------------------


def test_a_token_is_asked_once_and_kept_for_the_tab(
    browser: Browser, tmp_path: Path, photos: tuple[Path, dict]
) -> None:
    folder, _ = photos
    with start_server(tmp_path / "secured", env={"DATASETY_TOKEN": "s3cret"}) as secured:
        headers = {"Authorization": "Bearer s3cret"}
        created = httpx.post(
            f"{secured.url}/v1/datasets", json={"path": str(folder)}, headers=headers
        )
        dataset = created.json()
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{secured.url}/#/")  # the view waits for the token: no data-ready yet
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible()
        # Escape gives no token: the page says why it has nothing to show.
        page.keyboard.press("Escape")
        expect(page.locator("#view .error:visible")).to_have_text("Missing bearer token")
        page.reload()
        expect(dialog).to_be_visible()
        page.fill("#token-input", "wrong")
        page.keyboard.press("Enter")
        expect(page.locator("#token-error")).to_have_text("That token was refused.")
        page.fill("#token-input", "s3cret")
        page.keyboard.press("Enter")
        expect(page.locator(f'tr[data-id="{dataset["id"]}"]')).to_have_count(1)

        # Same tab, another view: no second prompt, and thumbnails load with the token.
        open_view(page, secured, f"/d/{dataset['id']}")
        page.wait_for_function(ALL_LOADED, arg="#gallery img")
        expect(dialog).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('datasety.token')") == "s3cret"
        context.close()


def test_progress_and_time_left_from_the_jobs_module(page: Page, server: Server) -> None:
    open_view(page, server, "/jobs")
    result = page.evaluate(
        """async () => {
          const jobs = await import("./jobs.js");
          const progress = { done: 25, total: 100 };
          const running = { status: "running", started_at: 100, progress };
          return {
            left: jobs.timeLeft(running, 110),
            notStarted: jobs.timeLeft({ ...running, progress: { done: 0, total: 100 } }, 110),
            unknownTotal: jobs.timeLeft({ ...running, progress: { done: 5, total: null } }, 110),
            finished: jobs.timeLeft({ ...running, status: "done" }, 110),
            progress: jobs.progressOf(running),
          };
        }"""
    )
    # 25 of 100 done in 10 s: 75 more at the same rate take 30 s.
    assert result == {
        "left": 30,
        "notStarted": None,
        "unknownTotal": None,
        "finished": None,
        "progress": {"done": 25, "total": 100},
    }


def test_the_run_form_follows_each_parameters_type(page: Page, server: Server) -> None:
    open_view(page, server, "/jobs")
    # degrade --type is a repeatable choice: a multiple select, sent as a list.
    page.select_option("#run-command", "degrade")
    assert (
        page.eval_on_selector("#arg-type", "el => el.tagName + ':' + el.multiple") == "SELECT:true"
    )
    # shuffle --group is a repeatable text option: one value per line; --input is required.
    page.select_option("#run-command", "shuffle")
    assert page.eval_on_selector("#arg-group", "el => el.tagName") == "TEXTAREA"
    expect(page.locator("label:has(#arg-input) .required")).to_have_count(1)
    # resize: numbers, checkboxes, choices with their defaults, help as hints.
    page.select_option("#run-command", "resize")
    assert page.get_attribute("#arg-workers", "type") == "number"
    assert page.get_attribute("#arg-upscale", "type") == "checkbox"
    expect(page.locator("#arg-output_format")).to_have_value("jpg")
    expect(page.locator("#arg-crop_position-hint")).to_have_text(
        "Which part of the image to keep when cropping"
    )
    args = page.evaluate(
        """async () => {
          const { collectArgs } = await import("./runform.js");
          const { commands } = await (await fetch("/v1/commands")).json();
          document.querySelector("#arg-input").value = "/data/in";
          document.querySelector("#arg-workers").value = "2";
          document.querySelector("#arg-upscale").checked = true;
          return collectArgs(document.querySelector("#run-form"), commands.resize.params);
        }"""
    )
    # What the user set, typed; unchanged defaults are left to click.
    assert args == {"input": "/data/in", "workers": 2, "upscale": True}
