"""The listing's per-file shortcuts agree with the layout rules they spell out."""

from __future__ import annotations

import gc
import itertools
import posixpath

import pytest

from datasety.core import layout
from datasety.server.catalog import catalogs, folder_filters
from datasety.server.catalog.listing import Entry, build_entries, file_rec, split_name

NAMES = [
    "a.png", "a.PNG", "a.txt", "a.TXT", "a", "a.", "a.b.jpg", ".hidden", "..x.png", "a..png",
    "edit_001_input.png", "edit_001_INPUT.JPG", "edit_001_target.png", "edit_001_input.txt",
    "_input.png", "x_control.webp", "x_mask.txt", "song.wav", "clip.mp4", "notes.md",
]  # fmt: skip
FOLDERS = ["", "sub", "control", "sub/control", "sub/Target", "a/b/mask", "controls"]


def test_split_name_is_splitext() -> None:
    for name in NAMES:
        assert split_name(name) == posixpath.splitext(name), name


def test_file_rec_places_every_file_as_the_layout_does() -> None:
    for folder, name in itertools.product(FOLDERS, NAMES):
        where = layout.placement(f"{folder}/{name}" if folder else name)
        rec = file_rec(folder, name, 1, 2, 3)
        assert rec.file_type == (where.role or layout.file_kind(name)), (folder, name)
        assert rec.group == (where.group_dir, where.base), (folder, name)


def test_entries_group_and_order_every_mix_of_files() -> None:
    recs = [file_rec(f, n, 1, 2, 3) for f, n in itertools.product(FOLDERS, NAMES)]
    entries = build_entries(recs)
    # The rule written plainly: group by (folder, base), a .txt joins the group of the file
    # whose stem it shares; within a group captions last, roles in order, then by path.
    groups: dict[tuple[str, str], list[str]] = {}
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    for r in recs:
        if r.file_type != "caption":
            owner.setdefault(r.stem_key, r.group)  # the first file of a stem decides
    for r in recs:
        key = owner.get(r.stem_key, r.stem_key) if r.file_type == "caption" else r.group
        groups.setdefault(key, []).append(r.path)
    rank = {role: i for i, role in enumerate(layout.ROLES)}

    def order(path: str) -> tuple[bool, int, str]:
        kind = next(r.file_type for r in recs if r.path == path)
        return (kind == "caption", rank.get(kind, len(rank)), path)

    assert [e.key for e in entries] == sorted(groups)
    assert [[f.path for f in e] for e in entries] == [
        sorted(groups[key], key=order) for key in sorted(groups)
    ]
    for folder in FOLDERS:
        assert build_entries(recs, folder) == [e for e in entries if e.path == folder]


def test_caption_file_is_the_groups_own_caption_first() -> None:
    own = Entry([file_rec("", "a.png", 1, 1, 1), file_rec("", "a.txt", 1, 1, 1)])
    assert own.caption_file is own[1]
    pair = build_entries(
        [file_rec("", n, 1, 1, 1) for n in ("e_input.png", "e_input.txt", "e.txt", "e_target.png")]
    )
    assert len(pair) == 1 and pair[0].caption_file is not None
    assert pair[0].caption_file.name == "e.txt"
    assert Entry([file_rec("", "a.png", 1, 1, 1)]).caption_file is None
    alone = Entry([file_rec("", "z.txt", 1, 1, 1)])
    assert alone.caption_file is alone[0]


def test_has_media_and_matches_say_what_the_long_rules_say() -> None:
    recs = [file_rec(f, n, 1, 2, 3) for f, n in itertools.product(FOLDERS, NAMES)]
    for entry in build_entries(recs):
        assert entry.has_media == any(f.kind in {"image", "audio", "video"} for f in entry)
        for needle in ("a", "control", "sub/", "_input", "edit_001", ".png", "x", "b/m"):
            long_rule = (
                needle in entry.base.lower()
                or any(needle in f.path.lower() or needle in f.name.lower() for f in entry)
                or needle in "caption"
            )
            assert entry.matches(needle, "Caption") == long_rule, (entry.key, needle)


def test_lacks_caption_says_what_the_long_rule_says() -> None:
    names = ["a.png", "a.txt", "b.png", "c.txt", "d.md", "d.txt", "e.wav", "f_input.png"]
    for sizes in itertools.product((0, 1), repeat=len(names)):
        recs = [file_rec("", n, size, 1, 1) for n, size in zip(names, sizes, strict=True)]
        for entry in build_entries(recs):
            caption = entry.caption_file
            rows = {"e": "spoken"} if sizes[0] else {}
            long_rule = entry.has_media and (
                caption.size == 0 if caption else not entry.metadata_caption(rows)
            )
            assert entry.lacks_caption(rows) == long_rule, (entry.key, sizes)


def _mixed_entries() -> list[Entry]:
    """Entries of every shape: each name of NAMES beside each other one, captions of 0 or 3
    bytes (read, as a listing reads them), a stem per pair of names."""
    recs = []
    for i, (a, b) in enumerate(itertools.product(NAMES, repeat=2)):
        for name, size in ((a, i % 2 * 3), (b, i % 3)):
            stem, ext = split_name(name)
            rec = file_rec("sub" if i % 5 == 0 else "", f"{stem}{i}{ext}", size, 1, 1)
            if rec.file_type == "caption" and i % 7:
                rec.text = f"Caption {i} of {name}" if size else ""
            recs.append(rec)
    return build_entries(recs)


def test_lacking_caption_is_lacks_caption() -> None:
    entries = _mixed_entries()
    for rows in ({}, {"song3": "spoken"}):
        expected = [e for e in entries if e.lacks_caption(rows)]
        assert 0 < len(expected) < len(entries)
        assert folder_filters.lacking_caption(entries, rows) == expected


def test_searched_is_matches() -> None:
    entries = _mixed_entries()

    def caption(entry: Entry) -> str:
        rec = entry.caption_file
        return (rec.text or "") if rec else ""

    for needle in ("caption 1", "sub/", "png", "_input", "1", "of a.", "zzz"):
        expected = [e for e in entries if e.matches(needle, caption(e))]
        assert folder_filters.searched(entries, needle, caption) == expected


def test_the_collector_is_paused_for_a_walk_and_left_as_the_program_had_it() -> None:
    assert gc.isenabled()
    with catalogs._gc_paused():
        assert not gc.isenabled()
        with catalogs._gc_paused():  # another catalog's walk at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with catalogs._gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the program's own choice stands
    finally:
        gc.enable()


def test_a_big_walk_keeps_its_records_out_of_later_collections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(catalogs, "FREEZE_FROM", 1000)
    frozen = gc.get_freeze_count()
    with catalogs._gc_paused():
        small = [[i] for i in range(10)]
    assert gc.get_freeze_count() == frozen
    with catalogs._gc_paused():
        big = [[i] for i in range(5000)]
    assert gc.get_freeze_count() >= frozen + 5000
    assert gc.isenabled() and len(small) + len(big) == 5010
