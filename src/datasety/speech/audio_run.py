"""``datasety audio``: recordings in, a TTS dataset out (LJSpeech or wav/txt pairs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasety.core.atomic import temp_path_for
from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.media.audio import decode_audio, write_wav
from datasety.speech.output import Committer, Layout, Written, safe_name
from datasety.speech.pipeline import SpeechSettings, Tally, hear, rejection, transcript
from datasety.speech.runner import run_with_whisper
from datasety.speech.sources import Source, fetch
from datasety.speech.transcribe import Transcriber


@dataclass(frozen=True)
class AudioJob:
    sources: list[Source]
    layout: Layout
    settings: SpeechSettings
    sample_rate: int
    workers: int = 1
    keep_temp: Path | None = None
    log: Path | None = None


def make_dataset(job: AudioJob, committer: Committer, reporter: Progress) -> Tally:
    """Every source of ``job`` cut into clips and transcripts, committed source by source."""
    job.layout.media_dir.mkdir(parents=True, exist_ok=True)

    def one(source: Source, temp: Path, transcriber: Transcriber, tally: Tally) -> list[Written]:
        return _one_source(source, temp, job, transcriber, tally)

    return run_with_whisper(
        job.sources, job.settings, job.workers, job.log, committer, reporter, one
    )


def _one_source(
    source: Source, temp: Path, job: AudioJob, transcriber: Transcriber, tally: Tally
) -> list[Written]:
    settings, rate = job.settings, job.sample_rate
    path = fetch(source, temp)
    samples = decode_audio(path, rate, source.start, source.end)
    if settings.demucs:
        from datasety.speech.vocals import isolate_vocals

        samples = isolate_vocals(samples, rate, settings.demucs_model, settings.device)
    if job.keep_temp is not None:
        job.keep_temp.mkdir(parents=True, exist_ok=True)
        write_wav(job.keep_temp / f"{source.name}.wav", samples, rate)
    heard = hear(samples, rate, settings, transcriber)
    for clip in heard.too_short:
        tally.skip(source.name, clip, f"shorter than --min-duration {settings.min_duration}", "")
    written: list[Written] = []
    taken: set[str] = set()
    try:
        for clip in heard.clips:
            audio = samples[int(clip.start * rate) : int(round(clip.end * rate))]
            text = transcript(clip, heard.language, settings)
            reason = rejection(clip, text, audio, settings)
            if reason is not None:
                tally.skip(source.name, clip, reason, text)
                continue
            number = len(written) + 1
            clip_id = job.layout.clip_id(
                safe_name(source.name), number, clip.start, clip.end, taken
            )
            temp_file = temp_path_for(job.layout.media_dir / f"{clip_id}.wav")
            write_wav(temp_file, audio, rate, atomic=False)
            seconds = audio.size / rate
            written.append(Written(clip_id, temp_file, text, seconds))
            tally.keep(seconds)
    except BaseException:
        for done in written:
            done.temp.unlink(missing_ok=True)
        raise
    return written


def keep_temp_folder(text: str | None) -> Path | None:
    if not text:
        return None
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise DatasetyError(f"--keep-temp {text!r} is not a directory")
    return folder
