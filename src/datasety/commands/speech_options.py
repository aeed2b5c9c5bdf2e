"""The options ``audio`` and ``video`` share (the reference gives both the same flags), so a
flag means the same thing in both and is declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from datasety.commands import options
from datasety.commands.rules import Check

F = TypeVar("F", bound=Callable[..., Any])

DURATION = options.FiniteFloatRange(min=0.0)


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def source_and_output(output_help: str) -> Callable[[F], F]:
    return _stack(
        click.option(
            "--input",
            "-i",
            "input_",
            type=options.PATH,
            required=True,
            help="An audio or video file, a folder of them, a .txt list (one file or URL per "
            "line) or a URL (?start=S&end=S picks a range)",
        ),
        click.option(
            "--output", "-o", "output", type=options.PATH, required=True, help=output_help
        ),
    )


def separation() -> Callable[[F], F]:
    return _stack(
        click.option(
            "--demucs",
            is_flag=True,
            default=False,
            help="Isolate the vocals with Demucs before transcribing (pip install "
            "'datasety[demucs]')",
        ),
        click.option(
            "--demucs-model", default="htdemucs", show_default=True, help="Demucs model name"
        ),
    )


def recognition() -> Callable[[F], F]:
    return _stack(
        click.option(
            "--whisper-model",
            default="base",
            show_default=True,
            help="faster-whisper model: a size (tiny, base, small, medium, large-v3, turbo, "
            "distil-large-v3), a hub repository id or a folder",
        ),
        click.option(
            "--language", default=None, help="Spoken language code (en, de, ...); detected if unset"
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            help="auto, cpu or cuda: where Whisper runs (auto picks a CUDA GPU when there is one)",
        ),
        click.option(
            "--vad",
            is_flag=True,
            default=False,
            help="Transcribe only the speech Silero VAD finds (skips music and silence)",
        ),
        click.option(
            "--min-duration",
            type=DURATION,
            default=1.5,
            show_default=True,
            help="Shortest clip kept, in seconds",
        ),
        click.option(
            "--max-duration",
            type=DURATION,
            default=30.0,
            show_default=True,
            help="Longest clip, in seconds; longer speech is split between words",
        ),
        click.option(
            "--merge-gap",
            type=DURATION,
            default=0.0,
            show_default=True,
            help="Join neighbouring phrases this close (seconds) into one clip, up to "
            "--max-duration",
        ),
    )


def transcript_text() -> Callable[[F], F]:
    return _stack(
        click.option(
            "--normalize-numbers",
            is_flag=True,
            default=False,
            help='Spell out numbers in the transcript\'s language ("42" -> "forty-two")',
        ),
        click.option(
            "--no-clean-text",
            is_flag=True,
            default=False,
            help="Keep Whisper's text as it is (cleaning: plain punctuation, single spaces)",
        ),
        click.option(
            "--template",
            default=None,
            help="Wrap each transcript: {{transcript}} (or {{caption}}) marks where it goes; "
            "without one the template is prepended",
        ),
        click.option(
            "--min-confidence",
            type=options.FiniteFloatRange(min=0.0, max=1.0),
            default=0.4,
            show_default=True,
            help="Skip clips whose words Whisper gave a lower mean probability",
        ),
        click.option(
            "--log",
            type=options.PATH,
            default=None,
            help="CSV of every clip set aside and why (source, start, end, reason, text)",
        ),
    )


def run_control() -> Callable[[F], F]:
    return _stack(
        click.option(
            "--resume",
            is_flag=True,
            default=False,
            help="Skip sources an earlier run into --output finished",
        ),
        click.option(
            "--overwrite", is_flag=True, default=False, help="Remove an earlier run's clips first"
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            default=False,
            help="List the sources and their durations; load no model, write nothing",
        ),
        click.option("--verbose", "-V", is_flag=True, default=False, help="Say more as it runs"),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Sources processed at once (one Whisper shared by all)",
        ),
    )


# Checked while click parses (datasety.commands.rules): a job breaking it is refused at submit.
DURATIONS = Check(
    lambda ctx: (
        ctx.params["max_duration"] <= 0 or ctx.params["min_duration"] > ctx.params["max_duration"]
    ),
    "--min-duration must not exceed --max-duration (which must be > 0)",
    "min_duration",
)


def list_sources(sources: list[Any]) -> int:
    """``--dry-run``: each source and its length, when it is a local file; nothing written."""
    from pathlib import Path

    from datasety.media.audio import media_seconds

    print("Dry run: nothing is written")
    for source in sources:
        seconds = None if source.is_url else media_seconds(Path(source.location))
        length = f"{seconds:.1f} s" if seconds is not None else "length unknown"
        print(f"  {source.name}: {source.location} ({length})")
    print(f"{len(sources)} sources")
    return 0


def speech_settings(phoneme_map: frozenset[str] | None = None) -> Any:
    """The running command's shared options as the pipeline's ``SpeechSettings``."""
    from datasety.speech.pipeline import SpeechSettings

    params = click.get_current_context().params
    return SpeechSettings(
        whisper_model=params["whisper_model"],
        language=params["language"] or None,
        device=params["device"],
        vad=params["vad"],
        min_duration=params["min_duration"],
        max_duration=params["max_duration"],
        merge_gap=params["merge_gap"],
        normalize_numbers=params["normalize_numbers"],
        clean_text=not params["no_clean_text"],
        phoneme_map=phoneme_map,
        template=params["template"],
        min_confidence=params["min_confidence"],
        demucs=params["demucs"],
        demucs_model=params["demucs_model"],
    )
