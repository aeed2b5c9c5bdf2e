"""`datasety inspect`: a dataset report, statistics and lint findings, for people or machines."""

from __future__ import annotations

import json
from typing import Any

import click

from datasety.commands import options
from datasety.commands.rules import Check, RuledCommand
from datasety.core.humanize import human_bytes
from datasety.core.inputs import require_dir
from datasety.core.progress import format_progress_line, jsonl_requested
from datasety.inspect.report import DEFAULT_NEAR_THRESHOLD, InspectReport, inspect_dataset
from datasety.media.perceptual import HASH_BITS

TITLES = {
    "images_without_captions": "Images without captions",
    "captions_without_images": "Captions without images",
    "pairs_missing_side": "Pairs with a missing side",
    "pair_size_mismatch": "Pairs of different sizes",
    "mask_size_mismatch": "Masks of a different size than their image",
    "masks_without_image": "Masks without an image",
    "unreadable": "Unreadable or corrupt files",
    "exact_duplicates": "Exact duplicates",
    "near_duplicates": "Near duplicates",
    "metadata_rows_without_audio": "metadata.csv rows without audio",
    "audio_without_metadata_rows": "Audio without a metadata.csv row",
}


@click.command(
    "inspect",
    cls=RuledCommand,
    checks=[
        Check(
            lambda ctx: (
                bool(ctx.params["directory"] and ctx.params["input_"])
                and ctx.params["directory"] != ctx.params["input_"]
            ),
            "give the folder once: as DIRECTORY or as --input, not both",
            "input_",
        )
    ],
)
@click.argument(
    "directory",
    required=False,
    type=options.PATH,
    cls=options.DocumentedArgument,
    help="Dataset folder to inspect (or --input)",
)
@options.input_dir("Dataset folder to inspect (same as the DIRECTORY argument)")
@click.option(
    "--recursive/--no-recursive",
    "-R",
    default=True,
    show_default=True,
    help="Include subfolders (control/, target/, wavs/ ...)",
)
@click.option("--json", "as_json", is_flag=True, default=False, help="Print one JSON document")
@click.option(
    "--near-threshold",
    type=click.IntRange(0, HASH_BITS),
    default=DEFAULT_NEAR_THRESHOLD,
    show_default=True,
    help="Perceptual-hash distance (bits of 64) at which two images count as near duplicates",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Files listed per finding in the human-readable report",
)
@click.option(
    "--strict", is_flag=True, default=False, help="Exit with status 1 when there are findings"
)
@options.workers()
def command(
    directory: str | None,
    input_: str | None,
    recursive: bool,
    as_json: bool,
    near_threshold: int,
    limit: int,
    strict: bool,
    workers: int,
) -> int:
    """Report a dataset's contents and problems: counts, sizes, captions, lint findings.

    Counts files by kind, shows the resolution and aspect-ratio histograms and caption length
    statistics, and lists findings: images without captions, captions without images,
    control/target pairs with a missing side or different sizes, masks of the wrong size,
    unreadable or corrupt files, exact and near duplicates, and metadata.csv rows without
    audio (and the reverse). The exit status is 0 even with findings unless --strict.
    """
    root = require_dir(directory or input_, "DIRECTORY (or --input)")
    progress = _job_progress if jsonl_requested() else None
    report = inspect_dataset(
        root,
        recursive=recursive,
        near_threshold=near_threshold,
        workers=workers,
        on_progress=progress,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render(report, limit))
    return 1 if strict and report.finding_count else 0


def _job_progress(done: int, total: int, item: str) -> None:
    # Under a job only: the runner turns these lines into the job's progress.
    click.echo(format_progress_line(done, total, item))


def _entry_text(name: str, entry: Any) -> str:
    """One finding entry on one line."""
    if name in ("exact_duplicates", "near_duplicates"):
        return (" = " if name == "exact_duplicates" else " ~ ").join(entry)
    if name == "pairs_missing_side":
        return f"{entry['file']} (no {entry['missing']})"
    if name == "pair_size_mismatch":
        return (
            f"{entry['input']} {_size(entry['input_size'])} vs "
            f"{entry['target']} {_size(entry['target_size'])}"
        )
    if name == "mask_size_mismatch":
        return (
            f"{entry['mask']} {_size(entry['mask_size'])} vs "
            f"{entry['image']} {_size(entry['image_size'])}"
        )
    if name == "unreadable":
        return f"{entry['file']}: {entry['error']}"
    if name == "metadata_rows_without_audio":
        return f"{entry['file']}: row '{entry['id']}'"
    return str(entry)


def _size(size: list[int]) -> str:
    return f"{size[0]}x{size[1]}"


def _histogram(title: str, counts: dict[str, int], limit: int) -> list[str]:
    lines = [f"{title}:"]
    if not counts:
        return [*lines, "  none"]
    total = sum(counts.values())
    width = max(len(key) for key in list(counts)[:limit])
    for key, count in list(counts.items())[:limit]:
        lines.append(f"  {key:<{width}}  {count:>6}  {100 * count / total:5.1f}%")
    if len(counts) > limit:
        lines.append(f"  ... and {len(counts) - limit} more")
    return lines


def render(report: InspectReport, limit: int = 10) -> str:
    """The human-readable report: sections, counts, the first ``limit`` files per finding."""
    counts = report.counts
    lines = [
        f"Dataset: {report.root}" + ("" if report.recursive else " (top folder only)"),
        "Files: "
        + ", ".join(f"{counts[k]} {k}{'s' * (k in ('image', 'caption'))}" for k in counts)
        + f" ({human_bytes(report.total_bytes)})",
        "",
        *_histogram("Resolutions", report.resolutions, limit),
        "",
        *_histogram("Aspect ratios", report.aspect_ratios, limit),
        "",
    ]
    captions = report.captions
    lines.append(f"Captions: {captions['count']} ({captions['empty']} empty)")
    for unit in ("words", "chars"):
        stats = captions[unit]
        if stats:
            lines.append(
                f"  {unit}: min {stats['min']}, median {stats['median']}, "
                f"mean {stats['mean']}, max {stats['max']}"
            )
    lines += ["", f"Findings: {report.finding_count}"]
    for name, entries in report.findings.items():
        title = TITLES.get(name, name)
        if not entries:
            lines.append(f"  {title}: none")
            continue
        lines.append(f"  {title}: {len(entries)}")
        lines += [f"    {_entry_text(name, entry)}" for entry in entries[:limit]]
        if len(entries) > limit:
            lines.append(f"    ... and {len(entries) - limit} more")
    return "\n".join(lines)
