"""The files a bulk caption write renames over are held open and freed after the answer."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from datasety.server.curation import caption_targets, inode_release
from datasety.server.files.fsroot import DatasetRoot

pytestmark = pytest.mark.skipif(not hasattr(os, "O_PATH"), reason="O_PATH is Linux only")


def wait_released(baseline: int) -> None:
    deadline = time.monotonic() + 30
    while inode_release.held() > baseline:
        assert time.monotonic() < deadline, "held descriptors never released"
        time.sleep(0.01)


def test_an_old_file_is_held_across_the_rename_then_freed(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    (tmp_path / "new").write_text("new")
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    baseline = inode_release.held()
    try:
        fd = inode_release.open_old(folder, "a.txt")
        assert fd is not None and inode_release.held() == baseline + 1
        os.replace("new", "a.txt", src_dir_fd=folder, dst_dir_fd=folder)
        assert os.fstat(fd).st_nlink == 0  # unlinked, alive only through the descriptor
        assert (tmp_path / "a.txt").read_text() == "new"
        inode_release.later([fd])
        wait_released(baseline)
        with pytest.raises(OSError):
            os.fstat(fd)  # closed
        assert inode_release.open_old(folder, "missing.txt") is None
        assert inode_release.held() == baseline
    finally:
        os.close(folder)


def test_past_the_budget_nothing_is_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.txt").write_text("old")
    spent = inode_release.held()
    monkeypatch.setattr(inode_release, "budget", lambda: spent)
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert inode_release.open_old(folder, "a.txt") is None
    finally:
        os.close(folder)


def test_a_bulk_write_frees_the_replaced_captions_after_writing(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"{i}.txt").write_text(f"old {i}")
    baseline = inode_release.held()
    texts: dict[str, str | None] = {f"{i}.txt": f"new {i}" for i in range(50)}
    texts["0.txt"] = None  # removed: held and freed the same way
    with DatasetRoot(tmp_path) as root:
        caption_targets.write_many(root, texts, threading.Lock())
    wait_released(baseline)
    assert not (tmp_path / "0.txt").exists()
    assert all((tmp_path / f"{i}.txt").read_text() == f"new {i}" for i in range(1, 50))
    assert sorted(os.listdir(tmp_path)) == sorted(f"{i}.txt" for i in range(1, 50))
