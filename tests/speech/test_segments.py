"""Clips planned on Whisper's words: limits, merging, splitting, and never a word cut."""

from __future__ import annotations

import pytest

from datasety.speech.segments import EDGE_PAD, plan_clips
from datasety.speech.transcribe import Segment, Word


def words(*spans: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, f" {word}", 0.9) for start, end, word in spans]


def segment(*spans: tuple[float, float, str]) -> Segment:
    found = words(*spans)
    return Segment(found[0].start, found[-1].end, "".join(w.text for w in found), found)


def test_each_segment_is_a_clip_padded_but_not_into_its_neighbour() -> None:
    first = segment((1.0, 1.5, "one"), (1.6, 3.0, "two."))
    second = segment((3.1, 4.0, "three"), (4.1, 5.0, "four."))
    clips, short = plan_clips([first, second], 0.5, 30.0, 0.0)
    assert short == []
    assert [c.text for c in clips] == ["one two.", "three four."]
    assert clips[0].start == 1.0 - EDGE_PAD
    assert clips[0].end == clips[1].start == 3.05  # the middle of the 0.1 s pause


def test_merge_gap_joins_close_phrases_up_to_max_duration() -> None:
    parts = [
        segment((0.0, 1.0, "a")),
        segment((1.2, 2.0, "b")),
        segment((2.3, 3.0, "c")),
        segment((5.0, 6.0, "d")),
    ]
    clips, _ = plan_clips(parts, 0.1, 30.0, 0.5)
    assert [c.text for c in clips] == ["a b c", "d"]
    capped, _ = plan_clips(parts, 0.1, 2.5, 0.5)
    assert [c.text for c in capped] == ["a b", "c", "d"]


def test_a_long_segment_splits_between_words_at_the_sentence_end() -> None:
    long = segment(
        (0.0, 2.0, "first"), (2.1, 4.0, "part."), (4.1, 6.0, "second"), (6.3, 8.0, "part")
    )
    clips, _ = plan_clips([long], 0.5, 5.0, 0.0)
    assert [c.text for c in clips] == ["first part.", "second part"]
    for clip in clips:  # every word lies wholly inside its clip
        assert all(clip.start <= w.start and w.end <= clip.end for w in clip.words)


def test_no_word_is_ever_cut_and_every_word_is_in_one_clip() -> None:
    spans = [(i * 0.7, i * 0.7 + 0.5, f"w{i}") for i in range(40)]
    clips, short = plan_clips([segment(*spans)], 1.0, 4.0, 0.0)
    placed = [w for c in clips + short for w in c.words]
    assert [w.text for w in placed] == [f" w{i}" for i in range(40)]
    for clip in clips:
        assert clip.duration <= 4.0 + 2 * EDGE_PAD
        assert all(clip.start <= w.start and w.end <= clip.end for w in clip.words)


def test_short_clips_are_set_aside_and_empty_segments_ignored() -> None:
    empty = Segment(0.0, 1.0, "", [])
    short_one = segment((2.0, 2.4, "hi"))
    long_one = segment((5.0, 7.0, "hello there"))
    clips, short = plan_clips([empty, short_one, long_one], 1.5, 30.0, 0.0)
    assert [c.text for c in clips] == ["hello there"]
    assert [c.text for c in short] == ["hi"]


def test_vad_regions_are_packed_into_whisper_windows() -> None:
    pytest.importorskip("silero_vad")
    from datasety.speech.vad import packed

    regions = [(1.0, 4.0), (5.0, 9.0), (10.0, 30.5), (31.0, 33.0), (90.0, 95.0)]
    assert packed(regions) == [(1.0, 30.5), (31.0, 33.0), (90.0, 95.0)]
    assert packed([]) == []
