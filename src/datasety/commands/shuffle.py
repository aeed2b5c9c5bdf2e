"""`datasety shuffle`: a caption per image from one random variant of every group."""

from __future__ import annotations

from pathlib import Path

import click

from datasety.commands import options
from datasety.core.atomic import atomic_write_text
from datasety.core.inputs import find_images, require_dir, require_output_dir
from datasety.core.progress import Progress
from datasety.core.randomness import fresh_seed
from datasety.shuffle import variants as shuffling


@click.command("shuffle")
@click.option(
    "--input",
    "-i",
    "input_",
    type=options.PATH,
    required=True,
    help="Input directory containing images",
)
@click.option(
    "--output",
    "-o",
    type=options.PATH,
    required=True,
    help="Output directory for the .txt captions",
)
@click.option(
    "--group",
    "-g",
    "groups",
    type=options.TextOrPath(),
    multiple=True,
    help="Variants to pick from: inline 'a|b|c', a .txt file (one per line) or an http(s) "
    "URL; repeat for several groups, joined in order",
)
@click.option(
    "--separator",
    default=" ",
    show_default="a space",
    help="Text between the picks of consecutive groups",
)
@click.option(
    "--seed", type=int, default=None, help="Random seed: the same seed, the same captions"
)
@options.dry_run()
@click.option("--show-distribution", is_flag=True, help="Print how often each variant was picked")
@options.recursive()
@options.progress()
def command(
    input_: str,
    output: str,
    groups: tuple[str, ...],
    separator: str,
    seed: int | None,
    dry_run: bool,
    show_distribution: bool,
    recursive: bool,
    progress: bool,
) -> int:
    """Caption each image with one random variant per --group.

    Writes OUTPUT/<image name>.txt for every image (subfolders kept with --recursive);
    --dry-run prints the captions instead.
    """
    input_root = require_dir(input_, "--input")
    variants = shuffling.load_groups(groups)
    output_root = require_output_dir(output, "--output")
    images = find_images(input_root, recursive=recursive)
    base_seed = fresh_seed() if seed is None else seed
    counts = [[0] * len(group) for group in variants]
    written: dict[Path, str] = {}
    report = Progress(total=len(images), bar=progress)
    for image in images:
        item = image.relative_to(input_root).as_posix()
        destination = output_root / image.relative_to(input_root).with_suffix(".txt")
        if destination in written:
            report.skipped(
                item, f"{destination.name} is already the caption of {written[destination]}"
            )
            continue
        written[destination] = item
        picks = shuffling.pick(variants, base_seed, item)
        for group_counts, index in zip(counts, picks, strict=True):
            group_counts[index] += 1
        text = shuffling.caption(variants, picks, separator)
        if dry_run:
            report.processed(item, f"{item} -> {text}")
            continue
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(destination, text, fsync=False)
        except OSError as exc:
            report.failed(item, f"cannot write {destination}: {exc.strerror or exc}")
            continue
        report.processed(item, f"{item} -> {destination.name}")
    if show_distribution:
        for line in shuffling.distribution_lines(variants, counts):
            report.note(line)
    return report.finish()
