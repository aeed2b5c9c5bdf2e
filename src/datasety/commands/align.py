"""`datasety align`: make control/target pairs identical in size (and format), in place."""

from __future__ import annotations

import os

import click

from datasety.align import pairs as aligning
from datasety.commands import options
from datasety.commands.rules import Check, RuledCommand
from datasety.core.inputs import require_dir, require_output_dir
from datasety.core.progress import Progress


def _same_folder(ctx: click.Context) -> bool:
    try:
        return os.path.realpath(ctx.params["target"]) == os.path.realpath(ctx.params["control"])
    except ValueError:  # a NUL byte: the command's own checks say what is wrong with it
        return False


@click.command(
    "align",
    cls=RuledCommand,
    checks=[
        # Checked while click parses, so a job pairing a folder with itself is refused at
        # submit. Both paths resolve against the same working directory the job will have.
        Check(_same_folder, "--target and --control must be different folders", "control")
    ],
)
@click.option(
    "--target",
    "-t",
    type=options.PATH,
    required=True,
    help="Target images directory (edited in place)",
)
@click.option(
    "--control",
    "-c",
    type=options.PATH,
    required=True,
    help="Control images directory (edited in place)",
)
@click.option(
    "--multiple-of",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Both sides of every aligned image become a multiple of this",
)
@click.option(
    "--output-format",
    type=click.Choice(["jpg", "png", "webp", ""]),
    default="",
    help="Convert every image of a pair to this format (default: keep each file's format)",
)
@options.dry_run()
@options.recursive()
@options.progress()
def command(
    target: str,
    control: str,
    multiple_of: int,
    output_format: str,
    dry_run: bool,
    recursive: bool,
    progress: bool,
) -> int:
    """Make control/target pairs the same size, a multiple of N.

    Edits both folders in place. Pairs match by base name (photo.jpg with photo.png).
    The common size is the smaller of the two in each dimension, floored to --multiple-of;
    a larger image is first scaled down to cover it, then both are centre-cropped. Files
    without a partner are reported and left alone.
    """
    target_root = require_dir(target, "--target")
    control_root = require_dir(control, "--control")
    if not dry_run:
        # Pairs are edited in place: a read-only folder is one error, not one per pair.
        require_output_dir(target, "--target")
        require_output_dir(control, "--control")
    pairs, unmatched = aligning.match_pairs(target_root, control_root, recursive)
    report = Progress(total=len(pairs) + len(unmatched), bar=progress)
    for entry in unmatched:
        if entry.failed:
            report.failed(entry.item, entry.reason)
        else:
            report.skipped(entry.item, entry.reason)
    for pair in pairs:
        outcome = aligning.align_pair(pair, multiple_of, output_format, dry_run)
        if outcome.status == "failed":
            report.failed(pair.key, outcome.message)
        elif outcome.status == "skipped":
            report.skipped(pair.key, outcome.message)
        else:
            report.processed(pair.key, outcome.message)
    return report.finish()
