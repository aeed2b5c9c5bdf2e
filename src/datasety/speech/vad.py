"""Speech regions from Silero VAD (its model ships inside the ``silero-vad`` package).

The sequence model runs a block of 512 frames (16 s) per ONNX call instead of one 32 ms frame
per Python call: the same probabilities, a fraction of the interpreter time, and the GIL free
while a source's VAD runs beside another source's transcription.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from datasety.media.audio import SPEECH_RATE
from datasety.models.extras import require

# Pauses shorter than this stay inside one region: a breath between words is not a cut.
MIN_SILENCE_MS = 300
SPEECH_PAD_MS = 100
WHISPER_WINDOW = 30.0  # seconds of audio Whisper's encoder takes at once


@cache
def _model() -> Any:
    (silero,) = require("audio", "silero_vad", purpose="--vad")
    return silero.load_silero_vad(sequence=True)


def speech_regions(samples: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of each stretch of speech in ``samples`` (16 kHz mono)."""
    model = _model()  # first: a missing silero-vad is one line naming the extra
    from silero_vad.sequence_vad import get_speech_timestamps_sequence

    found = get_speech_timestamps_sequence(
        samples,
        model,
        threshold=threshold,
        sampling_rate=SPEECH_RATE,
        min_silence_duration_ms=MIN_SILENCE_MS,
        speech_pad_ms=SPEECH_PAD_MS,
        max_speech_duration_s=WHISPER_WINDOW - 1.0,
    )
    return [(r["start"] / SPEECH_RATE, r["end"] / SPEECH_RATE) for r in found]


def packed(
    regions: list[tuple[float, float]], window: float = WHISPER_WINDOW
) -> list[tuple[float, float]]:
    """Neighbouring ``regions`` joined while the joined span fits one Whisper ``window``.

    Whisper encodes 30 s at a time whatever it is given: a 3 s sentence alone costs a full
    window. Packed, a window holds every sentence (and the short pauses between them) that
    fits, and a long stretch of silence or music between spans is still never transcribed.
    """
    spans: list[tuple[float, float]] = []
    for start, end in regions:
        if spans and end - spans[-1][0] <= window:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
