"""Transcript text for TTS training: cleaned, numbers in words, checked against a voice's
phoneme map, and kept to one ``metadata.csv`` field (no ``|``, no line breaks)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from datasety.core.errors import DatasetyError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(?![\w])")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_KEPT_PUNCTUATION = set(".,!?'\":;-")


def clean_text(text: str) -> str:
    """What a TTS trainer can read: letters, digits and plain punctuation; typographic quotes
    and dashes made plain; one space between words; no space before punctuation; a phrase
    Whisper repeated (a known hallucination) kept once."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"[\u2013\u2014]", "-", text)
    text = "".join(
        c for c in text if c.isalpha() or c.isdigit() or c.isspace() or c in _KEPT_PUNCTUATION
    )
    text = re.sub(r"(?<=[^\W\d_])\s*-\s*(?=[^\W\d_])", "-", text)
    text = re.sub(r"\s+([.,!?;:])", r"\1", text)
    text = re.sub(r"(.{15,}?)\1{2,}", r"\1", text)
    return " ".join(text.split())


def one_field(text: str) -> str:
    """``text`` as one ``metadata.csv`` field: control characters, ``|`` and line breaks
    become spaces (the server refuses them in a row)."""
    text = _CONTROL.sub(" ", text).replace("|", " ")
    return " ".join(text.split())


def normalize_numbers(text: str, language: str) -> str:
    """Digits spelt out in ``language`` ("42" -> "forty-two", "3rd" -> "third"); a language
    num2words does not know leaves the text as it is."""
    try:
        from num2words import num2words
    except ImportError as exc:
        raise DatasetyError(
            "--normalize-numbers needs num2words, which is not installed: "
            "pip install 'datasety[audio]'"
        ) from exc
    code = language.split("-")[0].split("_")[0].lower() or "en"

    def ordinal(match: re.Match[str]) -> str:
        try:
            return str(num2words(int(match.group(1)), lang=code, to="ordinal"))
        except (NotImplementedError, ValueError, OverflowError):
            return match.group(0)

    def cardinal(match: re.Match[str]) -> str:
        raw = match.group(1)
        try:
            value: float | int = (
                float(raw.replace(",", ".")) if re.search(r"[.,]", raw) else int(raw)
            )
            return str(num2words(value, lang=code))
        except (NotImplementedError, ValueError, OverflowError):
            return raw

    return _NUMBER.sub(cardinal, _ORDINAL.sub(ordinal, text))


def load_phoneme_map(path: str) -> frozenset[str]:
    """The characters a voice can speak, from a Piper ``config.json`` (its
    ``phoneme_id_map``) or a plain JSON object whose keys are the characters."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetyError(f"--phoneme-map {path!r} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetyError(f"--phoneme-map {path!r} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DatasetyError(f"--phoneme-map {path!r} is not a JSON object")
    table = data.get("phoneme_id_map", data)
    if not isinstance(table, dict) or not table:
        raise DatasetyError(f"--phoneme-map {path!r} lists no characters")
    return frozenset(str(key) for key in table)


def unknown_characters(text: str, allowed: frozenset[str]) -> set[str]:
    """Characters of ``text`` the phoneme map lacks (whitespace always passes; a letter
    passes in either case)."""
    return {c for c in text if not c.isspace() and c not in allowed and c.lower() not in allowed}


def prepare(text: str, *, clean: bool, numbers: bool, language: str) -> str:
    """A clip's transcript as it is written: numbers spelt out (before cleaning, which would
    keep the digits), cleaned unless told not to, and always one ``metadata.csv`` field."""
    if numbers:
        text = normalize_numbers(text, language)
    if clean:
        text = clean_text(text)
    return one_field(text)
