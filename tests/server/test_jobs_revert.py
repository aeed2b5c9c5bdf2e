"""POST /v1/jobs/<id>/revert: a job's overwritten captions come back, its new files go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.server.settings import Settings

from .jobkit import ended, kill_leftover_jobs, make_images, wait_job


@pytest.fixture
def settings(data_dir: Path, tmp_path: Path) -> Settings:
    return Settings(data_dir=data_dir, roots=(tmp_path,))


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


def run_job(client: TestClient, body: dict[str, object]) -> str:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    job = wait_job(client, job_id, ended)
    assert job["status"] == "done", job
    return job_id


def test_revert_restores_captions_and_removes_created_files(
    client: TestClient, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images", 3)
    (images / "img_000.txt").write_text("hand written")
    (images / "notes.md").write_text("left alone")
    shuffle = {"input": str(images), "output": str(images), "group": "red|blue", "seed": 1}
    job_id = run_job(client, {"command": "shuffle", "args": shuffle})
    assert (images / "img_000.txt").read_text() != "hand written"
    assert (images / "img_002.txt").exists()

    response = client.post(f"/v1/jobs/{job_id}/revert")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "reverted",
        "restored": 1,
        "removed": 2,
        "not_restored": [],
    }
    assert (images / "img_000.txt").read_text() == "hand written"
    assert sorted(p.name for p in images.iterdir()) == [
        "img_000.png", "img_000.txt", "img_001.png", "img_002.png", "notes.md"
    ]  # fmt: skip
    again = client.post(f"/v1/jobs/{job_id}/revert")
    assert (again.status_code, again.json()) == (409, {"error": "Job already reverted"})


def test_revert_of_a_new_output_folder_and_refusal_when_changed(
    client: TestClient, tmp_path: Path
) -> None:
    images = make_images(tmp_path / "images", 2)
    out = tmp_path / "out"
    resize = {"input": str(images), "output": str(out), "resolution": "16x16"}
    job_id = run_job(client, {"command": "resize", "args": resize})
    made = sorted(out.iterdir())
    assert len(made) == 2
    made[0].write_bytes(b"changed after the job")
    response = client.post(f"/v1/jobs/{job_id}/revert")
    assert response.status_code == 409
    assert response.json()["error"].startswith("Cannot revert: ")
    assert len(list(out.iterdir())) == 2  # nothing removed

    made[0].unlink()
    response = client.post(f"/v1/jobs/{job_id}/revert")
    assert response.status_code == 200, response.text
    assert response.json()["removed"] == 1
    assert list(out.iterdir()) == []


def test_revert_errors(client: TestClient) -> None:
    response = client.post("/v1/jobs/nope/revert")
    assert (response.status_code, response.json()) == (404, {"error": "Job not found"})
