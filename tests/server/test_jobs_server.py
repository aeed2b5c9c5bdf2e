"""Jobs against a real `datasety server` process: SSE with Last-Event-ID resume over HTTP, a
server killed with SIGKILL mid-job and restarted (the job is re-adopted and finishes), and a
graceful stop that an open log stream does not hold up."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datasety.server.jobs import procs

from .jobkit import (
    ServerProcess,
    group_gone,
    kill_leftover_jobs,
    make_images,
    slow_resize,
    wait_for,
    wait_job,
)

pytestmark = pytest.mark.slow


def parse_sse(text: str) -> list[dict[str, str]]:
    """Events as dicts of their fields (data lines joined with newlines)."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    kill_leftover_jobs(folder)


def test_sse_streams_lines_and_resumes_after_last_event_id(tmp_path: Path, data_dir: Path) -> None:
    server = ServerProcess(data_dir).start()
    try:
        client = server.client()
        src = make_images(tmp_path / "src", 6)
        job_id = client.post("/v1/jobs", json=slow_resize(src, tmp_path / "out", 1)).json()["id"]
        with client.stream("GET", f"/v1/jobs/{job_id}/logs", params={"follow": "true"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = parse_sse(response.read().decode())
        assert events[-1] == {"event": "end", "data": "done"}
        lines = events[:-1]
        raw = (data_dir / "jobs" / f"{job_id}.log").read_bytes()
        # Each id is the byte offset just after its line; progress lines are skipped.
        for event in lines:
            end = int(event["id"])
            line_start = raw.rfind(b"\n", 0, end - 1) + 1
            assert raw[line_start:end].decode().rstrip("\n") == event["data"]
        assert [e["data"] for e in lines] == client.get(f"/v1/jobs/{job_id}").json()["output"]
        assert not any("@datasety:progress" in e["data"] for e in lines)

        resumed = client.get(
            f"/v1/jobs/{job_id}/logs",
            params={"follow": "true"},
            headers={"Last-Event-ID": lines[2]["id"]},
        )
        assert parse_sse(resumed.text) == events[3:]
        bad = client.get(f"/v1/jobs/{job_id}/logs?follow=true", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]
    finally:
        server.stop()


def test_a_server_killed_mid_job_re_adopts_it_after_restart(tmp_path: Path, data_dir: Path) -> None:
    src = make_images(tmp_path / "src", 200)
    out = tmp_path / "out"
    server = ServerProcess(data_dir, "--max-jobs", "1", "--kill-grace", "5").start()
    client = server.client()
    job_id = client.post("/v1/jobs", json=slow_resize(src, out, 2)).json()["id"]
    empty = tmp_path / "empty"
    empty.mkdir()
    queued_id = client.post(
        "/v1/jobs", json={"command": "inspect", "args": {"input": str(empty)}}
    ).json()["id"]
    job = wait_job(client, job_id, lambda j: (j["progress"] or {}).get("done", 0) >= 1)
    assert client.get(f"/v1/jobs/{queued_id}").json()["status"] == "queued"
    server.kill()

    # The job runs on without its server: it is in its own session.
    pgid = _pgid(data_dir, job_id)
    members = procs.group_members(pgid)
    assert len(members) >= 2

    server = ServerProcess(data_dir, "--max-jobs", "1", "--kill-grace", "5").start()
    try:
        client = server.client()
        adopted = client.get(f"/v1/jobs/{job_id}").json()
        assert adopted["status"] == "running" and adopted["started_at"] == job["started_at"]
        assert _pgid(data_dir, job_id) == pgid
        # Watched live again: progress moves on, and its log streams.
        seen = adopted["progress"]["done"]
        wait_job(client, job_id, lambda j: j["progress"]["done"] > seen)
        with client.stream("GET", f"/v1/jobs/{job_id}/logs?follow=true") as response:
            lines = response.iter_lines()
            first = [line for line, _ in zip(lines, range(6), strict=False)]
        assert first[0] == "id: " + first[0][4:] and first[1].startswith("data: [1/200] ")

        # And the restarted server can stop it: every process of the group ends.
        assert client.delete(f"/v1/jobs/{job_id}").json() == {"status": "cancelled"}
        final = wait_job(client, job_id, lambda j: j["ended_at"] is not None)
        assert final["status"] == "cancelled" and final["exit_code"] not in (0, None)
        assert group_gone(pgid)
        assert not any(procs.is_running(pid) for pid in members)
        # The job queued behind it starts only now, and runs.
        queued = wait_job(client, queued_id, lambda j: j["ended_at"] is not None)
        assert queued["status"] == "done" and queued["started_at"] >= final["ended_at"]
    finally:
        server.stop()


def test_a_server_killed_mid_job_whose_job_died_too_reports_it_interrupted(
    tmp_path: Path, data_dir: Path
) -> None:
    src = make_images(tmp_path / "src", 40)
    server = ServerProcess(data_dir).start()
    client = server.client()
    job_id = client.post("/v1/jobs", json=slow_resize(src, tmp_path / "out", 2)).json()["id"]
    wait_job(client, job_id, lambda j: j["progress"] is not None)
    server.kill()
    pgid = _pgid(data_dir, job_id)
    os.killpg(pgid, signal.SIGKILL)
    wait_for(lambda: group_gone(pgid), 60, "the job's group to die")

    server = ServerProcess(data_dir).start()
    try:
        job = server.client().get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "failed" and job["error"] == "interrupted: server stopped"
        assert job["ended_at"] is not None
    finally:
        server.stop()


def test_an_open_log_stream_does_not_hold_up_shutdown(tmp_path: Path, data_dir: Path) -> None:
    src = make_images(tmp_path / "src", 40)
    server = ServerProcess(data_dir).start()
    client = server.client()
    job_id = client.post("/v1/jobs", json=slow_resize(src, tmp_path / "out", 1)).json()["id"]
    received: list[str] = []

    def follow() -> None:
        try:
            with client.stream("GET", f"/v1/jobs/{job_id}/logs?follow=true") as response:
                for line in response.iter_lines():
                    received.append(line)
        except httpx.HTTPError:
            received.append("<closed>")

    reader = threading.Thread(target=follow)
    reader.start()
    wait_for(lambda: any(line.startswith("id: ") for line in received), 60, "a first event")
    # Without ending the stream first, uvicorn would wait for it and stop() would time out.
    server.stop()
    reader.join(10)
    assert not reader.is_alive()
    assert "event: end" not in received  # cut short, not ended: a client resumes elsewhere
    # Stopping the server left the job running (the next start re-adopts it).
    assert procs.group_members(_pgid(data_dir, job_id))


def _pgid(data_dir: Path, job_id: str) -> int:
    with sqlite3.connect(data_dir / "datasety.sqlite3") as conn:
        (pgid,) = conn.execute("SELECT pgid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return int(pgid)
