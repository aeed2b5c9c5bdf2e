"""Transcript text: cleaning, numbers in words, the phoneme map, one metadata.csv field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasety.core.errors import DatasetyError
from datasety.speech import text

pytest.importorskip("num2words")


def test_cleaning_keeps_words_and_plain_punctuation() -> None:
    raw = "  \u201cHello\u201d ,  world \u2014 it\u2019s   fine!  \u266a "
    assert text.clean_text(raw) == '"Hello", world-it\'s fine!'


def test_cleaning_drops_a_phrase_whisper_repeated() -> None:
    looped = "thank you for watching " * 5
    assert text.clean_text(looped) == "thank you for watching"


def test_numbers_are_spelt_out_in_the_language() -> None:
    assert text.normalize_numbers("I am 42 on the 3rd day", "en") == (
        "I am forty-two on the third day"
    )
    assert text.normalize_numbers("21 Katzen", "de") == "einundzwanzig Katzen"
    assert text.normalize_numbers("2.5 km", "en") == "two point five km"
    # A language num2words does not know keeps its digits.
    assert text.normalize_numbers("7", "xx") == "7"


def test_prepare_spells_numbers_then_cleans_and_stays_one_field() -> None:
    spoken = text.prepare("It costs 42 | dollars\nnow", clean=True, numbers=True, language="en")
    assert spoken == "It costs forty-two dollars now"
    kept = text.prepare("Raw  text | 5", clean=False, numbers=False, language="en")
    assert kept == "Raw text 5"


def test_phoneme_map_from_a_piper_config_or_a_plain_object(tmp_path: Path) -> None:
    piper = tmp_path / "voice.json"
    piper.write_text(json.dumps({"phoneme_id_map": {"a": [1], "b": [2], " ": [3]}}))
    plain = tmp_path / "chars.json"
    plain.write_text(json.dumps({"h": 1, "e": 2, "l": 3, "o": 4}))
    assert text.load_phoneme_map(str(piper)) == {"a", "b", " "}
    allowed = text.load_phoneme_map(str(plain))
    assert text.unknown_characters("Hello hello", allowed) == set()
    assert text.unknown_characters("help!", allowed) == {"p", "!"}


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("{not json", "not readable JSON"), ("[1]", "not a JSON object")],
)
def test_a_bad_phoneme_map_is_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "map.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetyError, match=message):
        text.load_phoneme_map(str(path))
