"""Uploads checked with ``?check=true``; thumbnails of undecodable images fail once, cheaply."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasety.server.files import thumbnails


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize("payload", [b"not an image", truncated_jpeg()])
@pytest.mark.parametrize("how", ["raw", "json", "form"])
def test_a_checked_upload_of_a_corrupt_image_is_refused(
    client: TestClient, files_url: str, dataset_dir: Path, payload: bytes, how: str
) -> None:
    url = f"{files_url}/new/bad.jpg?check=true"
    if how == "raw":
        response = client.post(url, content=payload, headers={"content-type": "image/jpeg"})
    elif how == "json":
        response = client.post(url, json={"data": base64.b64encode(payload).decode()})
    else:
        response = client.post(url, files={"file": ("bad.jpg", payload, "image/jpeg")})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("Not a readable image: new/bad.jpg (")
    assert "/proc/" not in error
    # Nothing stored: no file, no temporary, no folder made for it.
    assert list(dataset_dir.iterdir()) == []


def test_a_checked_upload_of_a_good_image_is_stored(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(
        f"{files_url}/ok.png?check=true", content=png_bytes(), headers={"content-type": "image/png"}
    )
    assert response.status_code == 201
    response = client.put(
        f"{files_url}/ok.png?check=true", content=b"junk", headers={"content-type": "image/png"}
    )
    assert response.status_code == 422
    assert (dataset_dir / "ok.png").read_bytes() == png_bytes()  # the old file stands


def test_unchecked_uploads_keep_the_spec_behaviour(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(
        f"{files_url}/raw.png", content=b"junk", headers={"content-type": "image/png"}
    )
    assert (response.status_code, response.json()) == (
        201,
        {"status": "created", "path": "raw.png"},
    )


def test_a_thumbnail_that_failed_is_not_decoded_again(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dataset_dir / "broken.png").write_bytes(b"not a png")
    first = client.get(f"{files_url}/broken.png?thumb=64")
    assert first.status_code == 422
    assert "/proc/" not in first.json()["error"]
    renders: list[str] = []
    monkeypatch.setattr(thumbnails, "_render", lambda *args: renders.append("x"))
    again = client.get(f"{files_url}/broken.png?thumb=64")
    assert (again.status_code, again.json()) == (422, first.json())
    assert renders == []
    # A repaired file is a new version: made, not refused.
    monkeypatch.undo()
    (dataset_dir / "broken.png").write_bytes(png_bytes())
    assert client.get(f"{files_url}/broken.png?thumb=64").status_code == 200
