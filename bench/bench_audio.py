"""Benchmark: `datasety audio` against the reference's `datasety audio`, same input, same model.

    .venv/bin/python bench/bench_audio.py                  # 12 sources of ~40 s, 3 rounds
    .venv/bin/python bench/bench_audio.py --sources 4 --rounds 2 --workers 2

What it does, all under bench/ (gitignored):

1. speaks English sentences with Debian's espeak-ng into ``--sources`` WAV files of about
   ``--seconds`` each (sentences with pauses between them), in ``bench/.work/audio/in``;
2. builds one Whisper for both tools: whisper-tiny's real shape (384 wide, 4 encoder and 4
   decoder layers, 6 heads; random weights rigged to write 40 words per segment, see
   tests/tinyspeech.py), converted to CTranslate2 and put in a temporary Hugging Face cache as
   ``Systran/faster-whisper-tiny``, the repository both resolve ``--whisper-model tiny`` to;
   no weights can be downloaded here, and the rig keeps the decoder's work per segment close
   to real speech instead of a random model's 448-token loops;
3. installs the reference with its ``audio`` extra in ``bench/.venv-reference-audio`` (CPU torch
   first), and runs both alternately, ``--rounds`` times each, with the same flags:
   ``--metadata --vad --whisper-model tiny --language en --device cpu --workers N``, timing the
   whole command (start-up and model loading included);
4. reports minutes of input audio processed per minute of wall time (median) and the ratio, and
   the clips each wrote.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "audio"
REFERENCE_VENV = BENCH / ".venv-reference-audio"
REFERENCE_VERSION = "0.44.0"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "A journey of a thousand miles begins with a single step forward.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The weather today is cloudy with a chance of light rain in the afternoon.",
    "Reading books every evening helps the mind to rest and to grow.",
]


def make_sources(count: int, seconds: float) -> tuple[list[Path], float]:
    """``count`` spoken WAV files of about ``seconds`` each; returns them and the total length."""
    sys.path.insert(0, str(ROOT))
    from tests.tinyspeech import espeak_wav, read_wav, silence_between, write_wav

    folder = WORK / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    spoken = []
    for index, sentence in enumerate(SENTENCES):
        samples, rate = read_wav(espeak_wav(WORK / f"s{index}.wav", sentence))
        spoken.append(samples)
    paths, total = [], 0.0
    for number in range(count):
        parts: list[Any] = []
        length = 0.0
        while length < seconds:
            part = spoken[(number + len(parts)) % len(spoken)]
            parts.append(part)
            length += part.size / rate + 0.8
        mixed = silence_between(parts, rate, 0.8)
        total += mixed.size / rate
        paths.append(write_wav(folder / f"talk{number:02d}.wav", mixed, rate))
    return paths, total


def reference_python() -> Path:
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)
        subprocess.run([*pip, f"datasety[audio]=={REFERENCE_VERSION}"], check=True)
    return python


def run(argv: list[str], env: dict[str, str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def clips(out: Path) -> int:
    csv = out / "metadata.csv"
    return len(csv.read_text().splitlines()) if csv.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--hf-home",
        type=Path,
        default=None,
        help="A Hugging Face home that holds the real Systran/faster-whisper-tiny (used as is, "
        "instead of the rigged random model)",
    )
    args = parser.parse_args()

    sources, total = make_sources(args.sources, args.seconds)
    reference = reference_python()
    with tempfile.TemporaryDirectory(prefix="bench-audio-hf-") as made:
        hf = str(args.hf_home) if args.hf_home else made
        if args.hf_home is None:
            from tests.tinyspeech import save_faster_whisper

            save_faster_whisper(Path(hf), words=40, width=384, layers=4, heads=6)
        env = {**os.environ, "HF_HOME": hf, "HF_HUB_OFFLINE": "1"}
        for name in ("DATASETY_PROGRESS", "PYTHONPATH"):
            env.pop(name, None)
        ours_env = {**env, "PYTHONPATH": str(ROOT / "src")}
        flags = ["-i", str(WORK / "in"), "--metadata", "--vad", "--whisper-model", "tiny",
                 "--language", "en", "--device", "cpu", "--workers", str(args.workers)]  # fmt: skip
        ours_cmd = [sys.executable, "-m", "datasety", "audio", *flags, "-o"]
        ref_cmd = [str(reference), "-m", "datasety", "audio", *flags, "-o"]
        times: dict[str, list[float]] = {"reference": [], "ours": []}
        for round_ in range(args.rounds):
            for name, command, command_env in (
                ("reference", ref_cmd, env),
                ("ours", ours_cmd, ours_env),
            ):
                out = WORK / f"out-{name}"
                times[name].append(run([*command, str(out)], command_env, out))
                print(f"round {round_ + 1} {name}: {times[name][-1]:.1f} s, {clips(out)} clips")
    minutes = total / 60
    ref_rate = minutes / (statistics.median(times["reference"]) / 60)
    our_rate = minutes / (statistics.median(times["ours"]) / 60)
    print(
        f"\n{datetime.now(timezone.utc):%Y-%m-%d} {platform.machine()} {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; {len(sources)} sources, {minutes:.1f} min of speech, "
        f"--workers {args.workers}"
    )
    print(f"reference: {ref_rate:.1f} min of audio per minute (median of {args.rounds})")
    print(f"ours:      {our_rate:.1f} min of audio per minute")
    print(f"ratio:     {our_rate / ref_rate:.2f}x")


if __name__ == "__main__":
    main()
