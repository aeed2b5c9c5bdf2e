"""The runner and the local executor with real processes, without HTTP: the SIGKILL after the
grace period, re-adoption by a new runner (a restarted server), lost processes, retention,
``output`` and ``progress`` from the log, one-line failure reasons."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from datasety.core.progress import PROGRESS_PREFIX, format_progress_line
from datasety.server.jobs import procs
from datasety.server.jobs.local import LocalExecutor
from datasety.server.jobs.logs import exit_path, log_path
from datasety.server.jobs.runner import INTERRUPTED, JobRunner
from datasety.server.store import Store

from .jobkit import group_gone, kill_leftover_jobs


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    kill_leftover_jobs(folder)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def make_runner(data_dir: Path, **kwargs: Any) -> tuple[Store, JobRunner]:
    store = Store.open(data_dir)
    jobs_dir = data_dir / "jobs"
    return store, JobRunner(store, LocalExecutor(jobs_dir), jobs_dir, poll_interval=0.02, **kwargs)


async def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return value


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


# A job that ignores SIGTERM, and so does the child it starts: only SIGKILL ends them.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print("ready", child.pid, flush=True)
time.sleep(60)
"""


def test_cancel_escalates_to_sigkill_after_the_grace_period(data_dir: Path) -> None:
    async def scenario() -> None:
        store, runner = make_runner(data_dir, kill_grace=0.5)
        await runner.start()
        job = runner.submit("stubborn", python(STUBBORN))
        await until(lambda: "ready" in "".join(runner.get(job.id)["output"]))
        row = runner.records.get(job.id)
        assert row is not None and row.pgid is not None
        members = procs.group_members(row.pgid)
        assert len(members) == 3  # wrapper, job, its child

        started = time.monotonic()
        runner.cancel(job.id)
        await asyncio.sleep(0.3)
        assert all(procs.is_running(pid) for pid in members)  # SIGTERM was ignored
        final = await until(lambda: runner.get(job.id)["ended_at"] and runner.get(job.id))
        assert time.monotonic() - started >= 0.5
        assert final["status"] == "cancelled"
        assert final["exit_code"] == -signal.SIGKILL
        assert group_gone(row.pgid)
        await runner.close()
        store.close()

    run(scenario)


PROGRESSING = f"""
import sys, time
for i in range(1, 4):
    print("line", i, flush=True)
    print({PROGRESS_PREFIX!r} + '{{"done": %d, "total": 3}}' % i, flush=True)
    time.sleep(float(sys.argv[1]))
"""


def test_a_new_runner_re_adopts_a_running_job(data_dir: Path) -> None:
    async def scenario() -> None:
        store, first = make_runner(data_dir)
        await first.start()
        job = first.submit("slow", [*python(PROGRESSING), "0.7"])
        await until(lambda: first.get(job.id)["progress"])
        before = first.records.get(job.id)
        await first.close()  # the server stops; the job keeps running
        store.close()

        store, second = make_runner(data_dir)
        await second.start()
        adopted = second.get(job.id)
        assert adopted["status"] == "running"
        assert adopted["progress"]["done"] >= 1 and adopted["progress"]["total"] == 3
        assert second.records.get(job.id) == before
        final = await until(lambda: second.get(job.id)["ended_at"] and second.get(job.id))
        # The exit status comes from the wrapper's exit file: not our child, still honest.
        assert final["status"] == "done" and final["exit_code"] == 0
        assert final["output"] == ["line 1", "line 2", "line 3"]
        assert final["progress"] == {"done": 3, "total": 3}
        await second.close()
        store.close()

    run(scenario)


def test_a_re_adopted_job_can_be_cancelled(data_dir: Path) -> None:
    async def scenario() -> None:
        store, first = make_runner(data_dir)
        await first.start()
        job = first.submit("slow", [*python(PROGRESSING), "30"])
        await until(lambda: first.get(job.id)["progress"])
        await first.close()
        store.close()

        store, second = make_runner(data_dir, kill_grace=5)
        await second.start()
        row = second.records.get(job.id)
        assert row is not None and row.pgid is not None
        second.cancel(job.id)
        final = await until(lambda: second.get(job.id)["ended_at"] and second.get(job.id))
        assert final["status"] == "cancelled" and final["exit_code"] == -signal.SIGTERM
        assert group_gone(row.pgid)
        await second.close()
        store.close()

    run(scenario)


def test_a_lost_training_job_says_whether_it_can_resume(data_dir: Path, tmp_path: Path) -> None:
    """A command that knows where a stopped run continues (train: its last checkpoint beside
    --output) says so when a restart finds it dead. The process stands in for train: the
    runner reads the command from what follows ``datasety`` in the argv, as for a real job."""
    output = tmp_path / "lora.safetensors"
    argv = [*python("import time; time.sleep(60)"), "datasety", "train", "--output", str(output)]

    async def scenario() -> None:
        store, first = make_runner(data_dir)
        await first.start()
        job = first.submit("train", argv)
        row = first.records.get(job.id)
        assert row is not None and row.pgid is not None
        await first.close()
        store.close()
        os.killpg(row.pgid, signal.SIGKILL)  # the machine went down
        await until(lambda: group_gone(row.pgid))  # type: ignore[arg-type]

        store, second = make_runner(data_dir)
        await second.start()
        lost = second.get(job.id)
        assert lost["status"] == "failed" and lost["resume"] is None
        assert lost["error"] == (
            "the server stopped while this training ran; no checkpoint was written, so a "
            "re-run starts over"
        )
        await second.close()
        store.close()
        # With a checkpoint (renamed into place whole; a temporary one does not count).
        folder = tmp_path / "lora.checkpoints"
        folder.mkdir()
        for name in ("step-000004.pt", "step-000012.pt", ".step-000016.pt.tmp"):
            (folder / name).write_bytes(b"")
        store, third = make_runner(data_dir)
        await third.start()
        latest = str(folder / "step-000012.pt")
        assert third.get(job.id)["resume"] == {"param": "resume", "value": latest, "step": 12}
        await third.close()
        store.close()

    run(scenario)


def test_a_job_lost_while_no_server_ran_is_failed_as_interrupted(data_dir: Path) -> None:
    async def scenario() -> None:
        store, first = make_runner(data_dir)
        await first.start()
        job = first.submit("slow", [*python(PROGRESSING), "30"])
        await until(lambda: first.get(job.id)["progress"])
        queued = first.submit("later", python("print('second')"))
        assert first.get(queued.id)["status"] == "queued"
        row = first.records.get(job.id)
        assert row is not None and row.pgid is not None
        await first.close()
        store.close()
        os.killpg(row.pgid, signal.SIGKILL)  # the machine rebooted, say
        await until(lambda: group_gone(row.pgid))  # type: ignore[arg-type]

        store, second = make_runner(data_dir)
        await second.start()
        lost = second.get(job.id)
        assert lost["status"] == "failed" and lost["error"] == INTERRUPTED
        assert lost["exit_code"] is None and lost["ended_at"] is not None
        # The queued job resumes and runs.
        done = await until(lambda: second.get(queued.id)["ended_at"] and second.get(queued.id))
        assert done["status"] == "done" and done["output"] == ["second"]
        await second.close()
        store.close()

    run(scenario)


def test_a_job_that_ended_while_no_server_ran_keeps_its_real_status(data_dir: Path) -> None:
    async def scenario() -> None:
        store, first = make_runner(data_dir)
        await first.start()
        job = first.submit("short", python("import time, sys; time.sleep(0.5); sys.exit(3)"))
        await first.close()
        store.close()
        await until(lambda: exit_path(data_dir / "jobs", job.id).exists())

        store, second = make_runner(data_dir)
        await second.start()
        final = await until(lambda: second.get(job.id)["ended_at"] and second.get(job.id))
        assert final["status"] == "failed" and final["exit_code"] == 3
        assert final["error"] == "exited with code 3"
        await second.close()
        store.close()

    run(scenario)


def test_a_row_started_without_a_recorded_pid_is_found_again(data_dir: Path) -> None:
    """A crash between starting the process and recording its pid: the process is found."""

    async def scenario() -> None:
        store, runner = make_runner(data_dir)
        row = runner.records.insert("crashy", "slow", [*python(PROGRESSING), "30"])
        assert runner.records.mark_starting(row.id)
        handle = LocalExecutor(data_dir / "jobs").start(row.id, row.argv)
        assert runner.records.get(row.id).pid is None  # type: ignore[union-attr]

        await runner.start()
        found = runner.records.get(row.id)
        assert found is not None and found.pid == handle.pid and found.pgid == handle.pgid
        assert runner.get(row.id)["status"] == "running"
        runner.cancel(row.id)
        await until(lambda: runner.get(row.id)["ended_at"])
        assert group_gone(handle.pgid)
        await runner.close()
        store.close()

    run(scenario)


def test_retention_keeps_the_newest_finished_jobs(data_dir: Path) -> None:
    async def scenario() -> None:
        store, runner = make_runner(data_dir, keep_jobs=2, max_jobs=1)
        await runner.start()
        ids = [runner.submit("n", python(f"print({i})")).id for i in range(4)]
        await until(
            lambda: all(r.ended_at for r in runner.records.all()) and len(runner.list()) == 2
        )
        assert [job["id"] for job in runner.list()] == ids[:1:-1]
        jobs_dir = data_dir / "jobs"
        assert sorted(p.name for p in jobs_dir.iterdir()) == sorted(
            f"{i}.{ext}" for i in ids[2:] for ext in ("log", "exit")
        )
        await runner.close()
        store.close()

    run(scenario)


def test_output_is_the_last_thousand_human_lines(data_dir: Path) -> None:
    code = (
        f"for i in range(1500):\n"
        f"    print('line', i)\n"
        f"    print({format_progress_line(1, 1500, None)!r})\n"
        f"print('Error: the last straw'); raise SystemExit(2)\n"
    )

    async def scenario() -> None:
        store, runner = make_runner(data_dir)
        await runner.start()
        job = runner.submit("chatty", python(code))
        final = await until(lambda: runner.get(job.id)["ended_at"] and runner.get(job.id))
        assert len(final["output"]) == 1000
        assert final["output"][0] == "line 501" and final["output"][-2] == "line 1499"
        assert final["output"][-1] == "Error: the last straw"
        assert final["error"] == "the last straw" and final["exit_code"] == 2
        assert final["progress"] == {"done": 1, "total": 1500}
        assert log_path(data_dir / "jobs", job.id).read_text().count("@datasety:progress") == 1500
        await runner.close()
        store.close()

    run(scenario)


def test_a_job_that_cannot_start_fails_with_the_reason(data_dir: Path) -> None:
    async def scenario() -> None:
        store, runner = make_runner(data_dir)
        await runner.start()
        job = runner.submit("ghost", ["/nonexistent/program"])
        final = await until(lambda: runner.get(job.id)["ended_at"] and runner.get(job.id))
        assert final["status"] == "failed" and final["exit_code"] == 127
        assert final["error"].startswith("cannot start /nonexistent/program")
        await runner.close()
        store.close()

    run(scenario)


def test_max_jobs_runs_that_many_at_once(data_dir: Path) -> None:
    async def scenario() -> None:
        store, runner = make_runner(data_dir, max_jobs=2)
        await runner.start()
        ids = [runner.submit("nap", python("import time; time.sleep(0.6)")).id for _ in range(3)]
        assert [runner.get(i)["status"] for i in ids] == ["running", "running", "queued"]
        assert runner.get(ids[2])["queue_position"] == 1
        await until(lambda: all(runner.get(i)["ended_at"] for i in ids))
        jobs = [runner.get(i) for i in ids]
        assert [job["status"] for job in jobs] == ["done"] * 3
        assert jobs[2]["started_at"] >= min(jobs[0]["ended_at"], jobs[1]["ended_at"])
        await runner.close()
        store.close()

    run(scenario)


CHATTY = """
for i in range(1, 201):
    print(f"line {i}")
print("x" * 5000)
"""


def test_the_job_list_carries_only_the_last_lines(data_dir: Path) -> None:
    """GET /v1/jobs stays small (the last 10 lines, a long line only its end); the job's own
    view keeps its last 1,000 lines, whole."""

    async def scenario() -> None:
        store, runner = make_runner(data_dir)
        await runner.start()
        job = runner.submit("chatty", python(CHATTY))
        full = await until(lambda: runner.get(job.id)["ended_at"] and runner.get(job.id))
        assert full["output"] == [f"line {i}" for i in range(1, 201)] + ["x" * 5000]
        (listed,) = runner.list()
        assert listed["output"] == [f"line {i}" for i in range(192, 201)] + ["…" + "x" * 999]
        assert {k: v for k, v in listed.items() if k != "output"} == {
            k: v for k, v in full.items() if k != "output"
        }
        await runner.close()
        store.close()

    run(scenario)
