"""/v1/jobs and /v1/commands in-process, with real job processes: the spec's examples,
validation before queueing, the record's keys, progress kept out of output, 404/400s."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.core.progress import PROGRESS_PREFIX
from datasety.server.settings import Settings

from .jobkit import ended, kill_leftover_jobs, make_images, wait_job

SPEC_KEYS = {"id", "command", "argv", "status", "output", "exit_code", "started_at", "ended_at"}
EXTRA_KEYS = {"progress", "queue_position", "queue_reason", "error", "created_at", "resume"}


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, kill_grace=2)


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


def test_spec_example_runs_the_resize(client: TestClient, tmp_path: Path, data_dir: Path) -> None:
    src = make_images(tmp_path / "raw", 3, size=(40, 30))
    out = tmp_path / "resized"
    # The spec's request, unchanged but for real paths.
    payload = {
        "command": "resize",
        "args": {
            "input": str(src),
            "output": str(out),
            "resolution": "512x512",
            "crop-position": "top",
        },
    }
    # Upscale is needed for tiny test images; the spec's request stays as it is otherwise.
    payload["args"]["upscale"] = True
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status"} and body["status"] == "started"

    job = wait_job(client, body["id"], ended)
    assert set(job) == SPEC_KEYS | EXTRA_KEYS
    assert job["status"] == "done" and job["exit_code"] == 0 and job["error"] is None
    assert job["argv"] == [
        sys.executable,
        "-m",
        "datasety",
        "resize",
        "--input",
        str(src),
        "--output",
        str(out),
        "--resolution",
        "512x512",
        "--crop-position",
        "top",
        "--upscale",
    ]
    assert job["progress"] == {"done": 3, "total": 3}
    assert job["queue_position"] is None
    assert job["created_at"] <= job["started_at"] <= job["ended_at"]
    assert job["output"][-1] == "Done: 3 processed, 0 skipped, 0 failed"
    assert not any(line.startswith(PROGRESS_PREFIX) for line in job["output"])
    assert sorted(p.name for p in out.iterdir()) == ["img_000.jpg", "img_001.jpg", "img_002.jpg"]

    # The raw log keeps the progress lines; the text view leaves them out.
    raw = (data_dir / "jobs" / f"{body['id']}.log").read_text()
    assert PROGRESS_PREFIX in raw
    text = client.get(f"/v1/jobs/{body['id']}/logs")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.splitlines() == job["output"]

    listed = client.get("/v1/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [body["id"]]
    assert listed[0] == job


def test_list_is_newest_first(client: TestClient, tmp_path: Path) -> None:
    ids = []
    for _ in range(3):
        response = client.post(
            "/v1/jobs", json={"command": "inspect", "args": {"input": str(tmp_path)}}
        )
        ids.append(response.json()["id"])
    for job_id in ids:
        wait_job(client, job_id, ended)
    assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == ids[::-1]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"command": "nope"}, "Unknown command: nope"),
        ({"args": {"input": "/x"}}, "Missing 'command' in payload"),
        ({"command": "resize", "args": {"colour": 1}}, "Unknown parameter 'colour' for resize"),
        (
            {"command": "resize", "args": {"crop_position": "middle"}},
            "Parameter 'crop_position' of resize expects one of top, center, bottom, left, right",
        ),
        (
            {"command": "resize", "args": {"workers": "many"}},
            "Parameter 'workers' of resize expects an integer >= 0",
        ),
        (
            {"command": "resize", "args": {"upscale": "yes"}},
            "Parameter 'upscale' of resize is a flag",
        ),
        ({"command": "server"}, "Command 'server' cannot run as a job"),
    ],
)
def test_invalid_jobs_are_refused_before_queueing(
    client: TestClient, payload: dict[str, object], message: str
) -> None:
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert client.get("/v1/jobs").json() == {"jobs": []}


def test_invalid_json(client: TestClient) -> None:
    response = client.post(
        "/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid JSON payload"}


def test_a_value_never_becomes_a_flag_and_run_time_problems_fail_the_job(
    client: TestClient, tmp_path: Path
) -> None:
    missing = tmp_path / "not-yet"
    response = client.post("/v1/jobs", json={"command": "inspect", "args": {"input": "--help"}})
    assert response.status_code == 202
    job = wait_job(client, response.json()["id"], ended)
    assert "--input=--help" in job["argv"]
    assert job["status"] == "failed" and job["exit_code"] != 0
    assert "Usage:" not in "\n".join(job["output"])  # --help was a value, not a flag

    response = client.post("/v1/jobs", json={"command": "inspect", "args": {"input": str(missing)}})
    job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "failed" and job["exit_code"] == 1
    assert job["error"] and "not-yet" in job["error"] and "\n" not in job["error"]
    assert f"Error: {job['error']}" in job["output"]


def test_a_run_with_failed_files_is_a_failed_job_that_says_how_many(
    client: TestClient, tmp_path: Path
) -> None:
    src = make_images(tmp_path / "raw", 3, size=(40, 30))
    (src / "img_001.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    args = {"input": str(src), "output": str(out), "resolution": "64x48", "upscale": True}
    response = client.post("/v1/jobs", json={"command": "resize", "args": args})
    job = wait_job(client, response.json()["id"], ended)
    # Every other file was still processed; the job is not green.
    assert sorted(p.name for p in out.iterdir()) == ["img_000.jpg", "img_002.jpg"]
    assert job["status"] == "failed" and job["exit_code"] == 3
    assert job["error"] == "1 of 3 files failed"
    assert job["output"][-2:] == [
        "Done: 2 processed, 0 skipped, 1 failed",
        "Error: 1 of 3 files failed",
    ]
    assert job["progress"] == {"done": 3, "total": 3}


def test_unknown_jobs_are_404(client: TestClient) -> None:
    for method, url in [
        ("GET", "/v1/jobs/missing"),
        ("DELETE", "/v1/jobs/missing"),
        ("GET", "/v1/jobs/missing/logs"),
        ("GET", "/v1/jobs/missing/logs?follow=true"),
    ]:
        response = client.request(method, url)
        assert response.status_code == 404
        assert response.json() == {"error": "Job not found"}


def test_cancel_of_an_ended_job_is_400(client: TestClient, tmp_path: Path) -> None:
    job_id = client.post(
        "/v1/jobs", json={"command": "inspect", "args": {"input": str(tmp_path)}}
    ).json()["id"]
    job = wait_job(client, job_id, ended)
    assert job["status"] == "done"
    response = client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 400
    assert response.json() == {"error": "Job is not running"}
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "done"


def test_commands_schema(client: TestClient) -> None:
    response = client.get("/v1/commands")
    assert response.status_code == 200
    commands = response.json()["commands"]
    assert "resize" in commands and "server" not in commands
    for name, schema in commands.items():
        assert schema["description"].strip(), name
        for param in schema["params"]:
            assert {"name", "help", "required"} <= set(param), (name, param)
    crop = next(p for p in commands["resize"]["params"] if p["name"] == "crop_position")
    assert crop["choices"] == ["top", "center", "bottom", "left", "right"]
    assert crop["default"] == "center" and crop["required"] is False


def test_a_server_side_start_failure_is_500_and_a_failed_row(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(job_id: str, argv: list[str], env: object = None) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(client.app.state.runner.executor, "start", refuse)  # type: ignore[attr-defined]
    payload = {"command": "inspect", "args": {"input": str(tmp_path)}}
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 500
    assert response.json() == {"error": "Failed to start job: Resource temporarily unavailable"}
    (job,) = client.get("/v1/jobs").json()["jobs"]
    assert job["status"] == "failed" and job["ended_at"] is not None
    assert job["error"] == "Failed to start job: Resource temporarily unavailable"
