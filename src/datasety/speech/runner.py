"""Running a speech command over its sources: the output checked, one Whisper loaded for all,
sources run ``--workers`` at a time and committed as each finishes, the ``--log`` written."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.speech.output import Committer, Layout, Written
from datasety.speech.pipeline import SpeechSettings, Tally
from datasety.speech.sources import Source
from datasety.speech.transcribe import Transcriber

OneSource = Callable[[Source, Path, Transcriber, Tally], list[Written]]


def prepare_output(where: Layout, resume: bool, overwrite: bool, dry_run: bool) -> None:
    """Refuse to mix a new run into an old one unless told how (``--resume`` or
    ``--overwrite``), as the reference does; ``--overwrite`` clears the old clips."""
    existing = where.existing_clips()
    if existing and not resume and not overwrite:
        raise DatasetyError(
            f"{where.media_dir} already has {len(existing)} clips: "
            "use --resume to continue or --overwrite to start fresh"
        )
    if overwrite and existing and not dry_run:
        where.clear()


def run_sources(
    sources: list[Source],
    committer: Committer,
    workers: int,
    reporter: Progress,
    one: Callable[[Source, Path], list[Written]],
) -> None:
    """Run ``one`` over every unfinished source (``workers`` at a time), committing each
    source's clips as it finishes; a source that fails is reported and the rest go on."""
    todo = []
    for source in sources:
        if source.name in committer.finished:
            reporter.skipped(source.name, "finished by an earlier run (--resume)")
        else:
            todo.append(source)

    def work(source: Source) -> None:
        with tempfile.TemporaryDirectory(prefix="datasety-speech-") as temp:
            try:
                clips = one(source, Path(temp))
            except DatasetyError as exc:
                if len(sources) == 1:
                    raise  # the run's only source: its failure is the command's one line
                reporter.failed(source.name, str(exc))
                return
            committer.commit(source.name, clips)
            seconds = sum(c.seconds for c in clips)
            reporter.processed(source.name, f"{source.name}: {len(clips)} clips, {seconds:.1f} s")

    if workers <= 1 or len(todo) < 2:
        for source in todo:
            work(source)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source") as pool:
        for _ in pool.map(work, todo):
            pass


def run_with_whisper(
    sources: list[Source],
    settings: SpeechSettings,
    workers: int,
    log: Path | None,
    committer: Committer,
    reporter: Progress,
    one: OneSource,
) -> Tally:
    """``one`` over every source with one shared Whisper; the tally of kept and skipped clips."""
    tally = Tally()
    transcriber = Transcriber(settings.whisper_model, settings.device, workers)

    def each(source: Source, temp: Path) -> list[Written]:
        return one(source, temp, transcriber, tally)

    run_sources(sources, committer, workers, reporter, each)
    if log is not None:
        tally.write_log(log)
    return tally
