"""Which engine trains a voice, and what it was asked to do.

``piper`` is built (:mod:`.piper`). ``coqui`` and ``f5-tts`` are the reference's other
choices; neither runs beside this package's stack, so each is refused in one line that says
why and what to install instead, never with a traceback half-way through a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.models.extras import require

BACKENDS = ("piper", "coqui", "f5-tts")
QUALITIES = ("x_low", "medium", "high")

# Why each unbuilt backend is refused: what installing it takes beside this package.
UNBUILT = {
    # coqui-tts 0.28 itself installs beside datasety, but `import TTS` refuses to run without
    # torchaudio (and, from torch 2.9, torchcodec), and its VITS reads every clip with
    # torchaudio.load. PyPI's newest torchaudio, 2.11.1, is a CUDA build: beside the CPU
    # torch 2.13 its _torchaudio.so fails to load (libc10_cuda.so missing), and there is
    # none built for torch 2.12 or 2.13 (docs/training.md has the evidence).
    "coqui": (
        "--backend coqui does not run beside datasety: coqui-tts needs torchaudio, and PyPI has "
        "none that loads beside torch 2.13 (torchaudio 2.11.1 is a CUDA build for torch 2.11); "
        "train it in its own environment with a matching torch, torchaudio and torchcodec "
        "(pip install 'coqui-tts[codec]' there) or use --backend piper"
    ),
    "f5-tts": (
        "--backend f5-tts does not install cleanly beside datasety (f5-tts downgrades Pillow "
        "and rich and brings a torchaudio built for another torch): train it in its own "
        "environment (pip install f5-tts) or use --backend piper"
    ),
}


@dataclass(frozen=True)
class VoiceSettings:
    """Everything ``datasety train`` was asked for a voice, flags by name.

    ``base`` is a Piper checkpoint to start from (``--model``); ``lr`` None keeps the
    backend's own learning rate; ``language`` and ``sample_rate`` None take the resumed or
    base checkpoint's, else ``en-us`` and 22050 Hz.
    """

    input: Path
    output: Path
    backend: str = "piper"
    base: str | None = None
    language: str | None = None
    quality: str = "medium"
    sample_rate: int | None = None
    steps: int = 100
    batch_size: int = 32
    lr: float | None = None
    seed: int = 42
    save_every: int | None = None
    resume: str | None = None
    validation_split: float = 0.0
    accelerator: str = "auto"
    devices: str = "auto"
    test_text: str | None = None
    cache_dir: Path | None = None


def train_voice(settings: VoiceSettings, reporter: Progress) -> dict[str, Any]:
    """Train with the chosen backend; returns a summary (``output``, ``losses``, ...)."""
    if settings.backend in UNBUILT:
        raise DatasetyError(UNBUILT[settings.backend])
    if settings.backend != "piper":
        raise DatasetyError(f"--backend {settings.backend!r}: choose one of {', '.join(BACKENDS)}")
    # One line naming the extra when piper's training stack is missing, before any of it loads.
    require("voice", "torch", "lightning", "piper.train.vits.lightning",
            "monotonic_alignment_search", purpose="voice training")  # fmt: skip
    from datasety.training.voice.piper import train_piper

    return train_piper(settings, reporter)
