"""Driving a filter run: score every image, decide, act (or plan), log each decision."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasety.core.atomic import atomic_write_text
from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.filtering.actions import FilterItem, apply, operation
from datasety.filtering.scorers import ClipScorer, NudeNetScorer, Scorer
from datasety.models.batching import decode_for_model, run_batches
from datasety.models.device import choose_device
from datasety.models.extras import torch_and_transformers


@dataclass(frozen=True)
class FilterSettings:
    """Everything ``datasety filter`` takes besides the files."""

    terms: tuple[str, ...]  # CLIP queries or NudeNet labels
    model: str = "clip"
    action: str = "move"
    threshold: float = 0.5
    device: str = "auto"
    invert: bool = False
    confirm: bool = False
    preserve_structure: bool = False
    output: Path | None = None
    dry_run: bool = False
    batch_size: int = 16


@dataclass
class Outcome:
    """Counts and the decision log of a run."""

    matched: int = 0
    unmatched: int = 0
    planned_deletes: int = 0
    rows: list[list[str]] = field(default_factory=list)


def needs_confirm(settings: FilterSettings) -> bool:
    """True when the action deletes files (``delete``, or ``keep`` without ``--output``)."""
    return settings.action == "delete" or (settings.action == "keep" and settings.output is None)


def build_scorer(settings: FilterSettings, progress: Progress) -> tuple[object | None, Scorer]:
    """``(torch or None, scorer)`` for ``--model``."""
    if settings.model == "nudenet":
        progress.note(f"Model nudenet: {NudeNetScorer.repo}")
        return None, NudeNetScorer(list(settings.terms))
    torch, transformers = torch_and_transformers("filter")
    device = choose_device(torch, settings.device)
    progress.note(f"Model clip on {device.describe()}")
    return torch, ClipScorer(torch, transformers, device, list(settings.terms), progress.note)


def filter_images(
    items: Sequence[FilterItem], settings: FilterSettings, progress: Progress
) -> Outcome:
    """Score, decide and act on every item; returns the counts and the log rows."""
    outcome = Outcome()
    if not items:
        return outcome
    torch, scorer = build_scorer(settings, progress)
    planning = settings.dry_run or (needs_confirm(settings) and not settings.confirm)
    min_size = scorer.min_decode_size()

    def decode(item: FilterItem) -> tuple[np.ndarray, int]:
        image, _, _ = decode_for_model(item.image, min_size)
        prepared = scorer.prepare(image)
        return prepared, prepared.nbytes

    def handle(item: FilterItem, _: np.ndarray, scores: list[float]) -> None:
        matched = (max(scores) >= settings.threshold) != settings.invert
        outcome.matched += matched
        outcome.unmatched += not matched
        shown = ", ".join(f"{t}={s:.3f}" for t, s in zip(settings.terms, scores, strict=True))
        todo = operation(settings.action, matched, settings.output)
        verdict = "match" if matched else "no match"
        if todo is None:
            done = "kept"
        elif planning:
            outcome.planned_deletes += todo == "delete"
            done = f"would {todo}"
        else:
            try:
                done = apply(todo, item, settings.output, settings.preserve_structure)
            except OSError as exc:
                progress.failed(item.name, f"cannot {todo}: {exc.strerror or exc}")
                outcome.rows.append(_row(item, scores, matched, f"failed to {todo}"))
                return
        outcome.rows.append(_row(item, scores, matched, done))
        progress.processed(item.name, f"[{verdict}] {item.name} ({shown}): {done}")

    def fail(item: FilterItem, reason: str) -> None:
        progress.failed(item.name, reason)
        outcome.rows.append([str(item.image), *([""] * len(settings.terms)), "", "failed"])

    run_batches(
        torch,
        items,
        decode=decode,
        infer=scorer.scores,
        handle=handle,
        fail=lambda item, reason: fail(item, reason),
        succeeded=lambda: progress.n_processed,
        batch_size=settings.batch_size,
        model_name=scorer.repo,
    )
    return outcome


def _row(item: FilterItem, scores: list[float], matched: bool, done: str) -> list[str]:
    return [str(item.image), *(f"{score:.4f}" for score in scores), str(matched).lower(), done]


def write_log(path: Path, terms: Sequence[str], outcome: Outcome) -> None:
    """The decision log as CSV: file, a score column per query/label, match, action."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", *(f"score:{term}" for term in terms), "match", "action"])
    writer.writerows(outcome.rows)
    try:
        atomic_write_text(path, buffer.getvalue())
    except OSError as exc:
        raise DatasetyError(f"cannot write --log {str(path)!r}: {exc.strerror or exc}") from exc
