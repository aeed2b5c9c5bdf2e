"""`datasety audio`: a TTS dataset from recordings (LJSpeech metadata.csv + wavs/, or pairs)."""

from __future__ import annotations

import click

from datasety.commands import speech_options
from datasety.commands.rules import RuledCommand
from datasety.core.inputs import require_output_dir
from datasety.core.progress import Progress


@click.command("audio", cls=RuledCommand, checks=[speech_options.DURATIONS])
@speech_options.source_and_output("Dataset folder (created if missing)")
@click.option(
    "--sample-rate",
    type=click.IntRange(min=8000, max=192000),
    default=22050,
    show_default=True,
    help="Clip sample rate (mono 16-bit PCM WAV)",
)
@click.option(
    "--metadata",
    is_flag=True,
    default=False,
    help="LJSpeech layout: wavs/ID.wav + metadata.csv rows ID|text (else ID.wav + ID.txt)",
)
@speech_options.separation()
@speech_options.recognition()
@speech_options.transcript_text()
@click.option(
    "--phoneme-map",
    type=speech_options.options.PATH,
    default=None,
    help="A voice's config.json (phoneme_id_map) or JSON object of characters: clips whose "
    "transcript uses others are skipped",
)
@click.option(
    "--keep-temp",
    type=speech_options.options.PATH,
    default=None,
    help="Also save each source's decoded audio (after --demucs) into this folder",
)
@speech_options.run_control()
def command(
    input_: str,
    output: str,
    sample_rate: int,
    metadata: bool,
    demucs: bool,
    demucs_model: str,
    whisper_model: str,
    language: str | None,
    device: str,
    vad: bool,
    min_duration: float,
    max_duration: float,
    merge_gap: float,
    normalize_numbers: bool,
    no_clean_text: bool,
    template: str | None,
    min_confidence: float,
    log: str | None,
    phoneme_map: str | None,
    keep_temp: str | None,
    resume: bool,
    overwrite: bool,
    dry_run: bool,
    verbose: bool,
    workers: int,
) -> int:
    """Cut recordings into transcribed speech clips for TTS training.

    Each source is decoded once, its speech found (--vad) and transcribed by Whisper with
    word timestamps, and cut into clips of --min-duration to --max-duration seconds that
    never split a word. Clips with no speech, clipped audio, a low-confidence transcript or
    characters outside --phoneme-map are skipped and counted; the summary gives the hours kept.
    """
    from pathlib import Path

    from datasety.speech import audio_run
    from datasety.speech.output import Committer, Layout
    from datasety.speech.runner import prepare_output
    from datasety.speech.sources import find_sources, unique_names
    from datasety.speech.text import load_phoneme_map

    folder = require_output_dir(output, "--output")
    sources = unique_names(find_sources(input_))
    where = Layout(folder, ljspeech=metadata)
    settings = speech_options.speech_settings(
        phoneme_map=load_phoneme_map(phoneme_map) if phoneme_map else None
    )
    prepare_output(where, resume, overwrite, dry_run)
    if dry_run:
        return speech_options.list_sources(sources)
    job = audio_run.AudioJob(
        sources=sources,
        layout=where,
        settings=settings,
        sample_rate=sample_rate,
        workers=workers,
        keep_temp=audio_run.keep_temp_folder(keep_temp),
        log=Path(log) if log else None,
    )
    reporter = Progress(total=len(sources))
    if verbose:
        reporter.note(f"{len(sources)} sources -> {folder} ({'LJSpeech' if metadata else 'pairs'})")
    tally = audio_run.make_dataset(job, Committer.open(where, resume), reporter)
    reporter.note(tally.summary())
    return reporter.finish()
