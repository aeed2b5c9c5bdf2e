"""/v1/datasets: every endpoint, status and error string of the spec, and persistence."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.settings import Settings
from datasety.server.store import DB_NAME, MIGRATIONS

from .conftest import BASE_URL, RegisterFn, make_image

KEYS = {"id", "name", "path", "type", "created_at"}


def test_register_returns_201_with_the_spec_shape(client: TestClient, dataset_dir: Path) -> None:
    response = client.post("/v1/datasets", json={"name": "My Portraits", "path": str(dataset_dir)})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == KEYS
    assert body["name"] == "My Portraits"
    assert body["path"] == str(dataset_dir.resolve())
    assert body["type"] == "generic"
    assert isinstance(body["created_at"], float)
    assert len(body["id"]) == 36


def test_name_defaults_to_the_folder_name(
    register: RegisterFn, dataset_dir: Path, tmp_path: Path
) -> None:
    assert register(dataset_dir)["name"] == "dataset"
    (tmp_path / "other").mkdir()
    assert register(tmp_path / "other", name="  ")["name"] == "other"


def test_registering_a_folder_again_answers_its_dataset(
    client: TestClient, dataset_dir: Path, tmp_path: Path
) -> None:
    first = client.post("/v1/datasets", json={"path": str(dataset_dir), "name": "first"})
    assert first.status_code == 201
    (tmp_path / "alias").symlink_to(dataset_dir)
    for path in (str(dataset_dir), str(tmp_path / "alias"), f"{dataset_dir}/./"):
        again = client.post("/v1/datasets", json={"path": path, "name": "second"})
        assert (again.status_code, again.json()) == (200, first.json())
    assert [d["id"] for d in client.get("/v1/datasets").json()["datasets"]] == [first.json()["id"]]


def test_concurrent_registrations_of_one_folder_make_one_dataset(
    client: TestClient, dataset_dir: Path
) -> None:
    answers: list[tuple[int, str]] = []

    def post() -> None:
        response = client.post("/v1/datasets", json={"path": str(dataset_dir)})
        answers.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert len({dataset_id for _, dataset_id in answers}) == 1
    assert len(client.get("/v1/datasets").json()["datasets"]) == 1


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["a.png", "b.jpg", "notes.md"], "image"),
        (["wavs/a.wav", "wavs/b.wav", "metadata.csv"], "audio"),
        (["clip.mp4", "clip.txt"], "video"),
        (["readme.md"], "generic"),
    ],
)
def test_type_is_detected(
    register: RegisterFn, dataset_dir: Path, files: list[str], expected: str
) -> None:
    for name in files:
        (dataset_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (dataset_dir / name).write_bytes(b"x")
    assert register(dataset_dir)["type"] == expected


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"name": "x"}, "Missing 'path' in payload"),
        ({"path": ""}, "Missing 'path' in payload"),
        (
            {"path": "/no/such/folder/anywhere"},
            "Provided path does not exist or is not a directory",
        ),
        ({"path": 42}, "'path' must be a string"),
        ({"path": "/tmp", "name": ["x"]}, "'name' must be a string"),
    ],
)
def test_register_errors(client: TestClient, payload: dict[str, Any], message: str) -> None:
    response = client.post("/v1/datasets", json=payload)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_register_a_file_is_refused(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    response = client.post("/v1/datasets", json={"path": str(tmp_path / "f.txt")})
    assert response.json() == {"error": "Provided path does not exist or is not a directory"}


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe{}", b"[1, 2]", b'"path"'])
def test_register_invalid_json(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/v1/datasets", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid JSON payload"}


def test_list_get_patch_delete(client: TestClient, register: RegisterFn, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = register(tmp_path / "a", name="A")
    second = register(tmp_path / "b", name="B")

    listed = client.get("/v1/datasets").json()
    assert listed == {"datasets": [first, second]}
    assert client.get(f"/v1/datasets/{first['id']}").json() == first

    patched = client.patch(f"/v1/datasets/{first['id']}", json={"name": "Updated Name"})
    assert patched.status_code == 200
    assert patched.json() == {**first, "name": "Updated Name"}
    assert client.get(f"/v1/datasets/{first['id']}").json()["name"] == "Updated Name"

    deleted = client.delete(f"/v1/datasets/{first['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "deleted"}
    assert (tmp_path / "a").is_dir()  # unregistering never touches the files
    assert client.get("/v1/datasets").json() == {"datasets": [second]}


def test_unknown_dataset_is_404(client: TestClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, "/v1/datasets/nope", json={"name": "x"})
        assert response.status_code == 404
        assert response.json() == {"error": "Dataset not found"}


def test_patch_errors(client: TestClient, dataset: dict[str, Any]) -> None:
    url = f"/v1/datasets/{dataset['id']}"
    bad = client.patch(url, content=b"{oops", headers={"content-type": "application/json"})
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid JSON payload"})
    typed = client.patch(url, json={"name": 3})
    assert (typed.status_code, typed.json()) == (400, {"error": "'name' must be a string"})
    empty = client.patch(url, json={"name": " "})
    assert (empty.status_code, empty.json()) == (400, {"error": "'name' must not be empty"})
    unchanged = client.patch(url, json={})
    assert (unchanged.status_code, unchanged.json()) == (200, dataset)


def test_roots_confine_registration(data_dir: Path, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (allowed / "escape").symlink_to(tmp_path / "outside")
    app = create_app(Settings(data_dir=data_dir, roots=(allowed,)))
    with TestClient(app, base_url=BASE_URL) as client:
        ok = client.post("/v1/datasets", json={"path": str(allowed / "inside")})
        assert ok.status_code == 201
        for path in (tmp_path / "outside", allowed / "escape", allowed / "inside" / ".." / ".."):
            refused = client.post("/v1/datasets", json={"path": str(path)})
            assert refused.status_code == 403
            assert refused.json() == {"error": "Access denied: path is outside the allowed roots"}


def test_datasets_survive_a_restart(data_dir: Path, dataset_dir: Path) -> None:
    make_image(dataset_dir / "a.png")
    with TestClient(create_app(Settings(data_dir=data_dir)), base_url=BASE_URL) as client:
        created = client.post("/v1/datasets", json={"path": str(dataset_dir), "name": "kept"})
        client.patch(f"/v1/datasets/{created.json()['id']}", json={"name": "renamed"})
    with TestClient(create_app(Settings(data_dir=data_dir)), base_url=BASE_URL) as client:
        assert client.get("/v1/datasets").json() == {
            "datasets": [{**created.json(), "name": "renamed"}]
        }


def test_store_is_wal_with_named_migrations(client: TestClient, data_dir: Path) -> None:
    with contextlib.closing(sqlite3.connect(data_dir / DB_NAME)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
