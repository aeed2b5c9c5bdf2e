"""Transcription with word timestamps: faster-whisper (CTranslate2), loaded offline-first
through the model runtime's one door (``datasety.models.loading``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datasety.core.errors import DatasetyError
from datasety.models.device import DEVICE_CHOICES
from datasety.models.extras import require
from datasety.models.loading import model_dir


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass
class Segment:
    """One Whisper segment: its words and how sure the model was that it is speech."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


def repo_for(name: str) -> str:
    """The hub repository (or folder) of ``--whisper-model``: a size name (``base``,
    ``large-v3``, ``distil-large-v3``, ``turbo``) as faster-whisper maps it, else itself."""
    from faster_whisper import utils

    known: dict[str, str] = getattr(utils, "_MODELS", {})
    return known.get(name, name)


def whisper_device(requested: str) -> tuple[str, str]:
    """``(device, compute type)`` for CTranslate2: int8 on the CPU, float16 on CUDA."""
    import ctranslate2

    if requested not in DEVICE_CHOICES:
        raise DatasetyError(f"--device {requested!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    cuda = ctranslate2.get_cuda_device_count() > 0
    if requested == "mps":
        raise DatasetyError("--device mps: faster-whisper runs on cpu or cuda only")
    if requested == "cuda" and not cuda:
        raise DatasetyError("--device cuda: CTranslate2 sees no CUDA GPU here (try --device auto)")
    device = "cuda" if requested in ("auto", "cuda") and cuda else "cpu"
    return device, "float16" if device == "cuda" else "int8"


class Transcriber:
    """A loaded Whisper; :meth:`transcribe` may be called from several threads at once."""

    def __init__(self, name: str, device: str, workers: int = 1) -> None:
        (faster_whisper,) = require("audio", "faster_whisper", purpose="transcription")
        self.device, compute_type = whisper_device(device)
        folder = model_dir(repo_for(name))
        try:
            self.model = faster_whisper.WhisperModel(
                str(folder),
                device=self.device,
                compute_type=compute_type,
                num_workers=max(1, workers),
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise DatasetyError(f"cannot load Whisper model {name!r}: {exc}") from exc
        print(f"Transcribing with {name} on {self.device} ({compute_type})", flush=True)

    def transcribe(
        self,
        samples: np.ndarray,
        language: str | None,
        regions: list[tuple[float, float]] | None = None,
    ) -> tuple[list[Segment], str]:
        """Segments of ``samples`` (16 kHz mono) with their words, and the language (given or
        detected). ``regions`` (speech found by VAD) limits Whisper to those stretches."""
        options: dict[str, Any] = {
            "language": language or None,
            "word_timestamps": True,
            "vad_filter": False,
        }
        if regions is not None:
            if not regions:
                return [], language or ""
            options["clip_timestamps"] = [t for region in regions for t in region]
        try:
            found, info = self.model.transcribe(samples, **options)
            segments = [_segment(s) for s in found]
        except (ValueError, RuntimeError) as exc:  # a bad --language; CTranslate2's own errors
            raise DatasetyError(f"transcription failed: {exc}") from exc
        return segments, info.language


def _segment(found: Any) -> Segment:
    words = [
        Word(float(w.start), float(w.end), str(w.word), float(w.probability))
        for w in (found.words or [])
    ]
    return Segment(
        float(found.start),
        float(found.end),
        str(found.text),
        words,
        float(found.avg_logprob),
        float(found.no_speech_prob),
    )
