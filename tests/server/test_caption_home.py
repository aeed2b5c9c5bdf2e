"""Captions written through the server follow the dataset's convention (issue 17, fixes 2, 4)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from .conftest import make_image


def test_audio_caption_goes_to_metadata_csv(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "wavs").mkdir()
    for name in ("a", "b"):
        (dataset_dir / "wavs" / f"{name}.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_text("a|old text\n", encoding="utf-8")

    response = client.put(f"{files_url}/wavs/a.wav", json={"caption": "new text"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "saved",
        "path": "wavs/a.wav",
        "metadata_path": "metadata.csv",
    }
    # A row that did not exist is added, and no stray .txt is made for either.
    assert client.put(f"{files_url}/wavs/b.wav", json={"caption": "bee"}).status_code == 200
    assert (dataset_dir / "metadata.csv").read_text() == "a|new text\nb|bee\n"
    assert not list(dataset_dir.rglob("*.txt"))
    info = client.get(f"{files_url}/wavs/a.wav", params={"info": "true"}).json()
    assert info["metadata"] == "new text"


def test_audio_caption_that_cannot_be_a_row_is_a_400(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_text("a|old\n", encoding="utf-8")
    response = client.put(f"{files_url}/a.wav", json={"caption": "two\nlines"})
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert (dataset_dir / "metadata.csv").read_text() == "a|old\n"


def test_audio_without_metadata_csv_keeps_a_sidecar(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.wav").write_bytes(b"RIFF")
    response = client.put(f"{files_url}/a.wav", json={"caption": "hi"})
    assert response.json()["caption_path"] == "a.txt"
    assert (dataset_dir / "a.txt").read_text() == "hi"


def test_new_pair_caption_follows_captions_in_target(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    for base in ("scene_01", "scene_02"):
        make_image(dataset_dir / "control" / f"{base}.png")
        make_image(dataset_dir / "target" / f"{base}.png")
    (dataset_dir / "target" / "scene_01.txt").write_text("existing")
    for path in ("target/scene_02.png", "control/scene_02.png"):
        response = client.put(f"{files_url}/{path}", json={"caption": f"via {path}"})
        assert response.json()["caption_path"] == "target/scene_02.txt"
    assert (dataset_dir / "target" / "scene_02.txt").read_text() == "via control/scene_02.png"
    assert not (dataset_dir / "scene_02.txt").exists()
    assert not (dataset_dir / "control" / "scene_02.txt").exists()
    pair = client.get(files_url, params={"group": "true", "q": "scene_02"}).json()["pairs"][0]
    assert pair["caption"] == "via control/scene_02.png"


def test_new_pair_caption_follows_captions_at_the_group_folder(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    for base in ("s1", "s2"):
        make_image(dataset_dir / "control" / f"{base}.png")
        make_image(dataset_dir / "target" / f"{base}.png")
    (dataset_dir / "s1.txt").write_text("root style")
    response = client.put(f"{files_url}/target/s2.png", json={"caption": "new"})
    assert response.json()["caption_path"] == "s2.txt"
    # An existing caption is rewritten where it is.
    response = client.put(f"{files_url}/control/s1.png", json={"caption": "edited"})
    assert response.json()["caption_path"] == "s1.txt"
    assert (dataset_dir / "s1.txt").read_text() == "edited"


def test_plain_images_keep_their_own_sidecar(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    make_image(dataset_dir / "sub" / "a.png")
    response = client.post(f"{files_url}/sub/a.png", json={"caption": "x"})
    assert response.status_code == 201
    assert response.json()["caption_path"] == "sub/a.txt"
