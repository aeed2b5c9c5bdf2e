"""`audio` and `video` as server jobs: listed by GET /v1/commands, run with per-source progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.settings import Settings
from tests.server.jobkit import ended, kill_leftover_jobs, wait_job
from tests.speech.conftest import Talk


def test_commands_lists_both_with_the_reference_flags(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        client.headers["Host"] = "localhost"
        listed = client.get("/v1/commands").json()["commands"]
    for name in ("audio", "video"):
        params = {p["name"] for p in listed[name]["params"]}
        assert {"input", "output", "whisper_model", "vad", "resume", "workers"} <= params
    assert "metadata" in {p["name"] for p in listed["audio"]["params"]}
    assert "re_encode" in {p["name"] for p in listed["video"]["params"]}


def test_an_audio_job_reports_each_source_and_writes_the_dataset(
    talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    sources = tmp_path / "in"
    sources.mkdir()
    for name in ("one", "two"):
        (sources / f"{name}.wav").write_bytes(talk.wav.read_bytes())
    out = tmp_path / "voice"
    args = {
        "input": str(sources), "output": str(out), "metadata": True, "vad": True,
        "whisper-model": "tiny", "language": "en", "min-confidence": "0", "merge-gap": "0.5",
        "min-duration": "0.5",
        "device": "cpu",
    }  # fmt: skip
    data_dir = tmp_path / "data"
    try:
        with TestClient(create_app(Settings(data_dir=data_dir))) as client:
            client.headers["Host"] = "localhost"
            started = client.post("/v1/jobs", json={"command": "audio", "args": args})
            assert started.status_code == 202, started.text
            job = wait_job(client, started.json()["id"], ended, timeout=120)
    finally:
        kill_leftover_jobs(data_dir)
    assert job["status"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] == 2
    assert any(line.startswith("Kept 4 clips") for line in job["output"])
    rows = (out / "metadata.csv").read_text().splitlines()
    assert sorted(row.split("|")[0] for row in rows) == [
        "one-0001", "one-0002", "two-0001", "two-0002",
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def _progress_for_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The job runner sets DATASETY_PROGRESS for its children itself.
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)
