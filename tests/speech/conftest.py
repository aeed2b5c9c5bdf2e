"""Speech made by espeak-ng, a tiny rigged Whisper in a temporary HF cache (tests/tinyspeech.py),
and the same speech inside a synthetic H.264 + AAC video."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.tinyspeech import espeak_wav, read_wav, save_faster_whisper, silence_between, write_wav

GAP = 1.5  # seconds of silence before, between and after the two sentences
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Another sentence follows after a pause.",
)


@dataclass(frozen=True)
class Talk:
    """Two spoken sentences with silence around them: where each sentence is, in seconds."""

    wav: Path
    video: Path
    spans: tuple[tuple[float, float], ...]
    rate: int


@pytest.fixture(scope="session")
def whisper_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("ctranslate2")
    home = tmp_path_factory.mktemp("hf")
    save_faster_whisper(home)
    return home


@pytest.fixture(scope="session")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Talk:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: .ci/run installs it (apt-get install espeak-ng)")
    pytest.importorskip("av")
    from datasety.media.video import write_video

    folder = tmp_path_factory.mktemp("talk")
    parts = []
    for index, sentence in enumerate(SENTENCES):
        samples, rate = read_wav(espeak_wav(folder / f"s{index}.wav", sentence))
        parts.append(samples)
    mixed = silence_between(parts, rate, GAP)
    spans, cursor = [], GAP
    for part in parts:
        spans.append((cursor, cursor + part.size / rate))
        cursor += part.size / rate + GAP
    wav = write_wav(folder / "talk.wav", mixed, rate)
    fps = 25
    frames = [
        np.full((48, 64, 3), (index * 5) % 256, dtype=np.uint8)
        for index in range(int(mixed.size / rate * fps))
    ]
    video = folder / "talk.mp4"
    write_video(video, frames, fps, mixed, rate, keyframe_every=fps)
    return Talk(wav, video, tuple(spans), rate)


@pytest.fixture(autouse=True)
def offline_whisper(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "whisper_home" in request.fixturenames:
        home = request.getfixturevalue("whisper_home")
        monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)
