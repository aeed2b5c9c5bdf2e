"""`datasety train` on an LJSpeech folder: a Piper voice from clips espeak-ng speaks here.

Nothing is downloaded: the clips are made by Debian's espeak-ng, piper's own preprocessing
(its bundled espeak-ng, Silero VAD from its wheel) runs on them, and the voice trains from
scratch at Piper's smallest size (x_low) for one step, is checkpointed, resumed for a second
step, exported to ONNX, loaded by onnxruntime and made to speak.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasety.core.progress import parse_progress_line
from datasety.training.voice.dataset import read_voice_dataset, write_backend_csv
from tests.clirun import run_main
from tests.tinyspeech import espeak_wav, read_wav

SENTENCES = (
    "The quick brown fox jumps.",
    "She sells sea shells.",
    "A voice made of short clips.",
    "Numbers are spelled out.",
)


@pytest.fixture
def voice_dataset(tmp_path: Path) -> Path:
    """An LJSpeech folder as `datasety audio --metadata` writes it: wavs/ID.wav, ID|text."""
    folder = tmp_path / "speech"
    (folder / "wavs").mkdir(parents=True)
    rows = []
    for index, sentence in enumerate(SENTENCES):
        espeak_wav(folder / "wavs" / f"clip{index}.wav", sentence)
        rows.append(f"clip{index}|{sentence}\n")
    (folder / "metadata.csv").write_text("".join(rows), encoding="utf-8")
    return folder


def test_the_dataset_reads_normalized_text_and_skips_rows_without_a_clip(
    voice_dataset: Path, tmp_path: Path
) -> None:
    (voice_dataset / "metadata.csv").write_text(
        'clip0|"Quoted," she said|\nclip1|It costs 5 dollars|It costs five dollars\n'
        "gone|No clip for this row\n",
        encoding="utf-8",
    )
    data = read_voice_dataset(voice_dataset)
    assert [(u.id, u.text) for u in data.utterances] == [
        ("clip0", '"Quoted," she said'),
        ("clip1", "It costs five dollars"),
    ]
    assert data.missing_audio == ["gone"]
    # piper parses its csv with Python's csv module: the quote survives the round trip.
    dest = tmp_path / "backend.csv"
    write_backend_csv(data.utterances, dest)
    with dest.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="|"))
    assert rows[0] == [str((voice_dataset / "wavs" / "clip0.wav").resolve()), '"Quoted," she said']


def test_a_speaker_column_makes_a_multi_speaker_dataset(
    voice_dataset: Path, tmp_path: Path
) -> None:
    metadata = voice_dataset / "metadata.csv"
    metadata.write_text(
        "clip0|alice|Hello there.\nclip1|bob|It costs 5 dollars|It costs five dollars\n"
        "clip2|alice|Again.\nclip3|bob|Once more.\n",
        encoding="utf-8",
    )
    data = read_voice_dataset(voice_dataset)
    assert data.speakers == ["alice", "bob"]
    assert [(u.id, u.speaker, u.text) for u in data.utterances][:2] == [
        ("clip0", "alice", "Hello there."),
        ("clip1", "bob", "It costs five dollars"),
    ]
    dest = tmp_path / "backend.csv"
    write_backend_csv(data.utterances, dest)
    with dest.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="|"))
    assert rows[1] == [str((voice_dataset / "wavs" / "clip1.wav").resolve()), "bob",
                       "It costs five dollars"]  # fmt: skip
    # LJSpeech's id|text|normalized (sentences in the second column), and a second column of
    # words no two rows share, stay one speaker.
    for single in (
        "clip0|Hello there.|Hello there.\nclip1|It costs 5|It costs five\n",
        "clip0|Yes|Yes.\nclip1|No|No.\nclip2|Maybe|Maybe.\nclip3|Sure|Sure.\n",
    ):
        metadata.write_text(single, encoding="utf-8")
        assert read_voice_dataset(voice_dataset).speakers == []


def test_the_alignment_search_is_vits_own(tmp_path: Path) -> None:
    """The search borrowed from monotonic-alignment-search gives VITS's paths in VITS's
    layout (``[batch, frames, phonemes]``), transcribed here from VITS's Cython source."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("piper.train.vits.lightning")
    pytest.importorskip("monotonic_alignment_search")
    from datasety.training.voice import piper

    piper.use_monotonic_alignment_search(__import__("monotonic_alignment_search"))
    maximum_path = sys.modules["piper.train.vits.monotonic_align"].maximum_path
    generator = torch.Generator().manual_seed(3)
    value = torch.randn(3, 14, 6, generator=generator)
    lengths = [(14, 6), (9, 4), (6, 6)]  # (frames, phonemes) per utterance
    mask = torch.zeros(3, 14, 6)
    for row, (frames, phonemes) in enumerate(lengths):
        mask[row, :frames, :phonemes] = 1
    path = maximum_path(value, mask).numpy()
    for row, (frames, phonemes) in enumerate(lengths):
        expected = vits_maximum_path(value[row].numpy(), frames, phonemes)
        assert np.array_equal(path[row, :frames, :phonemes], expected)
        assert path[row].sum() == frames  # every frame speaks exactly one phoneme
        chosen = path[row, :frames].argmax(axis=1)
        assert chosen[0] == 0 and chosen[-1] == phonemes - 1 and np.all(np.diff(chosen) >= 0)


def vits_maximum_path(value: np.ndarray, t_y: int, t_x: int) -> np.ndarray:
    """VITS's ``maximum_path_each`` (monotonic_align/core.pyx) in plain Python."""
    value = value.astype(np.float64).copy()
    path = np.zeros((t_y, t_x), dtype=np.int64)
    neg = -1e9
    for y in range(t_y):
        for x in range(max(0, t_x + y - t_y), min(t_x, y + 1)):
            v_cur = neg if x == y else value[y - 1, x]
            v_prev = (0.0 if y == 0 else neg) if x == 0 else value[y - 1, x - 1]
            value[y, x] += max(v_prev, v_cur)
    index = t_x - 1
    for y in range(t_y - 1, -1, -1):
        path[y, index] = 1
        if index != 0 and (index == y or value[y - 1, index] < value[y - 1, index - 1]):
            index -= 1
    return path


def test_a_released_piper_checkpoint_gives_its_shape_language_and_rate(tmp_path: Path) -> None:
    """What `--model` reads from a checkpoint as rhasspy/piper-checkpoints ships them: the
    .ckpt (an older piper's hyperparameters hold paths) with its config.json beside it."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("piper.train.vits.lightning")
    from datasety.training.voice import piper

    folder = tmp_path / "lessac" / "medium"
    folder.mkdir(parents=True)
    hparams = {"num_symbols": 256, "hidden_channels": 192, "sample_rate": 16000,
               "dataset": [Path("/data/lessac/dataset.jsonl")], "learning_rate": 2e-4}  # fmt: skip
    torch.save({"state_dict": {"model_g.emb_g": torch.zeros(1)}, "hyper_parameters": hparams},
               folder / "epoch=2164-step=1355540.ckpt")  # fmt: skip
    (folder / "config.json").write_text(json.dumps({"espeak": {"voice": "en-us"}}))
    file = piper._base_file(str(folder.parent / "medium"))
    state = piper._load_lightning_checkpoint(file, "--model")
    assert piper._architecture("x_low", state) == {"num_symbols": 256, "hidden_channels": 192}
    assert piper._language_of(None, file) == "en-us"
    settings = piper.VoiceSettings(input=tmp_path, output=tmp_path / "v.onnx")
    assert piper._sample_rate(settings, state) == 16000


def test_a_stopped_voice_run_says_where_it_continues(tmp_path: Path) -> None:
    from datasety.commands import resume_point

    folder = tmp_path / "me.checkpoints"
    folder.mkdir()
    assert resume_point("train", {"output": str(tmp_path / "me.onnx")}) is None
    for step in (2, 10):
        (folder / f"step-{step:06d}.ckpt").write_bytes(b"")
    (folder / ".step-000011.ab12.partial.ckpt").write_bytes(b"")  # a save still under way
    point = resume_point("train", {"output": str(tmp_path / "me.onnx")})
    assert point == {"param": "resume", "value": str(folder / "step-000010.ckpt"), "step": 10}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--lora-rank", "8"), "--lora-rank is for image LoRA training"),
        (("--backend", "coqui"), "coqui-tts needs torchaudio, and PyPI has none that loads"),
        (("--backend", "f5-tts"), "--backend f5-tts does not install cleanly"),
        (("--family", "piper", "--backend", "coqui"), "ask for two backends"),
        (("--resume", "nowhere"), "--resume 'nowhere' does not exist"),
        (("--model", "some/repo"), "voice training starts from scratch or from a local Piper"),
    ],
)
def test_what_a_voice_cannot_do_is_one_line(
    capsys: pytest.CaptureFixture[str], voice_dataset: Path, tmp_path: Path,
    extra: tuple[str, ...], message: str,
) -> None:  # fmt: skip
    pytest.importorskip("piper.train.vits.lightning")
    code, _, err = run_main(capsys, "train", "-i", str(voice_dataset), "-o",
                            str(tmp_path / "v.onnx"), "--device", "cpu", *extra)  # fmt: skip
    assert code == 1
    assert err.startswith("Error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("v*"))


@pytest.mark.slow
def test_a_piper_voice_trains_resumes_exports_and_speaks(
    voice_dataset: Path, tmp_path: Path
) -> None:
    pytest.importorskip("piper.train.vits.lightning")
    ort = pytest.importorskip("onnxruntime")
    output = tmp_path / "voices" / "me.onnx"
    folder = tmp_path / "voices" / "me.checkpoints"
    common = ["-i", str(voice_dataset), "-o", str(output), "--batch-size", "1",
              "--quality", "x_low", "--device", "cpu"]  # fmt: skip

    first = train_process(tmp_path, *common, "--steps", "1", "--save-every", "1")
    progress = [p for p in map(parse_progress_line, first.stdout.splitlines()) if p]
    assert progress[-1]["done"] == progress[-1]["total"] == 1
    assert isinstance(progress[-1]["loss"], float) and progress[-1]["eta_s"] == 0
    assert [p.name for p in folder.iterdir()] == ["step-000001.ckpt"]

    second = train_process(tmp_path, *common, "--steps", "2", "--resume", str(folder),
                           "--test-text", "Hello from a brand new voice.")  # fmt: skip
    assert "Resuming at step 1 of 2" in second.stdout
    progress = [p for p in map(parse_progress_line, second.stdout.splitlines()) if p]
    assert [p["done"] for p in progress if p.get("item")] == [2]

    config = json.loads(output.with_name("me.onnx.json").read_text())
    assert config["audio"]["sample_rate"] == 22050 and config["espeak"]["voice"] == "en-us"
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    ids = [1, 0, *[id_ for ph in "həloʊ" for id_ in (*config["phoneme_id_map"][ph], 0)], 2]
    (audio,) = session.run(None, {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32),
    })  # fmt: skip
    assert audio.shape[-1] > 0 and np.isfinite(audio).all() and np.abs(audio).max() > 1e-3
    samples, rate = read_wav(output.with_name("me.test.wav"))
    assert rate == 22050 and samples.size > rate // 5
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # speech, not silence
    assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]


def train_process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`datasety train` as a job runs it: its own process, progress as JSON lines."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "DATASETY_PROGRESS": "jsonl"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "datasety", "train", *args],
        capture_output=True, text=True, timeout=600, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_a_multi_speaker_voice_on_two_cpu_processes(tmp_path: Path) -> None:
    """Two espeak-ng voices as two speakers (``id|speaker|text``), trained by Lightning's DDP
    on two CPU processes: the voice holds Piper's speaker map and speaks as either speaker."""
    pytest.importorskip("piper.train.vits.lightning")
    ort = pytest.importorskip("onnxruntime")
    folder = tmp_path / "speakers"
    (folder / "wavs").mkdir(parents=True)
    rows = []
    for index, sentence in enumerate(SENTENCES):
        speaker, voice = ("alice", "en+f3") if index % 2 else ("bob", "en")
        espeak_wav(folder / "wavs" / f"clip{index}.wav", sentence, voice)
        rows.append(f"clip{index}|{speaker}|{sentence}\n")
    (folder / "metadata.csv").write_text("".join(rows), encoding="utf-8")
    output = tmp_path / "voices" / "two.onnx"

    result = train_process(
        tmp_path, "-i", str(folder), "-o", str(output), "--batch-size", "1", "--quality",
        "x_low", "--accelerator", "cpu", "--devices", "2", "--steps", "2", "--save-every", "1",
        "--test-text", "Two speakers, one voice.",
    )  # fmt: skip
    assert "from 2 speakers (id 0 bob: 2 clips; id 1 alice: 2 clips)" in result.stdout
    progress = [p for p in map(parse_progress_line, result.stdout.splitlines()) if p]
    # One process reports: each step once.
    assert [p["done"] for p in progress if p.get("item")] == [1, 2]
    assert sorted(p.name for p in output.with_name("two.checkpoints").iterdir()) == [
        "step-000001.ckpt", "step-000002.ckpt"]  # fmt: skip

    config = json.loads(output.with_name("two.onnx.json").read_text())
    assert config["num_speakers"] == 2 and config["speaker_id_map"] == {"bob": 0, "alice": 1}
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    ids = [1, 0, *[id_ for ph in "həloʊ" for id_ in (*config["phoneme_id_map"][ph], 0)], 2]

    def say(speaker: int) -> np.ndarray:
        (audio,) = session.run(None, {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32),  # no noise: repeatable
            "sid": np.array([speaker], dtype=np.int64),
        })  # fmt: skip
        return np.asarray(audio)

    bob, alice = say(0), say(1)
    assert np.array_equal(bob, say(0)) and not np.array_equal(bob, alice)
    for name in ("bob", "alice"):
        samples, rate = read_wav(output.with_name(f"two.test.{name}.wav"))
        assert rate == 22050 and float(np.sqrt(np.mean(samples**2))) > 0.01
