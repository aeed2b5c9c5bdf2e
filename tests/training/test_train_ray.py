"""`datasety train --workers 2`: the training loop in a Ray Train TorchTrainer on a real local
Ray head (loopback, two CPUs), from the command line and as a job of `server --executor ray`.

The head is started with the tiny models' Hugging Face cache in its environment (every process
Ray starts inherits it); the runs are offline, 2-4 steps on four tiny images.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.core.atomic import is_temp_name
from datasety.models.loading import model_dir
from datasety.server.app import create_app
from datasety.server.jobs.ray import resources_for
from datasety.server.settings import Settings
from datasety.training.lora_file import read_metadata
from tests.clirun import run_main
from tests.server.rayhead import RayHead, processes_with_env
from tests.training import test_train as one_process
from tests.training.test_train import EULER_WARNING, free_port, generate
from tests.training.tiny import FLUX2_REPO

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("ray.train.torch")

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    # Ray's log tail calls aiohttp in a way aiohttp has deprecated (a warning, not a fault).
    pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning"),
]

BOUND = 600.0  # a bound for a hung run, not a speed check
STEP_LINE = re.compile(r"step (\d+)/(\d+) loss=([0-9.]+)")

# The one-process tests' fixtures: the tiny models' cache, offline runs, four tiny images.
hf_home = one_process.hf_home
offline = one_process.offline
dataset = one_process.dataset


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory, hf_home: Path) -> Iterator[RayHead]:
    head = RayHead(
        tmp_path_factory.mktemp("ray-head"),
        env={"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"},
    ).start()
    yield head
    head.stop()


def cli_env(head: RayHead) -> dict[str, str]:
    # The head's loopback mode and authentication, for a driver that joins it.
    return dict(
        os.environ,
        RAY_ADDRESS=head.gcs_address,
        RAY_AUTH_MODE="disabled",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )


def step_losses(stdout: str) -> list[str]:
    return [match.group(3) for match in STEP_LINE.finditer(stdout)]


@pytest.mark.filterwarnings(EULER_WARNING)
def test_two_ray_train_workers_match_torchrun(
    ray_head: RayHead, dataset: Path, tmp_path: Path
) -> None:
    args = ["-i", str(dataset), "-m", FLUX2_REPO, "--steps", "3", "--image-size", "64",
            "--device", "cpu", "--save-every", "1", "--lr", "0.05",
            "--batch-size", "2"]  # fmt: skip
    output = tmp_path / "ray" / "style.safetensors"
    on_ray = subprocess.run(
        [sys.executable, "-m", "datasety", "train", *args, "-o", str(output), "--workers", "2"],
        capture_output=True, text=True, timeout=BOUND, check=False, env=cli_env(ray_head),
    )  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "Ray Train: 2 workers (CPU each)" in on_ray.stdout
    assert on_ray.stdout.count("Done: 3 processed") == 1
    checkpoint = torch.load(
        output.with_name("style.checkpoints") / "step-000002.pt", weights_only=True
    )
    assert checkpoint["settings"]["processes"] == 2

    torchrun = subprocess.run(
        [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", "2",
         "--master_port", str(free_port()), "-m", "datasety", "train", *args,
         "-o", str(tmp_path / "ddp" / "style.safetensors")],
        capture_output=True, text=True, timeout=BOUND, check=False,
    )  # fmt: skip
    assert torchrun.returncode == 0, torchrun.stderr[-3000:]
    # The same loop, the same process group size: the same losses, digit for digit.
    losses = step_losses(on_ray.stdout)
    assert len(losses) == 3 and all(float(loss) > 0 for loss in losses)
    assert losses == step_losses(torchrun.stdout)

    pipe = diffusers.Flux2KleinPipeline.from_pretrained(model_dir(FLUX2_REPO, note=lambda _: None))
    pipe.set_progress_bar_config(disable=True)
    before = generate(pipe)
    pipe.load_lora_weights(str(output))
    assert abs(before - generate(pipe)).max() > 1e-4
    assert read_metadata(output)["steps"] == "3"


def test_a_ray_train_job_reports_cancels_and_resumes(
    ray_head: RayHead, dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "job" / "style.safetensors"
    folder = output.with_name("style.checkpoints")
    args: dict[str, Any] = {
        "input": str(dataset), "output": str(output), "model": FLUX2_REPO, "image_size": 64,
        "device": "cpu", "workers": 2, "save_every": 1, "cache_dir": str(tmp_path / "cache"),
    }  # fmt: skip
    # The job's own process is only the driver: the workers ask Ray for their CPUs.
    assert resources_for(["python", "-m", "datasety", "train", "--workers", "2"]) == (0.0, 0.0)
    settings = Settings(
        data_dir=tmp_path / "data", executor="ray", ray_address=ray_head.address, kill_grace=2
    )
    with TestClient(create_app(settings)) as client:
        client.headers["Host"] = "localhost"
        params = client.get("/v1/commands").json()["commands"]["train"]["params"]
        assert "workers" in {p["name"] for p in params}

        long_run = client.post("/v1/jobs", json={"command": "train",
                                                 "args": {**args, "steps": 500}})  # fmt: skip
        assert long_run.status_code == 202, long_run.text
        url = f"/v1/jobs/{long_run.json()['id']}"
        job = wait(client, url, lambda j: (j["progress"] or {}).get("done", 0) >= 2)
        progress = job["progress"]
        assert progress["total"] == 500 and isinstance(progress["loss"], float)
        assert progress["eta_s"] > 0
        assert client.delete(url).status_code == 200
        job = wait(client, url, lambda j: j["ended_at"] is not None)
        assert job["status"] == "cancelled", job
        # Cancel ends the workers too, not only the driver.
        deadline = time.monotonic() + 60
        while running := job_processes(long_run.json()["id"]):
            assert time.monotonic() < deadline, running
            time.sleep(0.5)
        assert not output.exists()
        saved = sorted(folder.glob("step-*.pt"))
        step = int(torch.load(saved[-1], weights_only=True)["step"])
        assert step >= 2

        resumed = client.post("/v1/jobs", json={"command": "train", "args": {
            **args, "steps": step + 1, "resume": str(folder)}})  # fmt: skip
        assert resumed.status_code == 202, resumed.text
        url = f"/v1/jobs/{resumed.json()['id']}"
        job = wait(client, url, lambda j: j["ended_at"] is not None)
    assert job["status"] == "done", job
    assert f"Resuming at step {step} of {step + 1}" in "\n".join(job["output"])
    assert job["progress"]["done"] == job["progress"]["total"] == step + 1
    assert json.loads(read_metadata(output)["settings"])["steps"] == step + 1
    # Only complete checkpoints: whatever a killed worker was writing is gone.
    assert not [p.name for p in folder.iterdir() if is_temp_name(p.name)]


def job_processes(job_id: str) -> list[str]:
    """The processes that run for the job (they hold its environment), by name. Ray Train's
    autoscaling coordinator is not one: a detached actor Ray starts once per cluster, in the
    environment of the first job that needs it, and keeps for the next ones."""
    names = []
    for pid in processes_with_env(f"DATASETY_JOB_ID={job_id}"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            names.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode())
    return [name for name in names if name != "ray::_AutoscalingCoordinatorActor"]


def wait(client: TestClient, url: str, ready: Any) -> dict[str, Any]:
    deadline = time.monotonic() + BOUND
    while not ready(job := client.get(url).json()):
        assert job["ended_at"] is None or ready(job), job
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    return job


def test_a_workers_error_is_the_runs_one_line_error(
    ray_head: RayHead, dataset: Path, tmp_path: Path
) -> None:
    # --resume is checked by the loop, so in a worker: its error reaches the driver's stderr.
    result = subprocess.run(
        [sys.executable, "-m", "datasety", "train", "-i", str(dataset), "-m", FLUX2_REPO,
         "-o", str(tmp_path / "x.safetensors"), "--device", "cpu", "--workers", "2",
         "--resume", str(tmp_path / "nowhere.pt")],
        capture_output=True, text=True, timeout=BOUND, check=False, env=cli_env(ray_head),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    # One line of our own (what a job shows as its error); the rest is Ray's forwarded log
    # of the workers, each line prefixed with the Ray process it came from.
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("Error: ")] == [
        f"Error: --resume {str(tmp_path / 'nowhere.pt')!r} does not exist"
    ]
    assert not [line for line in lines if line.startswith("Traceback")]


def test_workers_without_ray_is_one_line(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra sees
    code, _, err = run_main(
        capsys, "train", "-i", str(dataset), "-o", str(tmp_path / "x"), "--workers", "2"
    )
    assert code == 1
    assert err.strip() == (
        "Error: train --workers needs ray, which is not installed: pip install 'datasety[ray]'"
    )
    assert not list(tmp_path.glob("x*"))


@pytest.mark.parametrize(
    ("device", "workers", "needs"), [("cuda", 2, "2 GPUs (one per worker, --device cuda)"),
                                     ("cpu", 3, "3 CPUs (one per worker)")],
    ids=["cuda", "cpu"],
)  # fmt: skip
def test_workers_the_cluster_lacks_are_a_one_line_error(
    ray_head: RayHead, dataset: Path, tmp_path: Path, device: str, workers: int, needs: str
) -> None:
    """Ray Train would wait forever for GPUs (or CPUs) the cluster does not have: the run
    says what the cluster has instead, before any worker starts."""
    output = tmp_path / "x.safetensors"
    result = subprocess.run(
        [sys.executable, "-m", "datasety", "train", "-i", str(dataset), "-m", FLUX2_REPO,
         "-o", str(output), "--device", device, "--workers", str(workers)],
        capture_output=True, text=True, timeout=BOUND, check=False, env=cli_env(ray_head),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: --workers {workers} needs {needs}; the Ray cluster at {ray_head.gcs_address} "
        f"has 2 CPUs, 0 GPUs"
    ]
    assert "Traceback" not in result.stderr
    assert not output.with_name("x.checkpoints").exists()
