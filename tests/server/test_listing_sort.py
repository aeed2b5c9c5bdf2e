"""Listing additions of issue 17: ``q`` on folder paths, ``media``, ``sort``/``order``, ``dims``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from .conftest import make_image


def names(client: TestClient, url: str, **params: Any) -> list[str]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    entries = response.json()["files"]
    return [f"{e['path']}/{e['name']}" if e["path"] else e["name"] for e in entries]


def test_q_matches_the_folder_path(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    make_image(dataset_dir / "extra" / "img.png")
    make_image(dataset_dir / "main.png")
    for needle in ("extra", "extra/", "EXTRA/img"):
        assert names(client, files_url, q=needle) == ["extra/img.png"]
    assert names(client, files_url, q="nomatch") == []


def test_media_leaves_out_metadata_csv_and_stray_text(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    make_image(dataset_dir / "a.png")
    (dataset_dir / "a.txt").write_text("a caption")
    (dataset_dir / "notes.txt").write_text("my notes")
    (dataset_dir / "metadata.csv").write_text("x|y\n")
    # The spec lists every file by default...
    assert names(client, files_url) == ["a.png", "metadata.csv", "notes.txt"]
    # ... and media=true only the items a curator works on.
    assert names(client, files_url, media="true") == ["a.png"]


def test_sort_by_each_key(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    make_image(dataset_dir / "b.png", (40, 10))  # wide
    make_image(dataset_dir / "a.png", (10, 30))  # tall
    make_image(dataset_dir / "c.png", (20, 20))
    Image.new("RGB", (300, 300)).save(dataset_dir / "big.bmp")
    (dataset_dir / "a.txt").write_text("a long caption here")
    (dataset_dir / "b.txt").write_text("short")
    now = 1_700_000_000
    for offset, name in enumerate(["c.png", "a.png", "b.png", "big.bmp"]):
        os.utime(dataset_dir / name, (now + offset, now + offset))

    assert names(client, files_url, sort="name") == ["a.png", "b.png", "big.bmp", "c.png"]
    assert names(client, files_url, sort="name", order="desc") == [
        "c.png", "big.bmp", "b.png", "a.png"
    ]  # fmt: skip
    assert names(client, files_url, sort="width") == ["a.png", "c.png", "b.png", "big.bmp"]
    assert names(client, files_url, sort="height", order="desc")[:2] == ["big.bmp", "a.png"]
    assert names(client, files_url, sort="aspect") == ["a.png", "big.bmp", "c.png", "b.png"]
    assert names(client, files_url, sort="mtime", order="desc")[0] == "big.bmp"
    assert names(client, files_url, sort="size", order="desc")[0] == "big.bmp"
    assert names(client, files_url, sort="caption_length", order="desc")[:2] == ["a.png", "b.png"]


def test_dims_on_items_and_unknown_sort_last(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    make_image(dataset_dir / "a.jpg", (64, 32))
    (dataset_dir / "broken.png").write_bytes(b"not a png at all")
    (dataset_dir / "clip.wav").write_bytes(b"RIFF")
    listing = client.get(files_url, params={"dims": "true"}).json()["files"]
    dims = {e["name"]: (e["width"], e["height"]) for e in listing}
    assert dims == {"a.jpg": (64, 32), "broken.png": (None, None), "clip.wav": (None, None)}
    # Without dims the spec's entry is unchanged.
    assert "width" not in client.get(files_url).json()["files"][0]
    for order in ("asc", "desc"):
        assert names(client, files_url, sort="width", order=order)[0] == "a.jpg"


def test_exif_rotated_jpeg_reports_upright_size(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    image = Image.new("RGB", (60, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90: shown 20 wide, 60 high
    image.save(dataset_dir / "turned.jpg", exif=exif)
    entry = client.get(files_url, params={"dims": "true"}).json()["files"][0]
    assert (entry["width"], entry["height"]) == (20, 60)


def test_pairs_get_dims_of_their_target(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    make_image(dataset_dir / "control" / "s1.png", (10, 10))
    make_image(dataset_dir / "target" / "s1.png", (30, 20))
    pair = client.get(files_url, params={"group": "true", "dims": "true"}).json()["pairs"][0]
    assert (pair["width"], pair["height"]) == (30, 20)


def test_bad_sort_is_a_400(client: TestClient, files_url: str) -> None:
    for params in ({"sort": "colour"}, {"sort": "name", "order": "up"}):
        response = client.get(files_url, params=params)
        assert response.status_code == 400
        assert set(response.json()) == {"error"}
