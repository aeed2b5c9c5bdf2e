"""Video clips cut with FFmpeg through PyAV, and videos written from frames and samples.

``cut_clip`` copies the packets (no re-encoding: fast and lossless) from the keyframe at or
before the start, so the clip starts on that keyframe: keyframe-accurate. With ``re_encode``
it decodes and encodes (H.264 + AAC) from the exact frame: frame-accurate, slower.
Timestamps are rebased so every clip starts at 0.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from datasety.core.errors import DatasetyError
from datasety.media.audio import _av


def cut_clip(source: Path, dest: Path, start: float, end: float, re_encode: bool) -> None:
    """The stretch ``start``..``end`` seconds of ``source`` written to ``dest`` (whose
    suffix picks the container)."""
    av = _av()
    try:
        if re_encode:
            _reencode(av, source, dest, start, end)
        else:
            _copy(av, source, dest, start, end)
    except av.FFmpegError as exc:
        dest.unlink(missing_ok=True)
        raise DatasetyError(f"cannot cut {source.name} at {start:.2f}s: {exc}") from exc


def _media_streams(container: Any) -> list[Any]:
    video = list(container.streams.video[:1])
    audio = list(container.streams.audio[:1])
    return video + audio


def _copy(av: Any, source: Path, dest: Path, start: float, end: float) -> None:
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        streams = _media_streams(inp)
        mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        inp.seek(int(start * av.time_base), backward=True, any_frame=False)
        offset: float | None = None  # the first keyframe's time: the clip's zero
        finished: set[int] = set()
        for packet in inp.demux(streams):
            if packet.dts is None or packet.pts is None:
                continue
            when = float(packet.pts * packet.time_base)
            if offset is None:
                if packet.stream.type != "video" and streams[0].type == "video":
                    continue  # audio before the first keyframe would start the clip early
                offset = when if packet.stream.type == "video" else start
            if when >= end:
                finished.add(packet.stream.index)
                if len(finished) == len(streams):
                    break
                continue
            if when < offset:
                continue
            shift = int(round(offset / packet.time_base))
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


def _reencode(av: Any, source: Path, dest: Path, start: float, end: float) -> None:
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        streams = _media_streams(inp)
        encoders: dict[int, tuple[Any, Fraction]] = {}
        for stream in streams:
            if stream.type == "video":
                rate = stream.average_rate or Fraction(25)
                encoder = out.add_stream("libx264", rate=rate)
                encoder.width = stream.codec_context.width
                encoder.height = stream.codec_context.height
                encoder.pix_fmt = "yuv420p"
                tick = Fraction(1, 1) / Fraction(rate)
            else:
                sample_rate = stream.codec_context.sample_rate
                encoder = out.add_stream("aac", rate=sample_rate)
                encoder.layout = stream.codec_context.layout
                tick = Fraction(1, sample_rate)
            encoders[stream.index] = (encoder, tick)
        inp.seek(int(start * av.time_base), backward=True, any_frame=False)
        finished: set[int] = set()
        origins: dict[int, float] = {}  # each stream's first frame kept: whole ticks from it
        for packet in inp.demux(streams):
            index = packet.stream.index
            if index in finished:
                continue
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                when = float(frame.pts * frame.time_base)
                if when >= end:
                    finished.add(index)
                    break
                if when < start:
                    continue
                encoder, tick = encoders[index]
                origin = origins.setdefault(index, when)
                frame.pts = int(round((origin - start) / tick)) + int(round((when - origin) / tick))
                frame.time_base = tick
                for encoded in encoder.encode(frame):
                    out.mux(encoded)
            if len(finished) == len(streams):
                break
        for encoder, _ in encoders.values():
            for encoded in encoder.encode(None):
                out.mux(encoded)


def write_video(
    dest: Path,
    frames: list[np.ndarray],
    fps: int,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    keyframe_every: int = 25,
) -> None:
    """H.264 video of RGB ``frames`` (and AAC ``audio``, mono float) at ``dest``."""
    av = _av()
    with av.open(str(dest), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.codec_context.gop_size = keyframe_every
        sound = None
        if audio is not None:
            sound = out.add_stream("aac", rate=audio_rate)
            sound.layout = "mono"
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None and audio is not None:
            block = 1024
            for first in range(0, audio.size, block):
                chunk = np.ascontiguousarray(audio[first : first + block], dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(
                    chunk.reshape(1, -1), format="flt", layout="mono"
                )
                frame.sample_rate = audio_rate
                frame.pts = first
                frame.time_base = Fraction(1, audio_rate)
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)


def stream_seconds(path: Path) -> dict[str, float]:
    """Each stream type's duration in ``path`` (``{"video": 3.0, "audio": 3.02}``), by
    reading its packets' timestamps."""
    av = _av()
    ends: dict[str, float] = {}
    firsts: dict[str, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.duration is None:
                continue
            kind = packet.stream.type
            t0 = float(packet.pts * packet.time_base)
            t1 = float((packet.pts + packet.duration) * packet.time_base)
            firsts[kind] = min(firsts.get(kind, t0), t0)
            ends[kind] = max(ends.get(kind, t1), t1)
    return {kind: ends[kind] - firsts[kind] for kind in ends}
