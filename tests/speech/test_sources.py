"""What --input names: files, folders (natural order), list files and URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasety.core.errors import DatasetyError
from datasety.speech.sources import find_sources, unique_names


def test_a_folder_lists_media_in_natural_order(tmp_path: Path) -> None:
    for name in ("10.mp3", "2.wav", "1.mp4", "notes.txt", ".hidden.wav"):
        (tmp_path / name).write_bytes(b"")
    assert [s.name for s in find_sources(str(tmp_path))] == ["1", "2", "10"]


def test_a_list_file_names_files_and_urls(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# sources\na.wav\nhttps://www.youtube.com/watch?v=abc123&start=50&end=90\n"
        "https://example.org/talk.mp3\n"
    )
    local, video, plain = find_sources(str(listing))
    assert (local.name, local.is_url) == ("a", False)
    assert (video.name, video.start, video.end, video.is_url) == ("abc123", 50.0, 90.0, True)
    assert plain.is_url and len(plain.name) == 12


def test_repeated_names_are_made_distinct(tmp_path: Path) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "talk.wav").write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("x/talk.wav\ny/talk.wav\n")
    assert [s.name for s in unique_names(find_sources(str(listing)))] == ["talk", "talk-2"]


@pytest.mark.parametrize("content", [None, "missing.wav\n", "\n# nothing\n"])
def test_nothing_usable_is_one_line(tmp_path: Path, content: str | None) -> None:
    target = tmp_path / ("list.txt" if content is not None else "absent.wav")
    if content is not None:
        target.write_text(content)
    with pytest.raises(DatasetyError):
        find_sources(str(target))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetyError, match="no audio or video"):
        find_sources(str(empty))
