"""The Ray executor against a real single-node Ray head on loopback, through the jobs API.

One head serves the whole module (it takes seconds to start and about 2 GB of memory) and is
stopped after it; the last test crashes it on purpose (the cluster vanishing mid-job), and any
test after that gets a fresh one.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasety.core.progress import PROGRESS_PREFIX
from datasety.server.app import create_app
from datasety.server.jobs import ray as ray_executor
from datasety.server.settings import Settings

from .conftest import BASE_URL
from .jobkit import ServerProcess, ended, make_images, slow_resize, wait_for, wait_job
from .rayhead import RayHead, processes_with_env

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    # Ray's log tail calls aiohttp in a way aiohttp has deprecated (a warning, not a fault).
    pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning"),
]

JOB_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def _session_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    head = RayHead(tmp_path_factory.mktemp("ray-head")).start()
    yield head
    head.stop()


@pytest.fixture
def ray_head(_session_head: RayHead) -> RayHead:
    if not _session_head.alive():
        # A test before this one stopped the cluster on purpose.
        _session_head.stop()
        _session_head.start()
    return _session_head


@pytest.fixture
def ray_client(ray_head: RayHead) -> Iterator[Any]:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_head.address)
    yield client
    if ray_head.alive():
        # Nothing a test started may keep running into the next one.
        for job in client.list_jobs():
            if (job.submission_id or "").startswith("datasety-") and not job.status.is_terminal():
                client.stop_job(job.submission_id)


@pytest.fixture
def settings(data_dir: Path, ray_head: RayHead, ray_client: Any) -> Settings:
    return Settings(data_dir=data_dir, executor="ray", ray_address=ray_head.address, kill_grace=2)


def job_processes(job_id: str) -> list[int]:
    """Processes that run for job ``job_id`` (the environment the executor gives it)."""
    return processes_with_env(f"DATASETY_JOB_ID={job_id}")


def requested(address: str, job_id: str) -> dict[str, float]:
    """The resources Ray reserved for the job (its supervisor actor's, which are the
    entrypoint's ``entrypoint_num_cpus`` / ``entrypoint_num_gpus``)."""
    from ray.util.state import list_actors

    for actor in list_actors(address=address, detail=True, raise_on_missing_output=False):
        if f"datasety-{job_id}" in (actor.name or ""):
            return dict(actor.required_resources or {})
    raise AssertionError(f"no Ray actor for job {job_id}")


def slow_job(src: Path, out: Path, count: int, workers: int) -> dict[str, Any]:
    """A resize that takes about 0.2 s of CPU per image (tiny inputs to 2048x2048 JPEGs)."""
    make_images(src, count)
    return slow_resize(src, out, workers=workers)


def resize_args(src: Path, out: Path) -> dict[str, Any]:
    return {
        "command": "resize",
        "args": {"input": str(src), "output": str(out), "resolution": "64x48", "upscale": True},
    }


def test_a_resize_job_runs_on_the_cluster(
    client: TestClient, tmp_path: Path, data_dir: Path, ray_head: RayHead, ray_client: Any
) -> None:
    src = make_images(tmp_path / "raw", 3, size=(40, 30))
    out = tmp_path / "out"
    body = client.post("/v1/jobs", json=resize_args(src, out)).json()
    assert body["status"] == "started"
    job_id = body["id"]
    wait_job(client, job_id, lambda j: j["output"] or ended(j), timeout=JOB_TIMEOUT)
    assert requested(ray_head.address, job_id) == {"CPU": 1.0}

    job = wait_job(client, job_id, ended, timeout=JOB_TIMEOUT)
    assert job["status"] == "done", job
    assert job["exit_code"] == 0 and job["error"] is None
    assert job["progress"] == {"done": 3, "total": 3}
    assert job["output"][-1] == "Done: 3 processed, 0 skipped, 0 failed"
    assert not any(line.startswith(PROGRESS_PREFIX) for line in job["output"])
    for index in range(3):
        with Image.open(out / f"img_{index:03}.jpg") as image:
            assert image.size == (64, 48)
    assert sorted(p.name for p in out.iterdir()) == ["img_000.jpg", "img_001.jpg", "img_002.jpg"]

    # Ray's log, copied into ours: the raw file keeps the progress lines, the views drop them.
    raw = (data_dir / "jobs" / f"{job_id}.log").read_text()
    assert raw.count(PROGRESS_PREFIX) >= 3
    assert raw.count("Done: 3 processed") == 1
    assert client.get(f"/v1/jobs/{job_id}/logs").text.splitlines() == job["output"]
    events = client.get(f"/v1/jobs/{job_id}/logs?follow=true").text
    assert "data: Done: 3 processed, 0 skipped, 0 failed" in events
    assert events.endswith("event: end\ndata: done\n\n")

    # On the cluster: our id in the metadata, the command line, the job's environment.
    info = ray_client.get_job_info(f"datasety-{job_id}")
    assert str(info.status.value) == "SUCCEEDED"
    assert info.metadata == {"datasety_job_id": job_id}
    assert info.entrypoint.startswith(f"{sys.executable} -m datasety resize --input {src}")
    assert info.runtime_env["env_vars"]["DATASETY_PROGRESS"] == "jsonl"


def test_cancel_stops_the_job_and_every_process_of_it(
    client: TestClient, tmp_path: Path, ray_head: RayHead, ray_client: Any
) -> None:
    out = tmp_path / "out"
    payload = slow_job(tmp_path / "src", out, count=200, workers=2)
    job_id = client.post("/v1/jobs", json=payload).json()["id"]
    job = wait_job(
        client,
        job_id,
        lambda j: (j["progress"] or {}).get("done", 0) >= 2,
        timeout=JOB_TIMEOUT,
    )
    assert job["status"] == "running"
    # The command and its two pool workers (and Ray's supervisor of them) run on the node.
    running = job_processes(job_id)
    assert len(running) >= 3, running
    # --workers 2 asks Ray for two CPUs.
    assert requested(ray_head.address, job_id) == {"CPU": 2.0}

    response = client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 200 and response.json() == {"status": "cancelled"}
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"

    job = wait_job(client, job_id, ended, timeout=60)
    assert job["status"] == "cancelled" and job["error"] is None
    assert str(ray_client.get_job_info(f"datasety-{job_id}").status.value) == "STOPPED"
    wait_for(lambda: not job_processes(job_id), 30, "the job's processes to be gone")
    assert len(list(out.glob("*.jpg"))) < 200
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 400


def test_max_jobs_one_runs_three_jobs_one_after_another(
    client: TestClient, tmp_path: Path, ray_client: Any
) -> None:
    ids = []
    for index in range(3):
        src = make_images(tmp_path / f"src{index}", 2, size=(40, 30))
        body = client.post("/v1/jobs", json=resize_args(src, tmp_path / f"out{index}")).json()
        assert body["status"] == ("started" if index == 0 else "queued")
        ids.append(body["id"])
    assert [client.get(f"/v1/jobs/{i}").json()["queue_position"] for i in ids[1:]] == [1, 2]

    jobs = [wait_job(client, i, ended, timeout=JOB_TIMEOUT) for i in ids]
    assert [job["status"] for job in jobs] == ["done"] * 3
    for earlier, later in zip(jobs, jobs[1:], strict=False):
        assert earlier["ended_at"] <= later["started_at"]
    # On the cluster too: each started after the one before it ended.
    infos = [ray_client.get_job_info(f"datasety-{i}") for i in ids]
    for earlier, later in zip(infos, infos[1:], strict=False):
        assert earlier.end_time <= later.start_time
    for index in range(3):
        assert sorted(p.name for p in (tmp_path / f"out{index}").iterdir()) == [
            "img_000.jpg",
            "img_001.jpg",
        ]


def test_a_restarted_server_re_adopts_the_job(
    tmp_path: Path, data_dir: Path, ray_head: RayHead, ray_client: Any
) -> None:
    out = tmp_path / "out"
    payload = slow_job(tmp_path / "src", out, count=50, workers=1)
    flags = ("--executor", "ray", "--ray-address", ray_head.address, "--kill-grace", "2")
    server = ServerProcess(data_dir, *flags).start()
    try:
        with server.client() as http:
            job_id = http.post("/v1/jobs", json=payload).json()["id"]
            wait_job(
                http,
                job_id,
                lambda j: (j["progress"] or {}).get("done", 0) >= 1,
                timeout=JOB_TIMEOUT,
            )
        server.kill()
        # The job does not depend on our server: it goes on running on the cluster.
        assert job_processes(job_id)
        server = ServerProcess(data_dir, *flags).start()
        with server.client() as http:
            job = http.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] == "running"
            job = wait_job(http, job_id, ended, timeout=JOB_TIMEOUT)
            text = http.get(f"/v1/jobs/{job_id}/logs").text
    finally:
        server.stop()
    assert job["status"] == "done" and job["exit_code"] == 0, job
    assert job["progress"] == {"done": 50, "total": 50}
    assert len(list(out.glob("*.jpg"))) == 50
    # The log was copied on from where the first server stopped: every line exactly once.
    lines = text.splitlines()
    for index in range(1, 51):
        assert sum(line.startswith(f"[{index}/50] ") for line in lines) == 1, lines
    assert lines.count("Done: 50 processed, 0 skipped, 0 failed") == 1
    assert sum("Running entrypoint for job" in line for line in lines) == 1


def test_a_gpu_command_asks_ray_for_a_gpu_and_cancels_while_pending(
    client: TestClient, tmp_path: Path, ray_head: RayHead, ray_client: Any
) -> None:
    src = make_images(tmp_path / "src", 1)
    body = client.post(
        "/v1/jobs", json={"command": "caption", "args": {"input": str(src), "device": "cuda"}}
    ).json()
    job_id = body["id"]
    submission = f"datasety-{job_id}"

    def pending_info() -> Any:
        try:
            return ray_client.get_job_info(submission)
        except RuntimeError:
            return None  # not submitted yet

    info = wait_for(pending_info, 30, "the job to reach Ray")
    # The head has no GPU: Ray keeps the job pending, the job holds our only slot.
    assert str(info.status.value) == "PENDING"
    assert requested(ray_head.address, job_id) == {"CPU": 1.0, "GPU": 1.0}
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"

    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    job = wait_job(client, job_id, ended, timeout=30)
    assert job["status"] == "cancelled"
    assert job_processes(job_id) == []


def test_a_job_ray_rejects_fails_with_rays_message(
    client: TestClient, tmp_path: Path, ray_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = uuid.uuid4()
    # Someone already used the submission id our next job will get: Ray refuses the submit.
    ray_client.submit_job(entrypoint="true", submission_id=f"datasety-{taken}")
    monkeypatch.setattr(uuid, "uuid4", lambda: taken)
    src = make_images(tmp_path / "src", 1)
    job_id = client.post("/v1/jobs", json=resize_args(src, tmp_path / "out")).json()["id"]
    assert job_id == str(taken)
    job = wait_job(client, job_id, ended, timeout=30)
    assert job["status"] == "failed"
    assert job["error"] == (
        f"Ray rejected the job: Job with submission_id datasety-{taken} already exists. "
        "Please use a different submission_id."
    )
    assert not (tmp_path / "out").exists()


def test_the_cluster_vanishing_mid_job_fails_the_job(
    data_dir: Path,
    tmp_path: Path,
    ray_head: RayHead,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keep this test last: it stops the session's head (a later test would start a new one).
    monkeypatch.setattr(ray_executor, "LOST_AFTER", 2.0)
    payload = slow_job(tmp_path / "src", tmp_path / "out", count=100, workers=1)
    settings = Settings(data_dir=data_dir, executor="ray", ray_address=ray_head.address)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        job_id = client.post("/v1/jobs", json=payload).json()["id"]
        wait_job(
            client,
            job_id,
            lambda j: (j["progress"] or {}).get("done", 0) >= 1,
            timeout=JOB_TIMEOUT,
        )
        ray_head.crash()
        job = wait_job(client, job_id, ended, timeout=30)
    assert job["status"] == "failed"
    assert job["error"].startswith(
        f"lost the Ray cluster at {ray_head.address}: unreachable for 2 s ("
    ), job["error"]
    wait_for(lambda: not job_processes(job_id), 30, "the job's processes to be gone")
