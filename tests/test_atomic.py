"""Atomic writes: the destination holds the old bytes or the new ones, never a mix."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasety.core.atomic import atomic_path, atomic_write_text, is_temp_name, temp_path_for


def test_write_replaces_whole_file(tmp_path: Path) -> None:
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    atomic_write_text(dest, "new caption")
    assert dest.read_text() == "new caption"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "a.png"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder crashed")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_temp_name_is_hidden_and_keeps_suffix(tmp_path: Path) -> None:
    tmp = temp_path_for(tmp_path / "photo.webp")
    assert tmp.parent == tmp_path
    assert tmp.suffix == ".webp"
    assert is_temp_name(tmp.name)
    assert not is_temp_name("photo.webp")
