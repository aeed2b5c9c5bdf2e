"""`datasety audio` end to end: espeak-ng speech, Silero VAD, a tiny rigged Whisper (every word
it writes is "hello"), clips cut on its word times, LJSpeech and pair layouts, the gates."""

from __future__ import annotations

import csv
import json
import sys
import wave
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.settings import Settings
from tests.clirun import run_main
from tests.speech.conftest import Talk

# The rigged Whisper places its words where its random alignment puts them: --merge-gap joins
# the pieces of one sentence (the sentences are 1.5 s apart), --min-duration 0.5 keeps the
# shorter clips that bunching makes.
WHISPER = ["--whisper-model", "tiny", "--language", "en", "--min-confidence", "0",
           "--merge-gap", "0.5", "--min-duration", "0.5"]  # fmt: skip


def audio(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(capsys, "audio", *args)


def wav_format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        return handle.getnchannels(), handle.getsampwidth(), rate, handle.getnframes() / rate


def test_ljspeech_output_has_a_clip_per_sentence_and_the_server_lists_it(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    # The source is the spoken video (PyAV decodes its audio track), as a user's recording is.
    out = tmp_path / "voice"
    code, stdout, stderr = audio(capsys, "-i", str(talk.video), "-o", str(out), "--metadata",
                                 "--vad", *WHISPER)  # fmt: skip
    assert code == 0, stderr
    assert "Kept 2 clips" in stdout
    rows = [line.split("|") for line in (out / "metadata.csv").read_text().splitlines()]
    assert [row[0] for row in rows] == ["talk-0001", "talk-0002"]
    for (clip_id, text), (start, end) in zip(rows, talk.spans, strict=True):
        assert text.split() and set(text.split()) == {"hello"}
        channels, width, rate, seconds = wav_format(out / "wavs" / f"{clip_id}.wav")
        assert (channels, width, rate) == (1, 2, 22050)
        # Within its sentence's VAD region (and the pause around it), at least --min-duration:
        # where the words fall inside it is the rigged model's guess.
        assert 0.5 <= seconds <= end - start + 1.0
    # The server reads the layout as the audio dataset it is, each clip with its transcript.
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        client.headers["Host"] = "localhost"
        created = client.post("/v1/datasets", json={"path": str(out)})
        assert created.status_code == 201, created.text
        dataset = created.json()["id"]
        assert client.get(f"/v1/datasets/{dataset}").json()["type"] == "audio"
        for clip_id, text in rows:
            info = client.get(f"/v1/datasets/{dataset}/files/wavs/{clip_id}.wav?info=true")
            assert info.status_code == 200, info.text
            assert info.json()["metadata"] == text


def test_pairs_layout_rate_and_template(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pairs"
    code, _, stderr = audio(capsys, "-i", str(talk.wav), "-o", str(out), "--vad",
                            "--sample-rate", "16000", "--template", "[spk1] {{transcript}}",
                            *WHISPER)  # fmt: skip
    assert code == 0, stderr
    wavs = sorted(out.glob("*.wav"))
    # SOURCE-HHMMSS-HHMMSS: where each sentence is in the source (the clip starts at most
    # VAD's and the clip's padding before it).
    assert len(wavs) == 2
    for path, (start, end) in zip(wavs, talk.spans, strict=True):
        source, first, last = path.stem.split("-")
        assert source == "talk"
        assert int(start) - 1 <= int(first) <= start <= int(last) + 1 and int(last) < end + 1
    for path in wavs:
        assert wav_format(path)[:3] == (1, 2, 16000)
        caption = path.with_suffix(".txt").read_text()
        assert caption.startswith("[spk1] hello")


def test_a_rerun_needs_resume_or_overwrite(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "voice"
    args = ["-i", str(talk.wav), "-o", str(out), "--metadata", "--vad", *WHISPER]
    assert audio(capsys, *args)[0] == 0
    before = (out / "metadata.csv").read_bytes()
    code, _, stderr = audio(capsys, *args)
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"Error: {out / 'wavs'} already has 2 clips: use --resume to continue or --overwrite "
        "to start fresh"
    ]
    code, stdout, _ = audio(capsys, *args, "--resume")
    assert code == 0 and "finished by an earlier run" in stdout
    assert (out / "metadata.csv").read_bytes() == before
    (out / "wavs" / "stale.wav").write_bytes(b"RIFF")
    code, _, stderr = audio(capsys, *args, "--overwrite")
    assert code == 0, stderr
    assert sorted(p.name for p in (out / "wavs").iterdir()) == ["talk-0001.wav", "talk-0002.wav"]
    assert (out / "metadata.csv").read_bytes() == before


def test_dry_run_lists_sources_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], talk: Talk, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    code, stdout, _ = audio(capsys, "-i", str(talk.wav.parent), "-o", str(out), "--dry-run")
    assert code == 0
    assert "talk:" in stdout and "s)" in stdout
    assert not out.exists()


def test_quality_gates_skip_count_and_log(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "why.csv"
    no_h = tmp_path / "map.json"
    no_h.write_text(json.dumps({"phoneme_id_map": {c: [i] for i, c in enumerate("elo ")}}))
    out = tmp_path / "gated"
    code, stdout, stderr = audio(capsys, "-i", str(talk.wav), "-o", str(out), "--vad",
                                 "--phoneme-map", str(no_h), "--log", str(log),
                                 *WHISPER)  # fmt: skip
    assert code == 0, stderr
    assert "Kept 0 clips" in stdout and "2 characters outside --phoneme-map" in stdout
    with log.open() as handle:
        reasons = [row["reason"] for row in csv.DictReader(handle)]
    assert reasons.count("characters outside --phoneme-map: h") == 2
    assert not list(out.glob("*.wav"))


def test_gates_say_why_a_clip_is_not_kept() -> None:
    import numpy as np

    from datasety.speech.pipeline import SpeechSettings, rejection
    from datasety.speech.segments import Clip
    from datasety.speech.transcribe import Word

    settings = SpeechSettings(min_confidence=0.5)
    unsure = Clip(0.0, 2.0, [Word(0.0, 1.0, " maybe", 0.2), Word(1.0, 2.0, " so", 0.4)])
    sure = Clip(0.0, 2.0, [Word(0.0, 2.0, " yes", 0.9)])
    quiet = np.zeros(100, dtype=np.float32)
    assert rejection(unsure, "maybe so", quiet, settings) == "low confidence (0.30 < 0.5)"
    assert rejection(sure, "", quiet, settings) == "no speech"
    assert rejection(sure, "yes", np.ones(100, dtype=np.float32), settings) == "clipped audio"
    assert rejection(sure, "yes", quiet, settings) is None
    silent = Clip(0.0, 2.0, sure.words, no_speech_prob=0.9)
    assert rejection(silent, "yes", quiet, settings) == "no speech"


def test_clipped_audio_is_skipped(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    from tests.tinyspeech import read_wav, write_wav

    samples, rate = read_wav(talk.wav)
    loud = write_wav(tmp_path / "loud.wav", samples * 40.0, rate)
    code, stdout, _ = audio(capsys, "-i", str(loud), "-o", str(tmp_path / "o"), "--vad", *WHISPER)
    assert code == 0 and "Kept 0 clips" in stdout and "2 clipped audio" in stdout


def test_numbers_and_cleaning_flags_reach_the_transcript(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "raw"
    code, _, stderr = audio(capsys, "-i", str(talk.wav), "-o", str(out), "--vad",
                            "--no-clean-text", "--template", "take 2:", "--normalize-numbers",
                            *WHISPER)  # fmt: skip
    assert code == 0, stderr
    texts = [p.read_text().strip() for p in sorted(out.glob("*.txt"))]
    # Not cleaned: Whisper's repetition stays whole; the template's digit is spelt out? No:
    # the template is applied after the transcript is prepared, so its text stays as given.
    assert texts and all(t.startswith("take 2: hello") for t in texts)
    assert max(len(t.split()) for t in texts) > 20


def test_unreachable_url_and_missing_demucs_are_one_line(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    code, _, stderr = audio(capsys, "-i", "http://127.0.0.1:9/talk.mp3", "-o", str(tmp_path / "u"),
                            *WHISPER)  # fmt: skip
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("Error: cannot download http://127.0.0.1:9/talk.mp3")
    try:
        import demucs  # noqa: F401
    except ImportError:
        code, _, stderr = audio(capsys, "-i", str(talk.wav), "-o", str(tmp_path / "d"),
                                "--demucs", *WHISPER)  # fmt: skip
        assert code == 1
        assert stderr.strip() == (
            "Error: --demucs needs demucs, which is not installed: pip install 'datasety[demucs]'"
        )


def test_a_missing_model_is_one_line(
    capsys: pytest.CaptureFixture[str], talk: Talk, tmp_path: Path
) -> None:
    code, _, stderr = audio(capsys, "-i", str(talk.wav), "-o", str(tmp_path / "m"),
                            "--whisper-model", "small")  # fmt: skip
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1
    assert "Systran/faster-whisper-small is not in the local Hugging Face cache" in stderr


def test_workers_process_several_sources(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    sources = tmp_path / "in"
    sources.mkdir()
    for name in ("a", "b", "c"):
        (sources / f"{name}.wav").write_bytes(talk.wav.read_bytes())
    out = tmp_path / "many"
    code, stdout, stderr = audio(capsys, "-i", str(sources), "-o", str(out), "--metadata", "--vad",
                                 "--workers", "3", *WHISPER)  # fmt: skip
    assert code == 0, stderr
    ids = [line.split("|")[0] for line in (out / "metadata.csv").read_text().splitlines()]
    assert sorted(ids) == [f"{s}-000{n}" for s in "abc" for n in (1, 2)]
    assert json.loads((out / ".datasety-speech.json").read_text())["finished"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("module", "flag", "purpose"),
    [("faster_whisper", None, "transcription"), ("silero_vad", "--vad", "--vad")],
)
def test_a_missing_extra_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    talk: Talk,
    whisper_home: Path,
    tmp_path: Path,
    module: str,
    flag: str | None,
    purpose: str,
) -> None:
    from datasety.speech import vad

    vad._model.cache_clear()
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like
    code, _, stderr = audio(capsys, "-i", str(talk.wav), "-o", str(tmp_path / "x"),
                            *([flag] if flag else []), *WHISPER)  # fmt: skip
    vad._model.cache_clear()
    assert code == 1
    assert stderr.strip() == (
        f"Error: {purpose} needs {module}, which is not installed: pip install 'datasety[audio]'"
    )
