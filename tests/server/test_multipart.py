"""multipart/form-data uploads (``curl -F``): the file part streamed to the file, ``caption`` and
``metadata`` fields written beside it, the envelope never written; other multipart types 415."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.server.test_process import Server, free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # the bytes matter, not the picture


def only_files(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones too (a temporary file must not stay)."""
    return sorted(p.name for p in folder.iterdir())


def test_a_form_with_a_file_and_a_caption(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(
        f"{files_url}/sub/photo.png",
        files={"file": ("x.png", PNG, "image/png")},
        data={"caption": "a red square"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "status": "created",
        "path": "sub/photo.png",
        "caption_path": "sub/photo.txt",
    }
    assert (dataset_dir / "sub" / "photo.png").read_bytes() == PNG
    assert (dataset_dir / "sub" / "photo.txt").read_text() == "a red square"
    assert only_files(dataset_dir / "sub") == ["photo.png", "photo.txt"]


def test_fields_in_any_order_metadata_and_any_file_field_name(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
            "Hello there.\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
            'filename="take1.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = client.post(f"{files_url}/wavs/a1.wav", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["metadata_path"] == "metadata.csv"
    assert (dataset_dir / "wavs" / "a1.wav").read_bytes() == PNG
    assert "a1|Hello there." in (dataset_dir / "metadata.csv").read_text()


def test_put_with_a_form_replaces_the_file(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "photo.png").write_bytes(b"old")
    big = PNG * 500  # several chunks
    response = client.put(f"{files_url}/photo.png", files={"file": ("p.png", big)})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "saved", "path": "photo.png"}
    assert (dataset_dir / "photo.png").read_bytes() == big


@pytest.mark.parametrize(
    ("files", "data", "message"),
    [
        (
            [("a", ("a.png", b"1")), ("b", ("b.png", b"2"))],
            {},
            "A multipart upload takes one file part, not several",
        ),
        ({"file": ("a.png", PNG)}, {"colour": "red"}, "Unknown form field 'colour'"),
        (
            {"file": ("a.png", PNG)},
            {"metadata": "a|b"},
            "metadata text must not contain '|' or line breaks",
        ),
    ],
)
def test_refused_forms_write_nothing(
    client: TestClient,
    files_url: str,
    dataset_dir: Path,
    files: Any,
    data: dict[str, str],
    message: str,
) -> None:
    (dataset_dir / "keep.txt").write_text("x")
    response = client.post(f"{files_url}/new/photo.png", files=files, data=data)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)
    assert only_files(dataset_dir) == ["keep.txt"]


def test_a_form_without_a_file_writes_nothing(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="caption"\r\n\r\nno file\r\n--B--\r\n'
    headers = {"content-type": "multipart/form-data; boundary=B"}
    response = client.post(f"{files_url}/photo.png", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"].startswith("A multipart upload needs one file part")
    assert only_files(dataset_dir) == []


def test_a_cut_off_form_writes_nothing(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + PNG
    headers = {"content-type": "multipart/form-data; boundary=B"}
    response = client.post(f"{files_url}/photo.png", content=body, headers=headers)
    assert response.status_code == 400
    assert "closing boundary" in response.json()["error"]
    assert only_files(dataset_dir) == []


def test_other_multipart_types_are_refused_with_415(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    for method in ("POST", "PUT"):
        (dataset_dir / "photo.png").write_bytes(b"old")
        response = client.request(
            method,
            f"{files_url}/photo.png" if method == "PUT" else f"{files_url}/other.png",
            content=b"--B\r\n\r\nx\r\n--B--\r\n",
            headers={"content-type": "multipart/mixed; boundary=B"},
        )
        assert response.status_code == 415
        error = response.json()["error"]
        assert error.startswith("Unsupported media type multipart/mixed")
        assert "application/json" in error and "multipart/form-data" in error
        assert (dataset_dir / "photo.png").read_bytes() == b"old"
        assert not (dataset_dir / "other.png").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_dash_f_stores_the_file_itself(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    source = tmp_path / "x.png"
    source.write_bytes(PNG)
    server = Server("--port", str(free_port()), "--data-dir", str(tmp_path / "data"))
    try:
        created = httpx.post(f"{server.url}/v1/datasets", json={"path": str(dataset)}).json()
        url = f"{server.url}/v1/datasets/{created['id']}/files/x.png"
        done = subprocess.run(
            ["curl", "-sS", "-F", f"file=@{source}", "-F", "caption=from curl", url],
            capture_output=True,
            text=True,
            check=True,
        )
        assert '"status":"created"' in done.stdout.replace(" ", "")
    finally:
        server.stop()
    assert (dataset / "x.png").read_bytes() == PNG
    assert (dataset / "x.txt").read_text() == "from curl"
