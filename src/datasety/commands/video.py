"""`datasety video`: clips cut from videos at their speech, a .txt transcript beside each."""

from __future__ import annotations

import click

from datasety.commands import speech_options
from datasety.commands.rules import RuledCommand
from datasety.core.inputs import require_output_dir
from datasety.core.progress import Progress


@click.command("video", cls=RuledCommand, checks=[speech_options.DURATIONS])
@speech_options.source_and_output("Folder for the clips and their .txt transcripts")
@speech_options.separation()
@speech_options.recognition()
@click.option(
    "--re-encode",
    is_flag=True,
    default=False,
    help="Re-encode (H.264 + AAC) for frame-accurate cuts; by default packets are copied "
    "from the keyframe at or before each cut (fast, lossless, keyframe-accurate)",
)
@speech_options.transcript_text()
@speech_options.run_control()
def command(
    input_: str,
    output: str,
    demucs: bool,
    demucs_model: str,
    whisper_model: str,
    language: str | None,
    device: str,
    vad: bool,
    min_duration: float,
    max_duration: float,
    merge_gap: float,
    re_encode: bool,
    normalize_numbers: bool,
    no_clean_text: bool,
    template: str | None,
    min_confidence: float,
    log: str | None,
    resume: bool,
    overwrite: bool,
    dry_run: bool,
    verbose: bool,
    workers: int,
) -> int:
    """Cut videos into clips of speech, each with its transcript as a .txt beside it.

    The speech is found and transcribed as `datasety audio` does (Whisper word timestamps,
    --vad, the same quality gates); each clip is named SOURCE-HHMMSS-HHMMSS after its place in
    its source and keeps the source's container.
    """
    from pathlib import Path

    from datasety.speech import video_run
    from datasety.speech.output import Committer
    from datasety.speech.runner import prepare_output
    from datasety.speech.sources import find_sources, unique_names

    folder = require_output_dir(output, "--output")
    sources = unique_names(find_sources(input_))
    where = video_run.video_layout(folder)
    settings = speech_options.speech_settings()
    prepare_output(where, resume, overwrite, dry_run)
    if dry_run:
        return speech_options.list_sources(sources)
    job = video_run.VideoJob(
        sources=sources,
        layout=where,
        settings=settings,
        re_encode=re_encode,
        workers=workers,
        log=Path(log) if log else None,
    )
    reporter = Progress(total=len(sources))
    if verbose:
        reporter.note(f"{len(sources)} sources -> {folder}")
    tally = video_run.make_clips(job, Committer.open(where, resume), reporter)
    reporter.note(tally.summary())
    return reporter.finish()
