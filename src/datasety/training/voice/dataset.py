"""The LJSpeech folder a voice trains on: ``metadata.csv`` (``id|text[|normalized]``) and the
clips in ``wavs/`` (what ``datasety audio --metadata`` writes and the server edits).

A multi-speaker folder has Piper's ``id|speaker|text`` rows, recognised as
:func:`datasety.core.layout.metadata_speakers` says (the server reads and edits them the same
way).

Rows are read with the dataset conventions of :mod:`datasety.core.layout` (pipes, no CSV
quoting: a quote is text), and each id is matched to its clip: ``wavs/ID.wav`` first, then any
audio file named ``ID`` in ``wavs/`` or beside ``metadata.csv``. Rows without a clip are
skipped and counted, never guessed.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from datasety.core import layout
from datasety.core.atomic import atomic_path
from datasety.core.errors import DatasetyError

AUDIO_FOLDER = "wavs"


@dataclass(frozen=True)
class Utterance:
    """One clip and what it says."""

    id: str
    text: str
    audio: Path
    speaker: str | None = None  # a multi-speaker dataset's speaker name


@dataclass(frozen=True)
class VoiceDataset:
    """The usable rows of a folder, and the ids whose clip is missing."""

    utterances: list[Utterance]
    missing_audio: list[str]

    @property
    def speakers(self) -> list[str]:
        """The speakers' names in order of first appearance (Piper's speaker ids); empty
        for a single-speaker dataset."""
        return list(dict.fromkeys(u.speaker for u in self.utterances if u.speaker is not None))


def is_voice_dataset(folder: Path) -> bool:
    """True for an LJSpeech folder: ``metadata.csv`` with a ``wavs/`` folder or audio beside
    it (a ``metadata.csv`` among captioned images does not make a voice dataset)."""
    if not (folder / layout.METADATA_CSV).is_file():
        return False
    if (folder / AUDIO_FOLDER).is_dir():
        return True
    return any(layout.file_kind(p.name) == "audio" for p in folder.iterdir() if p.is_file())


def read_voice_dataset(folder: Path) -> VoiceDataset:
    """The rows of ``folder/metadata.csv`` paired with their clips."""
    metadata = folder / layout.METADATA_CSV
    if not metadata.is_file():
        raise DatasetyError(
            f"{folder} has no {layout.METADATA_CSV}: voice training reads an LJSpeech folder "
            "(metadata.csv rows ID|text, clips in wavs/ID.wav), what `datasety audio --metadata` "
            "writes"
        )
    content = metadata.read_text(encoding="utf-8", errors="replace")
    speakers = layout.metadata_speakers(content)
    rows = layout.parse_metadata(content, normalized=True)
    clips = _audio_by_stem(folder) | _audio_by_stem(folder / AUDIO_FOLDER)  # wavs/ wins
    utterances, missing = [], []
    for row_id, text in rows.items():
        audio = clips.get(row_id)
        if audio is None:
            missing.append(row_id)
        elif text.strip():
            utterances.append(Utterance(row_id, text.strip(), audio, speakers.get(row_id)))
    if not utterances:
        raise DatasetyError(
            f"{metadata} names no clip that exists ({len(rows)} rows, none with a "
            f"{AUDIO_FOLDER}/ID.wav and a text)"
        )
    return VoiceDataset(utterances, missing)


def _audio_by_stem(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the audio files directly in ``folder``; a ``.wav`` wins a tie."""
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: (p.suffix.lower() != ".wav", p.name)):
        if path.is_file() and layout.file_kind(path.name) == "audio":
            found.setdefault(path.stem, path)
    return found


def dataset_hash(utterances: list[Utterance]) -> str:
    """A digest of the texts (and speakers) and the clips' sizes and modification times: an
    edited transcript or a replaced clip is a new dataset (and a new preprocessing cache)."""
    digest = hashlib.sha256()
    for utt in utterances:
        stat = utt.audio.stat()
        row = [utt.id, utt.text, stat.st_size, stat.st_mtime_ns]
        # A single-speaker row hashes as it always has (its cache and checkpoints stay valid).
        digest.update(json.dumps(row + ([utt.speaker] if utt.speaker else [])).encode())
    return digest.hexdigest()[:16]


def write_backend_csv(utterances: list[Utterance], dest: Path) -> None:
    """The rows as ``/abs/clip.wav|text`` (``/abs/clip.wav|speaker|text`` for several
    speakers: Piper's multi-speaker format) for a backend's reader, which parses with Python's
    csv module: written with it too, so a text that starts with a quote survives."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="|", lineterminator="\n")
        for utt in utterances:
            speaker = [utt.speaker] if utt.speaker is not None else []
            writer.writerow([str(utt.audio.resolve()), *speaker, utt.text])
