"""GET /v1/datasets/<id>/stats (issue 17, Build 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from .conftest import make_image


def test_stats_counts_coverage_histograms_and_words(
    client: TestClient, dataset: dict[str, Any], dataset_dir: Path
) -> None:
    make_image(dataset_dir / "a.png", (64, 64))
    make_image(dataset_dir / "b.png", (64, 64))
    make_image(dataset_dir / "sub" / "c.jpg", (160, 90))
    make_image(dataset_dir / "d.png", (30, 20))
    (dataset_dir / "a.txt").write_text("ohwx, red cat, sitting")
    (dataset_dir / "b.txt").write_text("ohwx, black cat")
    (dataset_dir / "d.txt").write_text("   ")
    (dataset_dir / "notes.txt").write_text("stray")
    (dataset_dir / "clip.wav").write_bytes(b"RIFF")

    response = client.get(f"/v1/datasets/{dataset['id']}/stats", params={"top": 3})
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["entries"] == 5
    assert stats["kinds"] == {"audio": 1, "image": 4, "video": 0, "caption": 4, "other": 0}
    captions = stats["captions"]
    assert (captions["with"], captions["without"], captions["coverage"]) == (2, 3, 0.4)
    assert stats["resolutions"][0] == {"width": 64, "height": 64, "count": 2}
    assert {r["ratio"]: r["count"] for r in stats["aspect_ratios"]} == {
        "1:1": 2,
        "16:9": 1,
        "3:2": 1,
    }
    assert stats["top_words"][:2] == [{"word": "cat", "count": 2}, {"word": "ohwx", "count": 2}]
    assert stats["top_tags"][0] == {"tag": "ohwx", "count": 2}
    assert len(stats["top_words"]) == 3
    assert "lint" not in stats


def test_stats_lint_reuses_inspect_findings(
    client: TestClient, dataset: dict[str, Any], dataset_dir: Path
) -> None:
    make_image(dataset_dir / "a.png")
    (dataset_dir / "orphan.txt").write_text("no image")
    (dataset_dir / "broken.png").write_bytes(b"not a png")
    stats = client.get(f"/v1/datasets/{dataset['id']}/stats", params={"lint": "true"}).json()
    lint = stats["lint"]
    assert lint["captions_without_images"] == ["orphan.txt"]
    assert [f["file"] for f in lint["unreadable"]] == ["broken.png"]
    assert "a.png" in lint["images_without_captions"]


def test_stats_errors(client: TestClient, dataset: dict[str, Any]) -> None:
    response = client.get("/v1/datasets/nope/stats")
    assert (response.status_code, response.json()) == (404, {"error": "Dataset not found"})
    response = client.get(f"/v1/datasets/{dataset['id']}/stats", params={"top": 0})
    assert response.status_code == 400


def test_folders_count_media_entries_per_folder(
    client: TestClient, dataset: dict[str, Any], dataset_dir: Path
) -> None:
    make_image(dataset_dir / "a.png")
    (dataset_dir / "a.txt").write_text("a caption")
    (dataset_dir / "notes.txt").write_text("stray: no item")
    make_image(dataset_dir / "extra" / "b.png")
    make_image(dataset_dir / "extra" / "deep" / "c.png")
    make_image(dataset_dir / "extra" / "deep" / "d.png")
    # A pair's role folders count in the folder of their group.
    make_image(dataset_dir / "pairs" / "control" / "scene.png")
    make_image(dataset_dir / "pairs" / "target" / "scene.png")
    (dataset_dir / "empty").mkdir()

    response = client.get(f"/v1/datasets/{dataset['id']}/folders")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "folders": [
            {"path": "", "entries": 1},
            {"path": "extra", "entries": 1},
            {"path": "extra/deep", "entries": 2},
            {"path": "pairs", "entries": 1},
        ]
    }
    # The same folders and counts as the listing's entries say.
    listing = client.get(f"/v1/datasets/{dataset['id']}/files", params={"media": "true"}).json()
    assert sorted({e["path"] for e in listing["files"]}) == ["", "extra", "extra/deep", "pairs"]

    response = client.get("/v1/datasets/nope/folders")
    assert (response.status_code, response.json()) == (404, {"error": "Dataset not found"})
