"""The dataset naming conventions of the spec, as pure functions."""

from __future__ import annotations

import pytest

from datasety.core.errors import DatasetyError
from datasety.core.layout import (
    Placement,
    caption_candidates,
    dataset_type,
    file_type,
    metadata_speakers,
    parse_metadata,
    placement,
    set_metadata_row,
    split_role,
)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("edit_001_input", ("edit_001", "input")),
        ("edit_001_start", ("edit_001", "input")),
        ("edit_001_control", ("edit_001", "input")),
        ("edit_001_target", ("edit_001", "target")),
        ("edit_001_end", ("edit_001", "target")),
        ("a_mask", ("a", "mask")),
        ("a_canny", ("a", "canny")),
        ("a_pose", ("a", "pose")),
        ("a_seg", ("a", "seg")),
        ("a_depth", ("a", "depth")),
        ("a_normal", ("a", "normal")),
        ("my_endpoint", ("my_endpoint", None)),
        ("data_segments", ("data_segments", None)),
        ("target", ("target", None)),
        ("_mask", ("_mask", None)),
        ("photo", ("photo", None)),
    ],
)
def test_split_role_matches_only_a_whole_final_suffix(
    stem: str, expected: tuple[str, str | None]
) -> None:
    assert split_role(stem) == expected


def test_folder_roles_group_by_the_folder_above() -> None:
    assert placement("input/a.png") == Placement("", "a", "input")
    assert placement("set1/control/a.png") == Placement("set1", "a", "input")
    assert placement("output/a.png") == Placement("", "a", "target")
    assert placement("sub/a.png") == Placement("sub", "a", None)
    # A caption inside a role folder is not itself a role file.
    assert placement("target/a.txt") == Placement("target", "a", None)


def test_file_type_is_role_or_kind() -> None:
    assert file_type("x_input.png") == "input"
    assert file_type("photo.jpg") == "image"
    assert file_type("wavs/1.wav") == "audio"
    assert file_type("clip.mp4") == "video"
    assert file_type("notes.bin") == "other"


def test_caption_candidates_own_sidecar_then_group() -> None:
    assert caption_candidates("photo.jpg") == ["photo.txt"]
    assert caption_candidates("e_1_input.png") == ["e_1_input.txt", "e_1.txt"]
    assert caption_candidates("input/a.png") == ["input/a.txt", "a.txt"]


def test_parse_metadata_pipes_without_csv_quoting() -> None:
    content = 'a|"Hello," she said|hello she said\nb|plain\n\nbroken line\na|dup\n'
    assert parse_metadata(content) == {"a": '"Hello," she said', "b": "plain"}


def test_set_metadata_row_keeps_other_rows_byte_for_byte() -> None:
    content = "a|one\r\nb|two|two norm\r\nc|three\r\n"
    updated = set_metadata_row(content, "b", "new")
    assert updated == "a|one\r\nb|new|new\r\nc|three\r\n"


def test_set_metadata_row_appends_missing_row() -> None:
    assert set_metadata_row("a|one", "z", "zed") == "a|one\nz|zed\n"
    assert set_metadata_row("", "z", "zed") == "z|zed\n"


def test_set_metadata_row_refuses_format_breaking_text() -> None:
    with pytest.raises(DatasetyError):
        set_metadata_row("", "z", "a|b")
    with pytest.raises(DatasetyError):
        set_metadata_row("", "z", "two\nlines")


def test_multi_speaker_rows_keep_their_speaker() -> None:
    content = "a|alice|Hello.\nb|bob|It costs 5|It costs five\nc|alice|Hi.\nd|bob|Yo.\n"
    assert metadata_speakers(content) == {"a": "alice", "b": "bob", "c": "alice", "d": "bob"}
    assert parse_metadata(content)["b"] == "It costs 5"
    assert parse_metadata(content, normalized=True)["b"] == "It costs five"
    updated = set_metadata_row(content, "b", "new")
    assert updated.splitlines()[1] == "b|bob|new|new"
    assert metadata_speakers(updated) == metadata_speakers(content)
    with pytest.raises(DatasetyError, match="speaker"):
        set_metadata_row(content, "z", "whose voice?")
    # LJSpeech's id|text|normalized, and one-word texts no two rows share: no speakers.
    assert metadata_speakers("a|Hello there.|Hello there.\nb|It costs 5|It costs five\n") == {}
    words = "a|Yes|Yes.\nb|No|No.\nc|Maybe|Maybe.\nd|Sure|Sure.\n"
    assert metadata_speakers(words) == {}
    assert set_metadata_row(words, "b", "Nope").splitlines()[1] == "b|Nope|Nope"


def test_dataset_type() -> None:
    assert dataset_type(["a.jpg", "a.txt", "b.png"]) == "image"
    assert dataset_type(["metadata.csv", "wavs/1.wav", "cover.jpg", "c.jpg"]) == "audio"
    assert dataset_type(["a.mp4", "b.mov"]) == "video"
    assert dataset_type(["readme.md"]) == "generic"
    assert dataset_type([]) == "generic"
