"""GPU-aware job slots, with a fake GPU count: real processes, the real registry's rule.

Each test job is ``python -c CODE datasety <command> <args>``: the runner judges it by the
``datasety <command> ...`` part, exactly as a real job's argv, while CODE only reports the
GPU it was given and waits for the test to let it finish (no timing in the checks).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from datasety.commands.invocation import argv_wants_accelerator
from datasety.core.errors import DatasetyError
from datasety.server.jobs.gpus import detect_gpus, parse_gpus
from datasety.server.jobs.local import LocalExecutor
from datasety.server.jobs.logs import log_path
from datasety.server.jobs.runner import JobRunner
from datasety.server.store import Store

from .jobkit import kill_leftover_jobs

WAIT_FOR_FLAG = (
    "import os, sys, time\n"
    "print('gpu=' + os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), flush=True)\n"
    "flag = sys.argv[-1]\n"
    "while not os.path.exists(flag):\n"
    "    time.sleep(0.02)\n"
)
GPU_JOB = ["datasety", "caption", "-i", "photos"]  # --device auto, a local model: a GPU job
CPU_JOB = ["datasety", "resize", "-i", "in", "-o", "out", "-r", "8x8"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    folder = tmp_path / "data"
    yield folder
    kill_leftover_jobs(folder)


def job(kind: list[str], flag: Path) -> list[str]:
    return [sys.executable, "-c", WAIT_FOR_FLAG, *kind, "--dry-run-never-parsed", str(flag)]


def make_runner(data_dir: Path, **kwargs: Any) -> tuple[Store, JobRunner]:
    store = Store.open(data_dir)
    jobs_dir = data_dir / "jobs"
    executor = LocalExecutor(jobs_dir)
    return store, JobRunner(store, executor, jobs_dir, poll_interval=0.02, **kwargs)


async def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return value


def reported_gpu(data_dir: Path, job_id: str) -> str | None:
    path = log_path(data_dir / "jobs", job_id)
    text = path.read_text() if path.exists() else ""
    lines = [line for line in text.splitlines() if line.startswith("gpu=")]
    return lines[0][len("gpu=") :] if lines else None


def test_one_job_per_gpu_pinned_and_cpu_jobs_beside_them(data_dir: Path, tmp_path: Path) -> None:
    flags = [tmp_path / f"release-{i}" for i in range(5)]

    async def scenario() -> None:
        store, runner = make_runner(data_dir, max_jobs=1, gpus=("0", "1"))
        await runner.start()
        kinds = [GPU_JOB, GPU_JOB, GPU_JOB, CPU_JOB, CPU_JOB]
        ids = [runner.submit(k[1], job(k, f)).id for k, f in zip(kinds, flags, strict=True)]
        statuses = [runner.get(i)["status"] for i in ids]
        # Two GPUs: two GPU jobs run; the third waits, but does not hold back the CPU job.
        assert statuses == ["running", "running", "queued", "running", "queued"]
        assert runner.get(ids[2])["queue_reason"] == "waiting for a GPU"
        assert runner.get(ids[4])["queue_reason"] == "waiting for a job slot"
        assert runner.get(ids[0])["queue_reason"] is None
        started = (ids[0], ids[1], ids[3])
        await until(lambda: all(reported_gpu(data_dir, i) is not None for i in started))
        assert [reported_gpu(data_dir, i) for i in started] == ["0", "1", ""]
        flags[0].touch()  # the job on GPU 0 ends: the waiting GPU job gets GPU 0
        await until(lambda: runner.get(ids[2])["status"] == "running")
        await until(lambda: reported_gpu(data_dir, ids[2]) is not None)
        assert reported_gpu(data_dir, ids[2]) == "0"
        assert runner.get(ids[4])["status"] == "queued"  # its CPU slot is still taken
        for flag in flags:
            flag.touch()
        await until(lambda: all(runner.get(i)["ended_at"] for i in ids))
        assert [runner.get(i)["status"] for i in ids] == ["done"] * 5
        await runner.close()
        store.close()

    asyncio.run(scenario())


def test_without_gpus_a_gpu_job_takes_a_cpu_slot_unpinned(data_dir: Path, tmp_path: Path) -> None:
    flags = [tmp_path / "a", tmp_path / "b"]

    async def scenario() -> None:
        store, runner = make_runner(data_dir, max_jobs=1, gpus=())
        await runner.start()
        ids = [runner.submit("caption", job(GPU_JOB, flag)).id for flag in flags]
        assert [runner.get(i)["status"] for i in ids] == ["running", "queued"]
        assert runner.get(ids[1])["queue_reason"] == "waiting for a job slot"
        await until(lambda: reported_gpu(data_dir, ids[0]) is not None)
        assert reported_gpu(data_dir, ids[0]) == "unset"
        for flag in flags:
            flag.touch()
        await until(lambda: all(runner.get(i)["ended_at"] for i in ids))
        await runner.close()
        store.close()

    asyncio.run(scenario())


def test_a_restarted_server_knows_which_gpu_a_running_job_holds(
    data_dir: Path, tmp_path: Path
) -> None:
    first_flag, second_flag = tmp_path / "first", tmp_path / "second"

    async def scenario() -> None:
        store, runner = make_runner(data_dir, gpus=("0",))
        await runner.start()
        first = runner.submit("caption", job(GPU_JOB, first_flag)).id
        await runner.close()  # the job keeps running
        store.close()
        store, runner = make_runner(data_dir, gpus=("0",))
        await runner.start()
        assert runner.get(first)["status"] == "running"
        second = runner.submit("caption", job(GPU_JOB, second_flag)).id
        assert runner.get(second)["queue_reason"] == "waiting for a GPU"
        first_flag.touch()
        await until(lambda: runner.get(second)["status"] == "running")
        second_flag.touch()
        await until(lambda: runner.get(second)["ended_at"])
        await runner.close()
        store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["caption", "-i", "x"], True),
        (["caption", "-i", "x", "--device", "cpu"], False),
        (["caption", "-i", "x", "--llm-api"], False),
        (["caption", "-i", "x", "--append", "tag"], False),
        (["mask", "-i", "x", "-k", "face"], True),
        (["mask", "-i", "x", "-k", "face", "--device", "cpu"], False),
        (["filter", "-i", "x", "-q", "cat"], True),
        (["filter", "-i", "x", "-l", "FACE_MALE", "--model", "nudenet"], False),
        (["resize", "-i", "x", "-o", "y", "-r", "8x8"], False),
        (["synthetic", "-i", "x", "-o", "y", "-p", "hat"], True),
        (["synthetic", "-i", "x", "-o", "y", "-p", "hat", "--image-api"], False),
        (["synthetic", "-i", "x", "-o", "y", "-p", "hat", "--dry-run"], False),
        (["character", "-o", "y", "--llm-api"], True),
        (["character", "-o", "y", "--llm-api", "--prompts-only"], False),
        (["character", "-o", "y", "--llm-api", "--image-api"], False),
        (["sweep", "-i", "x", "-o", "y", "-p", "hat", "--steps", "4,8"], False),
        (["sweep", "-i", "x", "-o", "y", "-p", "hat", "--steps", "4,8", "--run"], True),
        (["sweep", "-i", "x", "-o", "y", "-p", "h", "--steps", "4", "--run", "--image-api"], False),
        (["no-such-command"], False),
    ],
)
def test_which_runs_want_a_gpu(argv: list[str], wanted: bool) -> None:
    assert argv_wants_accelerator(argv) is wanted


def test_gpu_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_gpus("0, 1") == ("0", "1")
    assert parse_gpus("none") == () and parse_gpus("") == ()
    for bad in ("0,0", "0,", "-1,2"):
        with pytest.raises(DatasetyError, match="--gpus"):
            parse_gpus(bad)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert detect_gpus() == ("2", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == ()
