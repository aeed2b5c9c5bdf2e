"""What ``audio`` and ``video`` share: a source decoded once, its speech found (VAD) and
transcribed with word times, clips planned on whole words, each clip's transcript prepared
and judged by the quality gates, and the run's counts, hours and ``--log``."""

from __future__ import annotations

import csv
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasety.captioning.text import apply_template
from datasety.media.audio import SPEECH_RATE, clipped_fraction, resample
from datasety.speech import text as texts
from datasety.speech.segments import Clip, plan_clips, within_regions
from datasety.speech.transcribe import Transcriber

NO_SPEECH_PROB = 0.6  # Whisper's own cut-off for "this window is not speech"
CLIPPED_SHARE = 0.001  # a clip with more than 0.1% of its samples at full scale is clipped


@dataclass(frozen=True)
class SpeechSettings:
    whisper_model: str = "base"
    language: str | None = None
    device: str = "auto"
    vad: bool = False
    min_duration: float = 1.5
    max_duration: float = 30.0
    merge_gap: float = 0.0
    normalize_numbers: bool = False
    clean_text: bool = True
    phoneme_map: frozenset[str] | None = None
    template: str | None = None
    min_confidence: float = 0.4
    demucs: bool = False
    demucs_model: str = "htdemucs"


@dataclass
class Heard:
    """A source's speech: the clips planned on its words, and what was set aside."""

    language: str
    clips: list[Clip]
    too_short: list[Clip]


def hear(
    samples: np.ndarray, rate: int, settings: SpeechSettings, transcriber: Transcriber
) -> Heard:
    """Find and transcribe the speech in ``samples`` (mono, ``rate`` Hz), then plan clips."""
    speech = resample(samples, rate, SPEECH_RATE)
    regions = None
    if settings.vad:
        from datasety.speech.vad import packed, speech_regions

        regions = speech_regions(speech)
    spans = packed(regions) if regions is not None else None
    segments, language = transcriber.transcribe(speech, settings.language, spans)
    if regions:
        segments = within_regions(segments, regions)
    clips, too_short = plan_clips(
        segments, settings.min_duration, settings.max_duration, settings.merge_gap
    )
    duration = samples.size / rate
    for clip in clips + too_short:
        clip.end = min(clip.end, duration)
    return Heard(language or settings.language or "en", clips, too_short)


def transcript(clip: Clip, language: str, settings: SpeechSettings) -> str:
    """The text written for ``clip``: prepared (numbers, cleaning), then ``--template``."""
    spoken = texts.prepare(
        clip.text,
        clean=settings.clean_text,
        numbers=settings.normalize_numbers,
        language=language,
    )
    if not spoken:
        return ""
    # {{transcript}} is this command's name for caption's {{caption}} placeholder.
    template = (settings.template or "").replace("{{transcript}}", "{{caption}}")
    return texts.one_field(apply_template(template, spoken))


def rejection(
    clip: Clip, text: str, audio: np.ndarray | None, settings: SpeechSettings
) -> str | None:
    """Why ``clip`` is not kept (None: it is). ``audio`` is the clip's samples, when the
    command has them (the clipping check needs them)."""
    if not text or clip.no_speech_prob > NO_SPEECH_PROB:
        return "no speech"
    if clip.confidence < settings.min_confidence:
        return f"low confidence ({clip.confidence:.2f} < {settings.min_confidence})"
    if audio is not None and clipped_fraction(audio) > CLIPPED_SHARE:
        return "clipped audio"
    if settings.phoneme_map is not None:
        unknown = texts.unknown_characters(text, settings.phoneme_map)
        if unknown:
            return "characters outside --phoneme-map: " + "".join(sorted(unknown))
    return None


@dataclass
class Tally:
    """Counts for the summary and rows for ``--log``, shared by the workers."""

    kept: int = 0
    kept_seconds: float = 0.0
    skipped: Counter[str] = field(default_factory=Counter)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, seconds: float) -> None:
        with self._lock:
            self.kept += 1
            self.kept_seconds += seconds

    def skip(self, source: str, clip: Clip, reason: str, text: str) -> None:
        kind = reason.split(" (")[0].split(":")[0]
        with self._lock:
            self.skipped[kind] += 1
            self.rows.append((source, f"{clip.start:.2f}", f"{clip.end:.2f}", reason, text))

    def summary(self) -> str:
        hours = self.kept_seconds / 3600
        line = f"Kept {self.kept} clips, {hours:.2f} hours ({self.kept_seconds:.1f} s)"
        if self.skipped:
            line += "; skipped " + ", ".join(
                f"{n} {why}" for why, n in sorted(self.skipped.items())
            )
        return line

    def write_log(self, path: Path) -> None:
        from datasety.core.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source", "start", "end", "reason", "text"])
            writer.writerows(sorted(self.rows))
