"""Temporary files of interrupted writes (datasety.server.files.leftovers): a server killed
during an upload leaves one; the next server's start-up removes it, and nothing else."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from datasety.server.files import leftovers
from tests.server.test_process import Server, free_port


def test_sweep_removes_only_abandoned_server_temporaries(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    abandoned = root / leftovers.temp_name("photo.jpg")
    nested = root / "sub" / leftovers.temp_name("clip.wav")
    no_suffix = root / leftovers.temp_name("README")
    being_written = root / leftovers.temp_name("upload.png")
    for path in (abandoned, nested, no_suffix, being_written):
        path.write_bytes(b"partial")
    # Kept: a job's own atomic write (no server tag), user files, anything behind a symlink.
    cli_temp = root / ".photo.0123abcd.partial.jpg"
    cli_temp.write_bytes(b"a job writes this")
    user_files = [root / "photo.jpg", root / ".server.partial.jpg", root / "sub" / "x.partial"]
    for path in user_files:
        path.write_bytes(b"mine")
    (outside / leftovers.temp_name("far.jpg")).write_bytes(b"not ours to judge")
    (root / "link").symlink_to(outside, target_is_directory=True)

    writer = os.open(being_written, os.O_WRONLY)
    try:
        leftovers.hold(writer)  # a live server is writing it
        assert leftovers.sweep_dataset(root) == 3
    finally:
        os.close(writer)
    assert not abandoned.exists() and not nested.exists() and not no_suffix.exists()
    assert being_written.exists() and cli_temp.exists()
    assert all(path.exists() for path in user_files)
    assert len(list(outside.iterdir())) == 1
    # Once its writer is gone, the next sweep takes it.
    assert leftovers.sweep_dataset(root) == 1 and not being_written.exists()


def test_data_dir_temporaries_go_once_stale(tmp_path: Path) -> None:
    thumbs = tmp_path / "thumbs" / "ab"
    thumbs.mkdir(parents=True)
    old, fresh = thumbs / ".abc-1.0011aabb.partial.jpg", thumbs / ".abc-2.2233ccdd.partial.jpg"
    kept = thumbs / "abc-1.jpg"
    for path in (old, fresh, kept):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(kept, (an_hour_ago, an_hour_ago))
    assert leftovers.sweep_data_dir(tmp_path) == 1
    assert not old.exists() and fresh.exists() and kept.exists()


def server_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if leftovers.is_server_temp(p.name)]


@pytest.mark.slow
def test_kill_9_during_an_upload_leaves_nothing_after_a_restart(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "keep.txt").write_text("a caption")
    data_dir = tmp_path / "data"
    server = Server("--port", str(free_port()), "--data-dir", str(data_dir))
    try:
        created = httpx.post(f"{server.url}/v1/datasets", json={"path": str(dataset)}).json()
        head = (
            f"POST /v1/datasets/{created['id']}/files/big.bin HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(head + b"\0" * (1024 * 1024))
            deadline = time.monotonic() + 30
            while not server_temporaries(dataset):
                assert time.monotonic() < deadline, "the upload never reached the disk"
                time.sleep(0.05)
            server.proc.kill()  # kill -9, mid-upload
            server.proc.wait(timeout=10)
    finally:
        server.stop()
    (leftover,) = server_temporaries(dataset)
    assert leftover.stat().st_size > 0 and not (dataset / "big.bin").exists()

    restarted = Server("--port", str(free_port()), "--data-dir", str(data_dir))
    try:
        deadline = time.monotonic() + 30
        while leftover.exists():
            assert time.monotonic() < deadline, "the leftover was not removed at start-up"
            time.sleep(0.05)
        assert sorted(p.name for p in dataset.iterdir()) == ["keep.txt"]
        listed = httpx.get(f"{restarted.url}/v1/datasets/{created['id']}/files").json()
        assert [entry["base"] for entry in listed["files"]] == ["keep"]
    finally:
        restarted.stop()
