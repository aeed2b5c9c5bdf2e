"""`upload` as a server job: in the registry, validated like any command, run as a child."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.settings import Settings
from tests.hub.conftest import TOKEN, USER
from tests.hub.fakehub import FakeHub
from tests.hub.makers import captioned_pairs_dataset
from tests.server.jobkit import ended, kill_leftover_jobs, wait_job


@pytest.fixture()
def client(
    tmp_path: Path, hub_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    # Jobs inherit the server's environment: the fake Hub and a token, as a user would set.
    for key, value in hub_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    data_dir = tmp_path / "data"
    with TestClient(create_app(Settings(data_dir=data_dir)), base_url="http://localhost") as c:
        yield c
    kill_leftover_jobs(data_dir)


def test_upload_is_listed_and_runs_as_a_job_with_progress_per_file(
    client: TestClient, hub: FakeHub, tmp_path: Path
) -> None:
    listed = client.get("/v1/commands").json()["commands"]
    params = {p["name"]: p for p in listed["upload"]["params"]}
    assert params["path"]["required"] and params["path"]["type"] == "path"
    assert params["type"]["choices"] == ["auto", "image", "audio", "video", "document",
                                         "generic", "model"]  # fmt: skip

    folder = captioned_pairs_dataset(tmp_path / "edits")
    response = client.post(
        "/v1/jobs", json={"command": "upload", "args": {"path": str(folder), "yes": True}}
    )
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["id"], ended, timeout=120)

    assert job["status"] == "done", job["output"]
    assert job["progress"] == {"done": 12, "total": 12}
    assert job["output"][-1] == "Done: 12 processed, 0 skipped, 0 failed"
    assert f"Uploaded to {hub.url}/datasets/{USER}/edits" in job["output"]
    assert "README.md" in hub.repo(f"{USER}/edits").files
    assert not any(TOKEN in line for line in job["output"])


def test_a_job_without_yes_fails_with_the_hint(client: TestClient, tmp_path: Path) -> None:
    folder = captioned_pairs_dataset(tmp_path / "edits")
    response = client.post("/v1/jobs", json={"command": "upload", "args": {"path": str(folder)}})
    job = wait_job(client, response.json()["id"], ended, timeout=120)
    assert job["status"] == "failed"
    assert job["error"] == "no terminal to ask for confirmation: pass --yes to upload"
