"""`datasety filter`: move, copy, delete or keep images by CLIP queries or NudeNet labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datasety.commands import options
from datasety.commands.rules import RuledCommand, not_together, one_of, requires
from datasety.core.errors import DatasetyError
from datasety.core.inputs import find_images, require_dir, require_output_dir
from datasety.core.progress import Progress
from datasety.filtering.actions import FilterItem


@click.command(
    "filter",
    cls=RuledCommand,
    rules=[
        not_together(
            "query", "labels", message="use --query (CLIP) or --labels (NudeNet), not both"
        ),
        one_of("query", "labels", message="--query or --labels is required"),
        requires(
            "labels",
            "model",
            needs_values=["nudenet"],
            message="--labels goes with --model nudenet",
            field="labels",
        ),
        requires(
            "query",
            "model",
            needs_values=["clip"],
            message="--query goes with --model clip; NudeNet takes --labels",
            field="query",
        ),
        *(
            requires("action", "output", when=[action], message=f"--action {action} needs --output")
            for action in ("move", "copy")
        ),
    ],
)
@click.option(
    "--input", "-i", "input_", type=options.PATH, required=True, help="Folder of images to filter"
)
@options.output_dir("Where matching images go (move/copy), or the rejects go with --action keep")
@click.option(
    "--query",
    "-q",
    default=None,
    help="Comma-separated CLIP text queries (e.g. 'blurry photo,watermark'); an image matches "
    "when its best query scores at least --threshold",
)
@click.option(
    "--labels",
    "-l",
    default=None,
    help="Comma-separated NudeNet labels (e.g. 'FEMALE_BREAST_EXPOSED,ANUS_EXPOSED'), with "
    "--model nudenet",
)
@click.option(
    "--model",
    type=click.Choice(["clip", "nudenet"]),
    default="clip",
    show_default=True,
    help="clip: openai/clip-vit-base-patch32 with --query; nudenet: its shipped detector with "
    "--labels",
)
@click.option(
    "--action",
    type=click.Choice(["move", "copy", "delete", "keep"]),
    default="move",
    show_default=True,
    help="What happens to matches (keep: matches stay, the others are moved to --output or "
    "deleted); captions go with their image",
)
@click.option(
    "--threshold",
    type=options.FiniteFloatRange(min=0.0, max=1.0),
    default=0.5,
    show_default=True,
    help="Score at which an image matches (CLIP: sigmoid of the similarity logit / 100; "
    "NudeNet: detection confidence)",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where CLIP runs; auto picks a CUDA or Apple GPU when torch sees one",
)
@click.option("--invert", is_flag=True, default=False, help="Act on the images that do NOT match")
@click.option(
    "--confirm",
    is_flag=True,
    default=False,
    help="Really delete (--action delete, or keep without --output); without it the run only "
    "lists what it would delete and exits non-zero",
)
@click.option(
    "--preserve-structure",
    is_flag=True,
    default=False,
    help="Keep subfolders under --output (with --recursive); otherwise files land flat",
)
@click.option(
    "--log",
    type=options.PATH,
    default=None,
    help="Write every decision to this CSV: file, a score per query/label, match, action",
)
@options.progress()
@click.option(
    "--dry-run",
    is_flag=True,
    default=False,
    help="Score and report each decision; change no file",
)
@options.recursive()
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Images per forward pass",
)
def command(
    input_: str,
    output: str | None,
    query: str | None,
    labels: str | None,
    model: str,
    action: str,
    threshold: float,
    device: str,
    invert: bool,
    confirm: bool,
    preserve_structure: bool,
    log: str | None,
    progress: bool,
    dry_run: bool,
    recursive: bool,
    batch_size: int,
) -> int:
    """Sort images by content: CLIP text queries or NudeNet labels above --threshold.

    Destructive actions (delete; keep without --output) need --confirm: without it the run
    scores everything, lists what it would delete and exits non-zero.
    """
    from datasety.filtering import run

    terms = _terms(query, labels)
    input_dir = require_dir(input_, "--input")
    output_dir = require_output_dir(output, "--output") if output else None
    items = _items(input_dir, output_dir, recursive)
    settings = run.FilterSettings(
        terms=terms,
        model=model,
        action=action,
        threshold=threshold,
        device=device,
        invert=invert,
        confirm=confirm,
        preserve_structure=preserve_structure,
        output=output_dir,
        dry_run=dry_run,
        batch_size=batch_size,
    )
    reporter = Progress(total=len(items), bar=progress)
    if dry_run:
        reporter.note("Dry run: no file is changed")
    outcome = run.filter_images(items, settings, reporter)
    if log:
        run.write_log(Path(log), terms, outcome)
    reporter.note(f"Matched: {outcome.matched}, not matched: {outcome.unmatched}")
    code = reporter.finish()
    if outcome.planned_deletes and not dry_run:
        raise DatasetyError(
            f"--action {action} would delete {outcome.planned_deletes} image(s) (listed above); "
            "nothing was deleted: add --confirm to delete them"
        )
    return code


def uses_accelerator(params: dict[str, Any]) -> bool:
    """CLIP runs on a GPU unless --device cpu; NudeNet's ONNX detector runs on the CPU."""
    return params.get("model") != "nudenet" and params.get("device") != "cpu"


def _terms(query: str | None, labels: str | None) -> tuple[str, ...]:
    terms = tuple(term.strip() for term in (query or labels or "").split(",") if term.strip())
    if not terms:
        raise click.UsageError("--query/--labels names nothing to look for")
    return terms


def _items(input_dir: Path, output_dir: Path | None, recursive: bool) -> list[FilterItem]:
    items = []
    for image in find_images(input_dir, recursive):
        if output_dir is not None and image.resolve().is_relative_to(output_dir.resolve()):
            continue  # an --output inside --input: its files are results, not input
        items.append(FilterItem(image, image.relative_to(input_dir).as_posix()))
    return items
