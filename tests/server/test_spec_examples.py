"""spec/server-api.txt, top to bottom, as a client written against it sees the server.

Each example request is sent as the spec writes it; each answer is checked for its exact
status, every key of the spec's example (present, with the example's JSON type) and the exact
error strings. Additive keys are allowed; missing or retyped ones are not.

Already covered elsewhere, so not repeated here:

* POST /v1/datasets: 201 keys and ``created_at`` float, the folder name as default name,
  ``Missing 'path' in payload``, ``Provided path does not exist or is not a directory``,
  ``Invalid JSON payload`` (test_datasets.py); GET/PATCH/DELETE with their 404s and PATCH's
  ``Invalid JSON payload`` (test_datasets.py).
* The listing example (edit_001_input/target/.txt: file_type input/target, caption "add a
  winter hat", caption_path) exactly, both 404s (test_listing.py); every role key of
  ``group=true`` (test_listing.py).
* Download Content-Type, 403 ``Access denied: Path traversal detected`` on every method,
  ``File not found``, ``Dataset not found`` on GET/PUT (test_files.py, test_security.py).
* ?info=true with a sidecar and with a metadata.csv row; POST binary (Content-Type:
  image/png) -> 201 {status: created, path}; caption-only POST creates parent folders;
  ``Invalid base64 data`` on POST and PUT; PUT on a missing file is 404 (test_files.py).
* Jobs: 202 {id, status: started}, the job keys, GET /v1/jobs, ``Job not found``,
  ``Job is not running``, ``Missing 'command' in payload``, ``Invalid JSON payload``,
  ``Failed to start job: ...`` (test_jobs_api.py); cancel -> {status: cancelled}
  (test_jobs_queue.py); ``Endpoint not found`` for every method (test_error_shape.py).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import make_image

JSON_UTF8 = {"content-type": "application/json; charset=utf-8"}
FILE_KEYS = {"path": str, "name": str, "size_bytes": int, "extension": str}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def assert_shape(value: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> None:
    """Every key of the spec's example is there with the example's JSON type."""
    for key, kind in types.items():
        assert key in value, f"missing {key!r} in {value}"
        assert isinstance(value[key], kind), f"{key!r} is {value[key]!r}, expected {kind}"
        if kind is int or kind is float:
            assert not isinstance(value[key], bool), key


# -- datasets -----------------------------------------------------------------------------------


def test_every_json_endpoint_reads_json_with_a_charset(
    client: TestClient, dataset_dir: Path
) -> None:
    # "application/json; charset=utf-8" is JSON: what many clients send by default.
    def send(method: str, url: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload).encode("utf-8")
        return client.request(method, url, content=body, headers=JSON_UTF8)

    created = send("POST", "/v1/datasets", {"name": "Été", "path": str(dataset_dir)})
    assert created.status_code == 201 and created.json()["name"] == "Été"
    dataset_id = created.json()["id"]
    renamed = send("PATCH", f"/v1/datasets/{dataset_id}", {"name": "Updated Name"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Updated Name")
    (dataset_dir / "photo.jpg").write_bytes(b"old")
    put = send("PUT", f"/v1/datasets/{dataset_id}/files/photo.jpg", {"caption": "ünïcode"})
    assert (put.status_code, put.json()) == (
        200,
        {"status": "saved", "path": "photo.jpg", "caption_path": "photo.txt"},
    )
    assert (dataset_dir / "photo.txt").read_text(encoding="utf-8") == "ünïcode"
    assert (dataset_dir / "photo.jpg").read_bytes() == b"old"  # not taken as raw bytes
    job = send("POST", "/v1/jobs", {"command": "no-such-command"})
    assert (job.status_code, job.json()) == (400, {"error": "Unknown command: no-such-command"})


def test_the_dataset_example_types(client: TestClient, dataset_dir: Path) -> None:
    make_image(dataset_dir / "portrait.png")
    created = client.post("/v1/datasets", json={"name": "My Portraits", "path": str(dataset_dir)})
    assert created.status_code == 201
    body = created.json()
    assert_shape(body, {"id": str, "name": str, "path": str, "type": str, "created_at": float})
    assert uuid.UUID(body["id"]).version == 4
    assert (body["name"], body["path"], body["type"]) == (
        "My Portraits",
        str(dataset_dir.resolve()),
        "image",
    )
    for listed in client.get("/v1/datasets").json()["datasets"]:
        assert_shape(
            listed, {"id": str, "name": str, "path": str, "type": str, "created_at": float}
        )


# -- listing ------------------------------------------------------------------------------------


def spec_pair_files(root: Path) -> None:
    """The spec's group example: edit_001 input, target and caption."""
    make_image(root / "edit_001_input.png")
    make_image(root / "edit_001_target.png", color=(0, 0, 255))
    (root / "edit_001.txt").write_text("add a winter hat")


def test_the_group_example_exactly(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    spec_pair_files(dataset_dir)
    response = client.get(files_url, params={"group": "true"})
    assert response.status_code == 200
    (pair,) = response.json()["pairs"]
    sizes = {p.name: p.stat().st_size for p in dataset_dir.iterdir()}
    expected_roles = {
        "base": "edit_001",
        "input": "edit_001_input.png",
        "target": "edit_001_target.png",
        "mask": None,
        "canny": None,
        "pose": None,
        "seg": None,
        "depth": None,
        "normal": None,
        "image": None,
        "caption": "add a winter hat",
    }
    assert {key: pair[key] for key in expected_roles} == expected_roles
    assert isinstance(pair["all_files"], list)
    for item in pair["all_files"]:
        assert_shape(item, FILE_KEYS)
        assert item["size_bytes"] == sizes[item["name"]]
    assert [f["path"] for f in pair["all_files"]] == [
        "edit_001_input.png",
        "edit_001_target.png",
        "edit_001.txt",
    ]
    assert [f.get("file_type") for f in pair["all_files"][:2]] == ["input", "target"]


def test_folder_and_group_together(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    spec_pair_files(dataset_dir / "edits")
    make_image(dataset_dir / "elsewhere.png")
    response = client.get(files_url, params={"folder": "edits", "group": "true"})
    assert response.status_code == 200
    (pair,) = response.json()["pairs"]
    assert (pair["base"], pair["input"], pair["target"], pair["caption"]) == (
        "edit_001",
        "edits/edit_001_input.png",
        "edits/edit_001_target.png",
        "add a winter hat",
    )
    plain = client.get(files_url, params={"folder": "edits"}).json()["files"]
    assert [e["base"] for e in plain] == ["edit_001"]
    assert plain[0]["path"] == "edits"


# -- file info ----------------------------------------------------------------------------------


def test_info_keys_appear_only_when_the_spec_says(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    # caption/caption_path: only with a companion .txt; metadata: only for audio with a row.
    (dataset_dir / "photo.png").write_bytes(b"png")
    (dataset_dir / "lonely.wav").write_bytes(b"RIFF")
    (dataset_dir / "spoken.wav").write_bytes(b"RIFF1")
    (dataset_dir / "metadata.csv").write_text("photo|not audio\nspoken|hello there\n")
    photo = client.get(f"{files_url}/photo.png", params={"info": "true"}).json()
    assert photo == {"path": "photo.png", "size_bytes": 3}
    lonely = client.get(f"{files_url}/lonely.wav", params={"info": "true"}).json()
    assert lonely == {"path": "lonely.wav", "size_bytes": 4}
    spoken = client.get(f"{files_url}/spoken.wav", params={"info": "true"}).json()
    assert spoken == {"path": "spoken.wav", "size_bytes": 5, "metadata": "hello there"}
    (dataset_dir / "spoken.txt").write_text("a sidecar too")
    both = client.get(f"{files_url}/spoken.wav", params={"info": "true"}).json()
    assert both == {
        "path": "spoken.wav",
        "size_bytes": 5,
        "caption": "a sidecar too",
        "caption_path": "spoken.txt",
        "metadata": "hello there",
    }


# -- create, update, delete ---------------------------------------------------------------------


def test_the_create_json_example_exactly(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(
        f"{files_url}/photo.png", json={"data": b64(b"\x89PNG"), "caption": "a photo of a person"}
    )
    assert (response.status_code, response.json()) == (
        201,
        {"status": "created", "path": "photo.png", "caption_path": "photo.txt"},
    )
    assert (dataset_dir / "photo.png").read_bytes() == b"\x89PNG"
    assert (dataset_dir / "photo.txt").read_text() == "a photo of a person"


def test_the_update_example_exactly(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "photo.jpg").write_bytes(b"old")
    response = client.put(
        f"{files_url}/photo.jpg",
        json={"data": b64(b"new jpeg"), "caption": "updated caption text"},
    )
    assert (response.status_code, response.json()) == (
        200,
        {"status": "saved", "path": "photo.jpg", "caption_path": "photo.txt"},
    )
    assert (dataset_dir / "photo.jpg").read_bytes() == b"new jpeg"
    assert (dataset_dir / "photo.txt").read_text() == "updated caption text"


def test_a_caption_only_put_needs_the_file(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    """Decision: PUT is "Update File: updates an existing file's ... sidecars", and its
    errors list ``404 File not found``; "You can send only caption or metadata" is about not
    touching the file's bytes. So a caption-only PUT on a missing file is 404 and writes
    nothing; creating a sidecar without its file is POST's job ("You can send caption or
    metadata without data to create only sidecar data")."""
    for payload in ({"caption": "x"}, {"metadata": "x"}, {"caption": "x", "metadata": "y"}):
        response = client.put(f"{files_url}/missing.wav", json=payload)
        assert (response.status_code, response.json()) == (404, {"error": "File not found"})
    assert list(dataset_dir.iterdir()) == []
    created = client.post(f"{files_url}/missing.wav", json={"caption": "x"})
    assert (created.status_code, created.json()) == (
        201,
        {"status": "created", "path": "missing.wav", "caption_path": "missing.txt"},
    )


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("POST", {"json": {"caption": "x"}}),
        ("POST", {"content": b"raw", "headers": {"content-type": "image/png"}}),
        ("DELETE", {}),
        ("DELETE", {"params": {"caption": "true"}}),
    ],
)
def test_dataset_not_found_on_create_and_delete(
    client: TestClient, method: str, kwargs: dict[str, Any]
) -> None:
    response = client.request(method, "/v1/datasets/no-such-id/files/photo.png", **kwargs)
    assert (response.status_code, response.json()) == (404, {"error": "Dataset not found"})


def test_failed_to_save_is_500_with_the_details(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    (dataset_dir / "photo.jpg").write_bytes(b"old")
    monkeypatch.setattr("datasety.server.files.fsroot.write_all", full_disk)
    for method in ("POST", "PUT"):
        response = client.request(method, f"{files_url}/photo.jpg", json={"caption": "c"})
        assert (response.status_code, response.json()) == (
            500,
            {"error": "Failed to save file: No space left on device"},
        )
    assert sorted(p.name for p in dataset_dir.iterdir()) == ["photo.jpg"]


def test_failed_to_delete_is_500_with_the_details(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dataset_dir / "photo.jpg").write_bytes(b"keep")

    real_unlink = os.unlink

    def refuse(path: str, *, dir_fd: int | None = None) -> None:
        if path == "photo.jpg":
            raise PermissionError(errno.EACCES, "Permission denied")
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "unlink", refuse)
    response = client.delete(f"{files_url}/photo.jpg")
    assert (response.status_code, response.json()) == (
        500,
        {"error": "Failed to delete file: Permission denied"},
    )
    assert (dataset_dir / "photo.jpg").read_bytes() == b"keep"


# -- commands -----------------------------------------------------------------------------------


def test_the_commands_example(client: TestClient) -> None:
    response = client.get("/v1/commands")
    assert response.status_code == 200
    commands = response.json()["commands"]
    assert isinstance(commands, dict) and {"resize", "caption"} <= set(commands)
    for name, schema in commands.items():
        assert_shape(schema, {"description": str, "params": list})
        for param in schema["params"]:
            assert_shape(param, {"name": str, "help": str, "required": bool})
            assert param["help"].strip(), (name, param["name"])
            if "choices" in param:
                assert param["choices"] and all(isinstance(c, str) for c in param["choices"])
                if "default" in param and not param.get("multiple"):
                    assert param["default"] in param["choices"], (name, param)
    resize = {p["name"]: p for p in commands["resize"]["params"]}
    assert {"input", "output", "resolution", "crop_position"} <= set(resize)
    assert (resize["input"]["help"], resize["input"]["required"]) == (
        "Input directory containing images",
        False,
    )
    assert resize["output"]["help"] == "Output directory for processed images"
    assert resize["resolution"]["help"].startswith("Target resolution as WIDTHxHEIGHT")
    assert "choices" not in resize["resolution"]
    crop = resize["crop_position"]
    assert (crop["required"], crop["choices"], crop["default"]) == (
        False,
        ["top", "center", "bottom", "left", "right"],
        "center",
    )
