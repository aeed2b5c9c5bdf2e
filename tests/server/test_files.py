"""/v1/datasets/<id>/files/<path>: download, info, thumbnails, create, update, delete."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasety.server.app import create_app
from datasety.server.settings import Settings

from .conftest import BASE_URL, make_image


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def leftovers(folder: Path) -> list[str]:
    """Hidden (temporary) files anywhere under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*"))


# -- download ------------------------------------------------------------------------------------


def test_download_has_content_type_and_bytes(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    image = make_image(dataset_dir / "sub" / "photo.png")
    (dataset_dir / "voice.wav").write_bytes(b"RIFF....WAVE")
    (dataset_dir / "photo.webp").write_bytes(b"RIFFxxxxWEBP")
    response = client.get(f"{files_url}/sub/photo.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == image.read_bytes()
    assert client.get(f"{files_url}/voice.wav").headers["content-type"] == "audio/wav"
    assert client.get(f"{files_url}/photo.webp").headers["content-type"] == "image/webp"


def test_range_and_etag(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "data.bin").write_bytes(bytes(range(100)))
    url = f"{files_url}/data.bin"
    partial = client.get(url, headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.content == bytes(range(10, 20))
    assert partial.headers["content-range"] == "bytes 10-19/100"

    etag = client.get(url).headers["etag"]
    cached = client.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    (dataset_dir / "data.bin").write_bytes(bytes(range(50)))
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_download_errors(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "folder").mkdir()
    for path in ("missing.png", "folder", ""):
        response = client.get(f"{files_url}/{path}")
        assert (response.status_code, response.json()) == (404, {"error": "File not found"})
    response = client.get("/v1/datasets/nope/files/a.png")
    assert (response.status_code, response.json()) == (404, {"error": "Dataset not found"})


# -- info ----------------------------------------------------------------------------------------


def test_info(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    make_image(dataset_dir / "photo.jpg")
    (dataset_dir / "photo.txt").write_text("a person walking in the park")
    (dataset_dir / "wavs").mkdir()
    (dataset_dir / "wavs" / "utt1.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_text("utt1|transcription text for audio\n")
    make_image(dataset_dir / "bare.png")

    photo = client.get(f"{files_url}/photo.jpg", params={"info": "true"}).json()
    assert photo == {
        "path": "photo.jpg",
        "size_bytes": (dataset_dir / "photo.jpg").stat().st_size,
        "caption": "a person walking in the park",
        "caption_path": "photo.txt",
    }
    audio = client.get(f"{files_url}/wavs/utt1.wav?info=true").json()
    assert audio == {
        "path": "wavs/utt1.wav",
        "size_bytes": 4,
        "metadata": "transcription text for audio",
    }
    bare = client.get(f"{files_url}/bare.png?info=true").json()
    assert set(bare) == {"path", "size_bytes"}


def test_info_finds_a_group_caption(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    make_image(dataset_dir / "edit_001_input.png")
    (dataset_dir / "edit_001.txt").write_text("add a hat")
    info = client.get(f"{files_url}/edit_001_input.png?info=true").json()
    assert (info["caption"], info["caption_path"]) == ("add a hat", "edit_001.txt")


# -- thumbnails ----------------------------------------------------------------------------------


def test_thumbnail_is_cached_and_follows_the_source(
    client: TestClient, files_url: str, dataset_dir: Path, data_dir: Path
) -> None:
    source = make_image(dataset_dir / "big.png", size=(400, 200), color=(255, 0, 0))
    response = client.get(f"{files_url}/big.png", params={"thumb": 64})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert thumb.size == (64, 32)
        red, green, blue = thumb.convert("RGB").getpixel((32, 16))  # type: ignore[misc]
        assert red > 240 and green < 16 and blue < 16
    cached = sorted((data_dir / "thumbs").rglob("*.jpg"))
    assert len(cached) == 1
    assert client.get(f"{files_url}/big.png?thumb=64").content == response.content

    make_image(source, size=(400, 200), color=(0, 0, 255))
    with Image.open(io.BytesIO(client.get(f"{files_url}/big.png?thumb=64").content)) as thumb:
        assert thumb.convert("RGB").getpixel((32, 16))[2] > 240  # type: ignore[index]
    assert len(sorted((data_dir / "thumbs").rglob("*.jpg"))) == 1  # the stale one is gone


def test_thumbnail_sizes_share_a_few_cached_files(
    client: TestClient, files_url: str, dataset_dir: Path, data_dir: Path
) -> None:
    make_image(dataset_dir / "big.png", size=(400, 200))
    for size in (100, 120, 128):
        with Image.open(io.BytesIO(client.get(f"{files_url}/big.png?thumb={size}").content)) as t:
            assert t.size == (128, 64)
    client.get(f"{files_url}/big.png?thumb=16")
    sizes = []
    for cached in (data_dir / "thumbs").rglob("*.jpg"):
        with Image.open(cached) as thumb:
            sizes.append(thumb.size)
    assert sorted(sizes) == [(32, 16), (128, 64)]


def test_thumbnail_keeps_transparency_as_webp(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    make_image(dataset_dir / "alpha.png", size=(50, 50), color=(0, 255, 0, 0))
    response = client.get(f"{files_url}/alpha.png?thumb=32")
    assert response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert thumb.mode == "RGBA"
        assert thumb.getpixel((5, 5))[3] == 0  # type: ignore[index]


def test_thumbnail_is_upright(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    """A JPEG stored sideways with EXIF orientation 6 gets an upright thumbnail."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (200, 100), (30, 200, 30)).save(dataset_dir / "side.jpg", exif=exif)
    response = client.get(f"{files_url}/side.jpg?thumb=64")
    with Image.open(io.BytesIO(response.content)) as thumb:
        assert thumb.size == (32, 64)
        assert thumb.getexif().get(0x0112) is None  # not rotated a second time by a viewer


def test_thumbnail_errors(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "notes.txt").write_text("x")
    (dataset_dir / "broken.png").write_bytes(b"not a png")
    make_image(dataset_dir / "ok.png")
    not_image = client.get(f"{files_url}/notes.txt?thumb=64")
    assert (not_image.status_code, not_image.json()) == (
        400,
        {"error": "Thumbnails are only available for images"},
    )
    broken = client.get(f"{files_url}/broken.png?thumb=64")
    assert broken.status_code == 422
    assert broken.json()["error"].startswith("Cannot make a thumbnail of broken.png")
    for value in ("8", "99999", "big"):
        bad = client.get(f"{files_url}/ok.png?thumb={value}")
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("Invalid value for 'thumb'")


# -- create --------------------------------------------------------------------------------------


def test_create_from_raw_bytes(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    payload = bytes(range(256)) * 300
    response = client.post(
        f"{files_url}/masks/photo_mask.png", content=payload, headers={"content-type": "image/png"}
    )
    assert (response.status_code, response.json()) == (
        201,
        {"status": "created", "path": "masks/photo_mask.png"},
    )
    assert (dataset_dir / "masks" / "photo_mask.png").read_bytes() == payload
    assert leftovers(dataset_dir) == []


def test_create_from_json(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    response = client.post(
        f"{files_url}/photo.png",
        content=json.dumps(
            {"data": b64(b"PNG"), "caption": "a photo of a person", "metadata": "spoken"}
        ).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201
    assert response.json() == {
        "status": "created",
        "path": "photo.png",
        "caption_path": "photo.txt",
        "metadata_path": "metadata.csv",
    }
    assert (dataset_dir / "photo.png").read_bytes() == b"PNG"
    assert (dataset_dir / "photo.txt").read_text() == "a photo of a person"
    assert (dataset_dir / "metadata.csv").read_text() == "photo|spoken\n"
    assert leftovers(dataset_dir) == []


def test_create_sidecars_only_makes_parent_folders(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(f"{files_url}/new/sub/clip.wav", json={"caption": "hello"})
    assert response.status_code == 201
    assert response.json() == {
        "status": "created",
        "path": "new/sub/clip.wav",
        "caption_path": "new/sub/clip.txt",
    }
    assert (dataset_dir / "new" / "sub" / "clip.txt").read_text() == "hello"
    assert not (dataset_dir / "new" / "sub" / "clip.wav").exists()


def test_create_refuses_to_overwrite(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "a.png").write_bytes(b"original")
    for kwargs in ({"content": b"new"}, {"json": {"data": b64(b"new")}}):
        response = client.post(f"{files_url}/a.png", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 409
        assert response.json() == {"error": "File already exists (use PUT to replace it)"}
    assert (dataset_dir / "a.png").read_bytes() == b"original"
    # A caption for an existing file is fine.
    assert client.post(f"{files_url}/a.png", json={"caption": "c"}).status_code == 201
    assert leftovers(dataset_dir) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"data": "%%%not base64%%%", "caption": "c"}, "Invalid base64 data"),
        ({"data": "abc", "metadata": "m"}, "Invalid base64 data"),
        ({"data": 12, "caption": "c"}, "'data' must be a base64 string"),
        (
            {"data": b64(b"ok"), "metadata": "a\nb"},
            "metadata text must not contain '|' or line breaks",
        ),
        ({"caption": ["x"]}, "'caption' must be a string"),
        ({"metadata": "a|b"}, "metadata text must not contain '|' or line breaks"),
        ({}, "Nothing to write: send 'data', 'caption' or 'metadata'"),
    ],
)
def test_create_errors_write_nothing(
    client: TestClient, files_url: str, dataset_dir: Path, payload: dict[str, Any], message: str
) -> None:
    response = client.post(f"{files_url}/x.png", json=payload)
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert sorted(p.name for p in dataset_dir.rglob("*")) == []


def test_create_invalid_json(client: TestClient, files_url: str) -> None:
    response = client.post(
        f"{files_url}/x.png", content=b"{", headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (400, {"error": "Invalid JSON payload"})


def test_create_needs_a_path(client: TestClient, files_url: str) -> None:
    response = client.post(f"{files_url}/", content=b"x")
    assert (response.status_code, response.json()) == (400, {"error": "Missing file path"})


def test_short_body_is_refused_and_leaves_nothing(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(
        f"{files_url}/short.bin",
        content=b"only ten b",
        headers={"content-type": "application/octet-stream", "content-length": "100"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Incomplete request body: expected 100 bytes, got 10"}
    assert list(dataset_dir.rglob("*")) == []


def test_body_over_the_limit_is_413(data_dir: Path, dataset_dir: Path) -> None:
    app = create_app(Settings(data_dir=data_dir, max_upload_mb=1))
    with TestClient(app, base_url=BASE_URL) as client:
        dataset = client.post("/v1/datasets", json={"path": str(dataset_dir)}).json()
        url = f"/v1/datasets/{dataset['id']}/files/big.bin"
        declared = client.post(url, content=b"x" * (1024 * 1024 + 1))
        assert (declared.status_code, declared.json()) == (
            413,
            {"error": "Request body too large (limit 1 MB)"},
        )

        def chunks() -> Any:  # no Content-Length: the limit is enforced while streaming
            for _ in range(3):
                yield b"y" * (512 * 1024)

        streamed = client.post(url, content=chunks())
        assert (streamed.status_code, streamed.json()["error"]) == (
            413,
            "Request body too large (limit 1 MB)",
        )
        assert list(dataset_dir.rglob("*")) == []
        exact = client.post(url, content=b"z" * (1024 * 1024))
        assert exact.status_code == 201


# -- update --------------------------------------------------------------------------------------


def test_update_caption_data_and_metadata(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "photo.jpg").write_bytes(b"old")
    (dataset_dir / "metadata.csv").write_bytes(b'a|"quoted" text|norm\r\nphoto|old\r\nb|keep\r\n')
    response = client.put(
        f"{files_url}/photo.jpg",
        json={"data": b64(b"new bytes"), "caption": "updated caption text", "metadata": "new"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "status": "saved",
        "path": "photo.jpg",
        "caption_path": "photo.txt",
        "metadata_path": "metadata.csv",
    }
    assert (dataset_dir / "photo.jpg").read_bytes() == b"new bytes"
    assert (dataset_dir / "photo.txt").read_text() == "updated caption text"
    assert (dataset_dir / "metadata.csv").read_bytes() == (
        b'a|"quoted" text|norm\r\nphoto|new\r\nb|keep\r\n'
    )
    assert leftovers(dataset_dir) == []


def test_update_adds_a_missing_metadata_row(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "wavs").mkdir()
    (dataset_dir / "wavs" / "utt9.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_bytes(b"utt1|one")
    response = client.put(f"{files_url}/wavs/utt9.wav", json={"metadata": "nine"})
    assert response.status_code == 200
    assert (dataset_dir / "metadata.csv").read_bytes() == b"utt1|one\nutt9|nine\n"
    entries = client.get(files_url).json()["files"]
    assert [e["caption"] for e in entries if e["base"] == "utt9"] == ["nine"]


def test_a_multi_speaker_row_keeps_its_speaker(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    """Piper's ``id|speaker|text`` rows: the listing shows the text, an edit keeps the
    speaker, and a new clip (whose speaker nobody named) is refused before its data lands."""
    (dataset_dir / "wavs").mkdir()
    for index in range(4):
        (dataset_dir / "wavs" / f"c{index}.wav").write_bytes(b"RIFF")
    rows = b"c0|alice|Hello.\nc1|bob|Five|five\nc2|alice|Again.\nc3|bob|More.\n"
    (dataset_dir / "metadata.csv").write_bytes(rows)
    entries = {e["base"]: e for e in client.get(files_url).json()["files"]}
    assert entries["c0"]["caption"] == "Hello." and entries["c1"]["caption"] == "Five"
    assert client.put(f"{files_url}/wavs/c1.wav", json={"caption": "Six"}).status_code == 200
    assert client.put(f"{files_url}/wavs/c0.wav", json={"metadata": "Hi."}).status_code == 200
    expected = b"c0|alice|Hi.\nc1|bob|Six|Six\nc2|alice|Again.\nc3|bob|More.\n"
    assert (dataset_dir / "metadata.csv").read_bytes() == expected
    new = client.post(f"{files_url}/wavs/c4.wav", json={"data": b64(b"RIFF"), "caption": "New."})
    assert new.status_code == 400
    assert "speaker" in new.json()["error"]
    assert not (dataset_dir / "wavs" / "c4.wav").exists()
    assert (dataset_dir / "metadata.csv").read_bytes() == expected


def test_update_raw_bytes_and_json_without_content_type(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"old")
    raw = client.put(
        f"{files_url}/a.png", content=b"raw new", headers={"content-type": "image/png"}
    )
    assert raw.json() == {"status": "saved", "path": "a.png"}
    assert (dataset_dir / "a.png").read_bytes() == b"raw new"
    bare = client.put(f"{files_url}/a.png", content=b'{"caption": "plain"}')
    assert bare.status_code == 200
    assert (dataset_dir / "a.txt").read_text() == "plain"


def test_update_errors(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "a.png").write_bytes(b"old")
    missing = client.put(f"{files_url}/nope.png", json={"caption": "x"})
    assert (missing.status_code, missing.json()) == (404, {"error": "File not found"})
    bad64 = client.put(f"{files_url}/a.png", json={"data": "!!!", "caption": "x"})
    assert (bad64.status_code, bad64.json()) == (400, {"error": "Invalid base64 data"})
    assert not (dataset_dir / "a.txt").exists()
    bad_json = client.put(
        f"{files_url}/a.png", content=b"[]", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    unknown = client.put("/v1/datasets/nope/files/a.png", json={"caption": "x"})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Dataset not found"})
    assert (dataset_dir / "a.png").read_bytes() == b"old"


def test_listing_reflects_the_servers_own_writes(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"img")
    assert client.get(files_url).json()["files"][0]["caption"] == ""
    client.put(f"{files_url}/a.png", json={"caption": "first"})
    assert client.get(files_url).json()["files"][0]["caption"] == "first"
    client.put(f"{files_url}/a.png", json={"caption": "second, longer"})
    entry = client.get(files_url).json()["files"][0]
    assert (entry["caption"], entry["files"][1]["size_bytes"]) == ("second, longer", 14)
    client.delete(f"{files_url}/a.png?caption=true")
    assert client.get(files_url).json()["files"] == []


# -- delete --------------------------------------------------------------------------------------


def test_delete(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    for name in ("a.jpg", "a.txt", "b.jpg", "b.txt"):
        (dataset_dir / name).write_text(name)
    response = client.delete(f"{files_url}/a.jpg")
    assert (response.status_code, response.json()) == (200, {"status": "deleted", "path": "a.jpg"})
    assert (dataset_dir / "a.txt").exists()
    with_caption = client.delete(f"{files_url}/b.jpg", params={"caption": "true"})
    assert with_caption.json() == {"status": "deleted", "path": "b.jpg", "caption_path": "b.txt"}
    assert sorted(p.name for p in dataset_dir.iterdir()) == ["a.txt"]
    again = client.delete(f"{files_url}/a.jpg")
    assert (again.status_code, again.json()) == (404, {"error": "File not found"})


def test_delete_in_a_subfolder_answers_the_deleted_files_own_path(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "sub").mkdir()
    (dataset_dir / "sub" / "photo.jpg").write_bytes(b"jpg")
    (dataset_dir / "sub" / "photo.txt").write_text("a caption")
    response = client.delete(f"{files_url}/sub/photo.jpg", params={"caption": "true"})
    assert (response.status_code, response.json()) == (
        200,
        {"status": "deleted", "path": "sub/photo.jpg", "caption_path": "sub/photo.txt"},
    )
    assert list((dataset_dir / "sub").iterdir()) == []


def test_delete_with_caption_when_only_the_caption_exists(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "x.txt").write_text("orphan caption")
    without = client.delete(f"{files_url}/x.jpg")
    assert (without.status_code, without.json()) == (404, {"error": "File not found"})
    assert (dataset_dir / "x.txt").exists()
    response = client.delete(f"{files_url}/x.jpg", params={"caption": "true"})
    assert response.status_code == 200
    assert response.json() == {
        "status": "deleted",
        "path": "x.txt",
        "caption_path": "x.txt",
        "note": "x.jpg was not found: only its caption x.txt was deleted",
    }
    assert not (dataset_dir / "x.txt").exists()
    again = client.delete(f"{files_url}/x.jpg", params={"caption": "true"})
    assert (again.status_code, again.json()) == (404, {"error": "File not found"})


def test_deleting_audio_removes_its_metadata_row(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "wavs").mkdir()
    for name in ("a.wav", "b.wav", "c.wav", "c.flac"):
        (dataset_dir / "wavs" / name).write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_bytes(b"a|first\r\nb|second|Second\r\nc|third\r\n")
    gone = client.delete(f"{files_url}/wavs/a.wav")
    assert gone.json() == {
        "status": "deleted",
        "path": "wavs/a.wav",
        "metadata_path": "metadata.csv",
    }
    assert (dataset_dir / "metadata.csv").read_bytes() == b"b|second|Second\r\nc|third\r\n"
    listed = client.get(files_url).json()
    assert "first" not in json.dumps(listed)
    # Kept on request, and while another audio file still has the row's id.
    kept = client.delete(f"{files_url}/wavs/b.wav", params={"keep_metadata": "true"})
    assert kept.json() == {"status": "deleted", "path": "wavs/b.wav"}
    shared = client.delete(f"{files_url}/wavs/c.wav")
    assert shared.json() == {"status": "deleted", "path": "wavs/c.wav"}
    assert (dataset_dir / "metadata.csv").read_bytes() == b"b|second|Second\r\nc|third\r\n"
    last = client.delete(f"{files_url}/wavs/c.flac")
    assert last.json()["metadata_path"] == "metadata.csv"
    assert (dataset_dir / "metadata.csv").read_bytes() == b"b|second|Second\r\n"
    assert leftovers(dataset_dir) == []


def test_delete_a_symlink_keeps_its_target(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "real.png").write_bytes(b"data")
    (dataset_dir / "alias.png").symlink_to(dataset_dir / "real.png")
    assert client.delete(f"{files_url}/alias.png").status_code == 200
    assert not (dataset_dir / "alias.png").is_symlink()
    assert (dataset_dir / "real.png").read_bytes() == b"data"


# -- concurrency ---------------------------------------------------------------------------------


def _in_threads(count: int, work: Any) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_caption_puts_leave_one_whole_value(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"img")
    values = [f"caption number {i} " * (50 + i) for i in range(16)]
    statuses: list[int] = []

    def put(i: int) -> None:
        statuses.append(client.put(f"{files_url}/a.png", json={"caption": values[i]}).status_code)

    _in_threads(len(values), put)
    assert statuses == [200] * len(values)
    assert (dataset_dir / "a.txt").read_text() in values
    assert leftovers(dataset_dir) == []


def test_concurrent_metadata_updates_all_land(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "metadata.csv").write_text("keep|me\n")

    def put(i: int) -> None:
        response = client.post(f"{files_url}/wavs/u{i}.wav", json={"metadata": f"text {i}"})
        assert response.status_code == 201

    _in_threads(20, put)
    lines = (dataset_dir / "metadata.csv").read_text().splitlines()
    assert lines[0] == "keep|me"
    assert sorted(lines[1:]) == sorted(f"u{i}|text {i}" for i in range(20))
