"""Regenerate docs/screenshots/*.png (datasets, gallery, pairs, jobs, bulk, stats, detail,
phone) from the running web UI.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--dark]

Builds small demo datasets in a temporary folder (images drawn here, so the shots are the
same on every machine), starts a real ``datasety server`` on a free port, runs one resize job,
and photographs each page in Debian's headless Chromium (``/usr/bin/chromium``).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui.harness import Server, launch_chromium, start_server  # noqa: E402

CAPTIONS = [
    "a lighthouse on a rocky coast at dusk",
    "a red bicycle leaning against a brick wall",
    "a bowl of ramen with a soft-boiled egg",
    "a snowy mountain ridge under a clear sky",
    "",
    "a cat asleep on a windowsill in the sun",
    "an old film camera on a wooden table",
    "",
    "a field of sunflowers in late afternoon light",
    "a neon sign reflected in a rainy street",
    "a sailboat on a calm lake",
    "a stack of books beside a cup of tea",
]


def scene(index: int, size: tuple[int, int]) -> Image.Image:
    """A calm abstract picture: a two-colour gradient sky, a sun and hills."""
    width, height = size
    hue = index * 0.61
    top = tuple(int(140 + 100 * math.sin(hue + k)) for k in (0, 2, 4))
    bottom = tuple(int(60 + 60 * math.cos(hue + k)) for k in (1, 3, 5))
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    sun = (int(width * (0.25 + 0.5 * ((index * 37) % 10) / 10)), int(height * 0.35))
    radius = int(min(size) * 0.12)
    draw.ellipse(
        [sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius], fill=(250, 230, 170)
    )
    for layer in range(3):
        shade = tuple(max(0, c - 30 * (layer + 1)) for c in bottom)
        points = [
            (x, int(height * (0.6 + 0.1 * layer) + 20 * math.sin(x / 40 + index + layer)))
            for x in range(0, width + 10, 10)
        ]
        draw.polygon([(0, height), *points, (width, height)], fill=shade)
    return image


def build_demo(base: Path) -> dict[str, Path]:
    photos = base / "landscapes"
    photos.mkdir(parents=True)
    for i, caption in enumerate(CAPTIONS):
        size = (768, 512) if i % 3 else (512, 768)
        scene(i, size).save(photos / f"photo_{i + 1:03d}.jpg", quality=90)
        if caption:
            (photos / f"photo_{i + 1:03d}.txt").write_text(caption)

    edits = base / "edits"
    edits.mkdir()
    for i in range(3):
        source = scene(i + 3, (640, 480))
        source.save(edits / f"edit_{i + 1:03d}_input.png")
        target = source.copy()
        mask = Image.new("L", source.size, 0)
        box = [200 + 20 * i, 120, 440 + 20 * i, 360]
        ImageDraw.Draw(target).rounded_rectangle(box, radius=40, fill=(70, 110, 200 - 40 * i))
        ImageDraw.Draw(mask).rounded_rectangle(box, radius=40, fill=255)
        target.save(edits / f"edit_{i + 1:03d}_target.png")
        mask.save(edits / f"edit_{i + 1:03d}_mask.png")
        (edits / f"edit_{i + 1:03d}.txt").write_text(
            ["add a blue window", "paint a lake", "place a banner"][i]
        )
    return {"landscapes": photos, "edits": edits}


def settle(page: Page) -> None:
    page.wait_for_selector("#view[data-ready]")
    page.wait_for_function(
        "() => [...document.images].every((img) => img.complete)", timeout=30_000
    )
    page.wait_for_timeout(300)


def shoot(server: Server, out: Path, dark: bool, folders: dict[str, Path], work: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as api:
        ids = {}
        for name, folder in folders.items():
            ids[name] = api.post(
                "/v1/datasets", json={"path": str(folder), "name": name.title()}
            ).json()["id"]
        job = api.post(
            "/v1/jobs",
            json={
                "command": "resize",
                "args": {
                    "input": str(folders["landscapes"]),
                    "output": str(work / "resized"),
                    "resolution": "512x512",
                },
            },
        ).json()
        deadline = time.monotonic() + 120
        while api.get(f"/v1/jobs/{job['id']}").json()["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise SystemExit("the demo resize job did not finish")
            time.sleep(0.2)

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(
            viewport={"width": 1280, "height": 800}, color_scheme="dark" if dark else "light"
        )
        shots = {
            "datasets": "/",
            "gallery": f"/d/{ids['landscapes']}",
            "pairs": f"/d/{ids['edits']}/pairs",
            "jobs": f"/jobs?dataset={ids['landscapes']}&job={job['id']}",
        }
        out.mkdir(parents=True, exist_ok=True)
        for name, fragment in shots.items():
            page.goto(f"{server.url}/#{fragment}")
            settle(page)
            if name == "gallery":
                # Show an edit in progress: the focus ring and the saved state.
                editor = page.locator("#gallery .item textarea").nth(4)
                editor.fill("a quiet harbour at dawn")
                editor.press("Control+Enter")
                page.wait_for_selector("#gallery .caption-editor[data-state=saved]")
            if name == "pairs":
                page.locator(".compare-slider").first.fill("62")
            if name == "jobs":
                page.wait_for_selector("#job-panel .status[data-status=done]")
                page.wait_for_timeout(300)
            page.screenshot(path=str(out / f"{name}.png"))
            print(out / f"{name}.png")

        # Curation: a selection with a bulk prefix previewed, the stats panel, an item's detail
        # with its caption history, and the datasets page on a phone.
        page.goto(f"{server.url}/#/d/{ids['landscapes']}")
        settle(page)
        boxes = page.locator("#gallery .item .select-box")
        boxes.nth(0).click()
        boxes.nth(3).click(modifiers=["Shift"])
        page.select_option("#bulk-op", "prefix")
        page.fill("#bulk-text", "ohwx, ")
        page.click("#bulk-preview-button")
        page.wait_for_selector("#bulk-preview")
        page.screenshot(path=str(out / "bulk.png"))
        print(out / "bulk.png")

        page.goto(f"{server.url}/#/d/{ids['landscapes']}/stats")
        page.wait_for_selector("#lint", timeout=60_000)
        settle(page)
        page.screenshot(path=str(out / "stats.png"))
        print(out / "stats.png")

        page.goto(f"{server.url}/#/d/{ids['landscapes']}")
        settle(page)
        page.locator("#gallery .item .thumb").nth(4).click()
        page.wait_for_selector("#caption-history li[data-id]")
        page.wait_for_function("() => document.querySelector('#detail img.full')?.naturalWidth > 0")
        page.screenshot(path=str(out / "detail.png"))
        print(out / "detail.png")

        phone = browser.new_page(
            viewport={"width": 390, "height": 844}, color_scheme="dark" if dark else "light"
        )
        phone.goto(f"{server.url}/#/")
        settle(phone)
        phone.screenshot(path=str(out / "phone.png"))
        print(out / "phone.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs"
    )
    parser.add_argument("--dark", action="store_true", help="photograph the dark colour scheme")
    options = parser.parse_args()
    # A fixed folder, so the paths in the pictures stay the same from one run to the next.
    work = Path(tempfile.gettempdir()) / "datasety-demo"
    shutil.rmtree(work, ignore_errors=True)
    try:
        folders = build_demo(work / "data")
        with start_server(work / "server") as server:
            shoot(server, options.out, options.dark, folders, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
