"""Audio in and out: any audio or video container decoded by FFmpeg (through PyAV) to mono
float samples at the rate asked for, and 16-bit PCM WAV files written atomically.

One decode per source: the pipeline decodes a source once at 16 kHz for the speech models and
once at the output rate for the clips (PyAV resamples with FFmpeg's swresample), never by
writing and re-reading a working WAV file.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from datasety.core.atomic import atomic_path
from datasety.core.errors import DatasetyError

SPEECH_RATE = 16_000  # what Silero VAD and Whisper take


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise DatasetyError(
            "audio decoding needs PyAV, which is not installed: pip install 'datasety[audio]'"
        ) from exc
    return av


def decode_audio(
    path: Path, rate: int, start: float | None = None, end: float | None = None
) -> np.ndarray:
    """The first audio stream of ``path`` as mono float32 samples at ``rate`` Hz, from
    ``start`` to ``end`` seconds (the whole stream by default)."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise DatasetyError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            stream.thread_type = "AUTO"
            if start:
                container.seek(int(start / stream.time_base), stream=stream)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[np.ndarray] = []
            first: float | None = None
            for frame in container.decode(stream):
                if first is None and frame.pts is not None:
                    first = float(frame.pts * stream.time_base)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                past_end = end is not None and frame.pts is not None
                if past_end and float(frame.pts * stream.time_base) >= (end or 0.0):
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise DatasetyError(f"cannot decode {path.name}: {exc}") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    offset = first or 0.0
    lo = max(0, int(round(((start or 0.0) - offset) * rate)))
    hi = None if end is None else max(lo, int(round((end - offset) * rate)))
    return np.ascontiguousarray(samples[lo:hi], dtype=np.float32)


def pcm16(samples: np.ndarray) -> bytes:
    """``samples`` (float, [-1, 1]) as little-endian 16-bit PCM."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def write_wav(path: Path, samples: np.ndarray, rate: int, *, atomic: bool = True) -> None:
    """``samples`` as a mono 16-bit PCM WAV file at ``path``: atomically (a temporary file,
    then a rename), or straight to ``path`` when that is a temporary name already."""
    if atomic:
        with atomic_path(path) as tmp:
            write_wav(tmp, samples, rate, atomic=False)
        return
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm16(samples))


def clipped_fraction(samples: np.ndarray, level: float = 0.999) -> float:
    """The share of samples at full scale: a clipped recording flattens its peaks there."""
    if samples.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(samples) >= level)) / samples.size


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Mono float ``samples`` at ``rate`` resampled to ``new_rate`` by FFmpeg's swresample
    (a source is decoded once; the speech models' 16 kHz copy comes from that decode)."""
    if rate == new_rate or samples.size == 0:
        return samples
    av = _av()
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=new_rate)
    chunks = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def media_seconds(path: Path) -> float | None:
    """The duration of the media file at ``path`` from its container, or None."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if container.duration is None:
                return None
            return float(container.duration) / 1_000_000
    except av.FFmpegError:
        return None
