"""``datasety video``: clips cut from videos at their speech, each with its transcript."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasety.core.atomic import temp_path_for
from datasety.core.layout import VIDEO_EXTENSIONS
from datasety.core.progress import Progress
from datasety.media.audio import SPEECH_RATE, decode_audio
from datasety.media.video import cut_clip
from datasety.speech.output import Committer, Layout, Written, safe_name
from datasety.speech.pipeline import SpeechSettings, Tally, hear, rejection, transcript
from datasety.speech.runner import run_with_whisper
from datasety.speech.sources import Source, fetch
from datasety.speech.transcribe import Transcriber

CLIP_EXTENSIONS = VIDEO_EXTENSIONS | {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus"}
DEFAULT_SUFFIX = ".mp4"


@dataclass(frozen=True)
class VideoJob:
    sources: list[Source]
    layout: Layout
    settings: SpeechSettings
    re_encode: bool = False
    workers: int = 1
    log: Path | None = None


def video_layout(folder: Path) -> Layout:
    return Layout(folder, ljspeech=False, extensions=frozenset(CLIP_EXTENSIONS))


def make_clips(job: VideoJob, committer: Committer, reporter: Progress) -> Tally:
    job.layout.folder.mkdir(parents=True, exist_ok=True)

    def one(source: Source, temp: Path, transcriber: Transcriber, tally: Tally) -> list[Written]:
        return _one_source(source, temp, job, transcriber, tally)

    return run_with_whisper(
        job.sources, job.settings, job.workers, job.log, committer, reporter, one
    )


def _one_source(
    source: Source, temp: Path, job: VideoJob, transcriber: Transcriber, tally: Tally
) -> list[Written]:
    settings = job.settings
    path = fetch(source, temp)
    offset = source.start or 0.0
    samples = decode_audio(path, SPEECH_RATE, source.start, source.end)
    if settings.demucs:
        from datasety.speech.vocals import isolate_vocals

        samples = isolate_vocals(samples, SPEECH_RATE, settings.demucs_model, settings.device)
    heard = hear(samples, SPEECH_RATE, settings, transcriber)
    for clip in heard.too_short:
        tally.skip(source.name, clip, f"shorter than --min-duration {settings.min_duration}", "")
    suffix = path.suffix.lower() if path.suffix.lower() in CLIP_EXTENSIONS else DEFAULT_SUFFIX
    written: list[Written] = []
    taken: set[str] = set()
    try:
        for clip in heard.clips:
            audio = samples[int(clip.start * SPEECH_RATE) : int(round(clip.end * SPEECH_RATE))]
            text = transcript(clip, heard.language, settings)
            reason = rejection(clip, text, audio, settings)
            if reason is not None:
                tally.skip(source.name, clip, reason, text)
                continue
            start, end = clip.start + offset, clip.end + offset
            clip_id = job.layout.clip_id(safe_name(source.name), 0, start, end, taken)
            temp_file = temp_path_for(job.layout.folder / f"{clip_id}{suffix}")
            cut_clip(path, temp_file, start, end, job.re_encode)
            written.append(Written(clip_id, temp_file, text, clip.duration, suffix))
            tally.keep(clip.duration)
    except BaseException:
        for done in written:
            done.temp.unlink(missing_ok=True)
        raise
    return written
