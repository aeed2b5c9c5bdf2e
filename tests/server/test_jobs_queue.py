"""The queue and cancel, with real processes: --max-jobs 1 runs three jobs one at a time in
order; a queued job cancelled never starts; cancelling a degrade leaves no process behind,
its pool worker processes included (a resize is cancelled in test_jobs_server)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.core.atomic import TEMP_MARKER
from datasety.server.jobs import procs
from datasety.server.settings import Settings

from .jobkit import (
    ended,
    group_gone,
    kill_leftover_jobs,
    make_images,
    slow_resize,
    wait_for,
    wait_job,
)


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, max_jobs=1, kill_grace=5)


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


def _row(data_dir: Path, job_id: str) -> tuple[int, int]:
    with sqlite3.connect(data_dir / "datasety.sqlite3") as conn:
        pid, pgid = conn.execute("SELECT pid, pgid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return pid, pgid


def test_cancel_stops_the_whole_process_group(
    client: TestClient, tmp_path: Path, data_dir: Path
) -> None:
    # degrade runs a process pool (resize uses threads): its workers must end with the job.
    src = make_images(tmp_path / "src", 40, size=(512, 512))
    out = tmp_path / "out"
    args = {"input": str(src), "output": str(out), "type": "motion-blur"}
    payload = {"command": "degrade", "args": {**args, "num-variants": 10, "workers": 2}}
    job_id = client.post("/v1/jobs", json=payload).json()["id"]
    job = wait_job(client, job_id, lambda j: (j["progress"] or {}).get("done", 0) >= 1)
    assert job["status"] == "running" and job["progress"]["total"] == 40
    pid, pgid = _row(data_dir, job_id)
    assert pid == pgid
    # The wrapper, degrade and its two pool workers (and the pool's helpers): one group.
    members = wait_for(lambda: (m := procs.group_members(pgid)) and len(m) >= 4 and m)

    response = client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json() == {"status": "cancelled"}
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"

    job = wait_job(client, job_id, ended)
    assert job["status"] == "cancelled"
    assert job["exit_code"] not in (0, None)
    assert job["error"] is None

    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert group_gone(pgid)
    assert not any(procs.is_running(member) for member in members)
    # The cancel stopped it early, and the atomic writers left no partial file behind.
    written = list(out.iterdir())
    assert len(written) < 400
    assert not [p for p in written if TEMP_MARKER in p.name]

    # It stays cancelled, and a second cancel is refused like any ended job's.
    time.sleep(0.3)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 400


def test_three_jobs_run_one_at_a_time_in_order(client: TestClient, tmp_path: Path) -> None:
    src = make_images(tmp_path / "src", 4)
    ids, statuses = [], []
    for index in range(3):
        response = client.post("/v1/jobs", json=slow_resize(src, tmp_path / f"out{index}", 1))
        assert response.status_code == 202
        ids.append(response.json()["id"])
        statuses.append(response.json()["status"])
    assert statuses == ["started", "queued", "queued"]
    jobs = {job["id"]: job for job in client.get("/v1/jobs").json()["jobs"]}
    assert [jobs[i]["queue_position"] for i in ids] == [None, 1, 2]
    assert [jobs[i]["status"] for i in ids] == ["running", "queued", "queued"]
    assert jobs[ids[1]]["started_at"] is None and jobs[ids[1]]["output"] == []

    while True:
        jobs = {job["id"]: job for job in client.get("/v1/jobs").json()["jobs"]}
        assert sum(job["status"] == "running" for job in jobs.values()) <= 1
        if all(ended(job) for job in jobs.values()):
            break
        time.sleep(0.05)
    ordered = [jobs[i] for i in ids]
    assert [job["status"] for job in ordered] == ["done", "done", "done"]
    # Each one started only after the one before it had ended.
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert before["ended_at"] <= after["started_at"]
    assert all(len(list((tmp_path / f"out{i}").iterdir())) == 4 for i in range(3))


def test_a_cancelled_queued_job_never_starts(
    client: TestClient, tmp_path: Path, data_dir: Path
) -> None:
    src = make_images(tmp_path / "src", 3)
    first = client.post("/v1/jobs", json=slow_resize(src, tmp_path / "a", 1)).json()["id"]
    second = client.post("/v1/jobs", json=slow_resize(src, tmp_path / "b", 1)).json()["id"]
    third = client.post("/v1/jobs", json=slow_resize(src, tmp_path / "c", 1)).json()["id"]
    response = client.delete(f"/v1/jobs/{second}")
    assert response.status_code == 200 and response.json() == {"status": "cancelled"}
    assert client.get(f"/v1/jobs/{third}").json()["queue_position"] == 1

    wait_job(client, third, ended)
    job = client.get(f"/v1/jobs/{second}").json()
    assert job["status"] == "cancelled" and job["started_at"] is None
    assert job["exit_code"] is None and job["ended_at"] is not None
    assert not (tmp_path / "b").exists()
    assert not (data_dir / "jobs" / f"{second}.log").exists()
    assert client.get(f"/v1/jobs/{first}").json()["status"] == "done"
    assert client.get(f"/v1/jobs/{third}").json()["status"] == "done"
    assert client.delete(f"/v1/jobs/{second}").status_code == 400
