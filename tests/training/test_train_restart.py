"""A training job that died with its server (issue 14 item 4): the restarted server says where
the last complete checkpoint is and how to continue, and a job with ``resume`` set to it
continues the run. A real ``datasety server`` process, killed with SIGKILL together with the
job's process group (the machine went down), then started again on the same data dir."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from datasety.server.jobs import procs
from datasety.server.jobs.local import LocalExecutor
from datasety.training.lora_file import read_metadata
from tests.training.tiny import save_flux2_klein_base
from tests.ui.harness import Server, start_server

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

pytestmark = pytest.mark.slow
BOUND = 300  # seconds: a bound for a hung run, not a speed check


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The server's environment, which its jobs inherit: a tiny FLUX.2-klein, offline."""
    hf_home = tmp_path / "hf"
    save_flux2_klein_base(hf_home)
    return {
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    folder.mkdir()
    for index, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (64, 64), colour).save(folder / f"img{index}.png")
        (folder / f"img{index}.txt").write_text(f"a plain colour number {index}")
    return folder


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def wait_until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + BOUND
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_a_training_job_dead_after_a_restart_says_where_to_resume_and_resumes(
    env: dict[str, str], dataset: Path, tmp_path: Path, servers: list[Server]
) -> None:
    data_dir = tmp_path / "server"
    output = tmp_path / "lora.safetensors"
    checkpoints = tmp_path / "lora.checkpoints"
    args = {"input": str(dataset), "output": str(output), "steps": 500, "save_every": 1,
            "image_size": 64, "device": "cpu"}  # fmt: skip
    servers.append(start_server(data_dir, env=env))
    with httpx.Client(base_url=servers[0].url, timeout=30) as client:
        created = client.post("/v1/jobs", json={"command": "train", "args": args})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        wait_until(lambda: len(list(checkpoints.glob("step-*.pt"))) >= 2, "two checkpoints")
    handle = LocalExecutor(data_dir / "jobs").find(job_id)
    assert handle is not None and handle.pgid is not None
    # The machine goes down: the server, then the job's whole process group (its wrapper too,
    # so no exit status is recorded), each with SIGKILL.
    servers[0].process.kill()
    servers[0].process.wait()
    os.killpg(handle.pgid, signal.SIGKILL)
    wait_until(lambda: not procs.group_members(handle.pgid), "the job's processes gone")
    latest = max(checkpoints.glob("step-*.pt"))
    step = int(latest.stem.split("-")[1])

    servers.append(start_server(data_dir, env=env))
    with httpx.Client(base_url=servers[1].url, timeout=30) as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "failed", job
        assert job["error"] == (
            f"the server stopped while this training ran; last complete checkpoint: {latest} "
            f"(step {step}); re-run with --resume {latest}"
        )
        assert job["resume"] == {"param": "resume", "value": str(latest), "step": step}
        (listed,) = client.get("/v1/jobs").json()["jobs"]
        assert listed["resume"] == job["resume"]

        # The same arguments with resume = that checkpoint continue the run (one more step,
        # to keep the test short).
        again = {**args, "steps": step + 1, job["resume"]["param"]: job["resume"]["value"]}
        resumed = client.post("/v1/jobs", json={"command": "train", "args": again})
        assert resumed.status_code == 202, resumed.text
        url = f"/v1/jobs/{resumed.json()['id']}"
        done = wait_until(lambda: (j := client.get(url).json())["ended_at"] and j, "the resume")
        log = client.get(f"{url}/logs").text
    assert done["status"] == "done", log
    assert f"Resuming at step {step} of {step + 1}" in log
    assert read_metadata(output)["steps"] == str(step + 1)
