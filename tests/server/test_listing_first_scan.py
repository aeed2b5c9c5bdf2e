"""A page asked during a long first scan is answered once the scan has passed it: the same
entries, in the same order, as the finished listing shows; ``total`` counts what is known."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from datasety.server.catalog import catalogs, first_scan

# The folder the scan is held at, until the test lets it go.
HELD = "zz"


def make_tree(root: Path) -> None:
    """Folders whose path order is not the order a depth-first walk meets them ("a-c" sorts
    between "a" and "a/b"), role folders whose images join their parent's groups, captions
    beside role images, and an audio file captioned by ``metadata.csv``."""

    def write(rel: str, data: str = "x") -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data, encoding="utf-8")

    write("metadata.csv", "voice|a transcript\n")
    write("voice.wav")
    write("top.png")
    write("top.txt", "top caption")
    write("notes.md")
    for i in range(3):
        write(f"a/img{i}.jpg")
        write(f"a/img{i}.txt", f"a caption {i}")
        write(f"a/control/pair{i}.png")
        write(f"a/target/pair{i}.png")
        write(f"a/target/pair{i}.txt", f"pair caption {i}")
        write(f"a-c/clip{i}.mp4")
        write(f"a/b/deep{i}.webp")
        write(f"a/b/target/t{i}.png")
    write("a/control/readme.md")
    write("a/edit_001_input.png")
    write("a/edit_001_output.png")
    write("a/edit_001.txt", "edit caption")
    for i in range(40):
        write(f"{HELD}/late{i:02}.png")
        write(f"{HELD}/late{i:02}.txt", f"late {i}")


class HeldCatalog(catalogs.Catalog):
    """A catalog whose scans stop before folder ``zz`` until ``release`` is set."""

    release = threading.Event()

    def _scan(self, rel: str, *args: Any) -> Any:
        if rel == HELD:
            assert self.release.wait(timeout=60)
        return super()._scan(rel, *args)


@pytest.fixture
def held_scan(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """``HeldCatalog.release``, unset; pages are answered early at once (the dataset is small,
    not slow)."""
    monkeypatch.setattr(first_scan, "PARTIAL_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(HeldCatalog, "release", threading.Event())
    return HeldCatalog.release


def listing(found: catalogs.Catalog, **query: Any) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(found.listing(catalogs.Query(**query)).read())
    return answer


def finished(root: Path, **query: Any) -> dict[str, Any]:
    """The listing of a catalog whose first scan ran whole (no page on the way)."""
    fresh = catalogs.Catalog(root.resolve())
    try:
        listing(fresh)  # the full listing: scanned whole, inline
        return listing(fresh, **query)
    finally:
        fresh.close()


QUERIES: list[dict[str, Any]] = [
    {"limit": 6},
    {"limit": 5, "offset": 4},
    {"limit": 3, "offset": 2, "media_only": True},
    {"limit": 4, "offset": 1, "group": True},
    {"limit": 0, "offset": 3},
]


def test_early_pages_are_the_finished_listings_pages(
    tmp_path: Path, held_scan: threading.Event
) -> None:
    make_tree(tmp_path)
    expected = [finished(tmp_path, **query) for query in QUERIES]
    found = HeldCatalog(tmp_path.resolve())
    try:
        early = [listing(found, **query) for query in QUERIES]  # all while the scan is held
        held_scan.set()
        listing(found)  # the full listing waits for the scan to end
        after = [listing(found, **query) for query in QUERIES]
    finally:
        found.close()
    for query, page, whole, warm in zip(QUERIES, early, expected, after, strict=True):
        key = "pairs" if query.get("group") else "files"
        assert page["complete"] is False, query
        assert page[key] == whole[key], query
        # Nothing of the held folder is known yet: fewer entries than the finished listing.
        assert page["total"] < whole["total"], query
        assert warm == whole, query  # and once finished, the exact answer with no flag
    captions = {e["path"] + "/" + e["base"]: e["caption"] for e in early[0]["files"]}
    assert captions["/voice"] == "a transcript"  # metadata.csv read for an early page
    assert captions["/top"] == "top caption"
    assert early[1]["files"][0]["path"] == "a"


def test_a_page_beyond_the_scan_waits_for_its_end(
    tmp_path: Path, held_scan: threading.Event
) -> None:
    make_tree(tmp_path)
    expected = finished(tmp_path, limit=10, offset=30)
    found = HeldCatalog(tmp_path.resolve())
    answers: list[dict[str, Any]] = []
    asking = threading.Thread(target=lambda: answers.append(listing(found, limit=10, offset=30)))
    try:
        asking.start()
        asking.join(timeout=0.5)
        assert asking.is_alive()  # the page lies in the held folder: not answered yet
        held_scan.set()
        asking.join(timeout=60)
    finally:
        found.close()
    # Answered once the held folder was scanned (perhaps just before the scan's end).
    assert len(answers) == 1
    assert answers[0]["files"] == expected["files"]
    assert answers[0]["total"] == expected["total"]  # the held folder is the last one


def test_files_changed_during_the_scan_show_in_the_next_listing(
    tmp_path: Path, held_scan: threading.Event
) -> None:
    make_tree(tmp_path)
    found = HeldCatalog(tmp_path.resolve())
    try:
        early = listing(found, limit=3)
        os.remove(tmp_path / "top.png")
        (tmp_path / "aaa.png").write_bytes(b"x")
        held_scan.set()
        listing(found)  # the full listing waits for the scan to end
        after = listing(found, limit=3)
    finally:
        found.close()
    assert "top.png" in {f["name"] for f in early["files"]}
    assert after == finished(tmp_path, limit=3)
    names = {f["name"] for f in after["files"]}
    assert "aaa.png" in names and "top.png" not in names
