"""The web UI on a 5,000-image dataset, in Debian's headless Chromium (issue 17's targets).

    PYTHONPATH=src .venv/bin/python bench/bench_ui.py [--images 5000] [--runs 5] [--cold 1]
        [--no-bulk]

Measures what a curator waits for, from the browser's side (performance.now() in the page):

* first thumbnails: from navigation start until every thumbnail in the first screen of the
  gallery has decoded; the first run makes the server's thumbnails (cold), the next runs
  reload the page (warm server cache, browser cache off); ``--cold N`` times N cold first
  screens, each on a fresh server (new data folder: no thumbnails, no catalog) and browser;
* bulk prefix over everything: "Select all matching", then Preview (click -> the preview's
  summary shows) and Apply (click -> "Applied" shows), then Undo to restore the captions.

The reference tool (datasety 0.44.0) has no web UI, so there is no baseline to divide by: the
figures are reported against the issue's targets (thumbnails < 1 s, preview < 1 s, apply
< 5 s on this 2-core machine). Medians of --runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui.harness import launch_chromium, start_server  # noqa: E402

FIRST_SCREEN_LOADED = """() => {
  const images = [...document.querySelectorAll('#gallery img')].filter((img) => {
    const box = img.getBoundingClientRect();
    return box.top < innerHeight && box.bottom > 0;
  });
  return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0)
    ? performance.now() : 0;
}"""


def build(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        shade = (i * 7 % 256, i * 13 % 256, i * 29 % 256)
        Image.new("RGB", (512, 384), shade).save(folder / f"img_{i:05d}.jpg", quality=80)
        (folder / f"img_{i:05d}.txt").write_text(f"a photo number {i}, plain colour")


def register(server_url: str, folder: Path) -> str:
    """Register ``folder`` as a dataset; its gallery's URL."""
    dataset = httpx.post(f"{server_url}/v1/datasets", json={"path": str(folder)}, timeout=120)
    return f"{server_url}/#/d/{dataset.json()['id']}"


def cold_first_screen(data_dir: Path, folder: Path) -> float:
    """One cold first screen: a fresh server (no thumbnails yet) and a fresh browser."""
    with start_server(data_dir) as server, sync_playwright() as p:
        gallery = register(server.url, folder)
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        seconds = first_thumbnails(page, gallery)
        browser.close()
        return seconds


def first_thumbnails(page: Page, url: str) -> float:
    page.goto("about:blank")  # a new document each time, not a fragment change
    page.goto(url)
    handle = page.wait_for_function(FIRST_SCREEN_LOADED, timeout=60_000, polling=10)
    return float(handle.json_value()) / 1000


def timed_click(page: Page, selector: str, done: str) -> float:
    start = time.perf_counter()
    page.click(selector)
    page.wait_for_selector(done, timeout=120_000)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", type=int, default=1, help="cold first screens to time")
    parser.add_argument("--no-bulk", action="store_true", help="time the first screen only")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    try:
        folder = work / "photos"
        build(folder, options.images)
        colds = [cold_first_screen(work / f"cold-{i}", folder) for i in range(options.cold - 1)]
        with start_server(work / "server") as server:
            gallery = register(server.url, folder)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                # Browser cache off: every run asks the server again.
                cdp = context.new_cdp_session(page)
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                colds.append(first_thumbnails(page, gallery))
                warm = [first_thumbnails(page, gallery) for _ in range(options.runs)]
                print(
                    f"first thumbnails, {options.images} images: cold median "
                    f"{statistics.median(colds):.2f} s ({len(colds)} runs: "
                    f"{', '.join(f'{c:.2f}' for c in colds)}), "
                    f"warm median {statistics.median(warm):.2f} s ({options.runs} runs)"
                )
                if options.no_bulk:
                    browser.close()
                    return

                previews, applies = [], []
                for _ in range(options.runs):
                    page.goto(gallery)
                    page.wait_for_selector("#view[data-ready]")
                    page.click("#select-all")
                    page.select_option("#bulk-op", "prefix")
                    page.fill("#bulk-text", "ohwx, ")
                    previews.append(timed_click(page, "#bulk-preview-button", "#bulk-preview"))
                    applies.append(
                        timed_click(page, "#bulk-apply", "#bulk-summary:has-text('Applied')")
                    )
                    page.click("#bulk-undo")
                    page.wait_for_selector("#bulk-summary:has-text('Undone')", timeout=120_000)
                print(
                    f"select all + prefix on {options.images}: preview median "
                    f"{statistics.median(previews):.2f} s, apply median "
                    f"{statistics.median(applies):.2f} s ({options.runs} runs)"
                )
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
