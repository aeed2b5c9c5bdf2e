"""`datasety mask`: a text-prompted segmentation mask per image (SAM 3, SAM 2, CLIPSeg)."""

from __future__ import annotations

from pathlib import Path

import click

from datasety.commands import options
from datasety.commands.rules import RuledCommand, requires
from datasety.core.inputs import require_dir, require_output_dir, written_format
from datasety.core.progress import Progress
from datasety.masking.targets import MaskTarget, directory_targets, single_target


@click.command(
    "mask",
    cls=RuledCommand,
    rules=[
        *options.single_input_rules(),
        requires(
            "output",
            "naming",
            needs_values=["folder"],
            message="--naming suffix writes beside the images; --output is for folder",
            field="output",
        ),
    ],
    checks=[options.OUTPUT_IMAGE_SUFFIX, options.OUTPUT_FORMAT_OF_SUFFIX],
)
@options.input_dir("Input directory containing images")
@options.output_dir(
    "Folder for the masks with --naming folder (default: a mask/ folder beside each image, "
    "the name the server pairs)"
)
@click.option(
    "--input-image", type=options.PATH, default=None, help="Mask one image instead of a directory"
)
@click.option(
    "--output-image",
    type=options.PATH,
    default=None,
    help="Mask file for --input-image (default: by --naming, beside the image); "
    "its suffix (.png, .jpg, .webp) sets the format",
)
@click.option(
    "--keywords",
    "-k",
    required=True,
    help="Comma-separated things to mask (e.g. 'face,hair,hat'); the mask is their union",
)
@click.option(
    "--model",
    type=click.Choice(["sam3", "sam2", "clipseg"]),
    default="sam3",
    show_default=True,
    help="sam3: facebook/sam3; sam2: facebook/sam2-hiera-large inside Grounding DINO boxes; "
    "clipseg: CIDAS/clipseg-rd64-refined (small and fast)",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where the model runs; auto picks a CUDA or Apple GPU when torch sees one",
)
@click.option(
    "--threshold",
    type=options.FiniteFloatRange(min=0.0, max=1.0),
    default=0.3,
    show_default=True,
    help="Confidence threshold: per pixel (clipseg), per instance (sam3), per box (sam2)",
)
@click.option(
    "--padding",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Grow the mask by this many pixels",
)
@click.option(
    "--blur",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Gaussian blur radius for soft mask edges (0 = sharp)",
)
@click.option("--invert", is_flag=True, default=False, help="Invert the mask (black = keywords)")
@click.option(
    "--naming",
    type=click.Choice(["folder", "suffix"]),
    default="folder",
    show_default=True,
    help="folder: mask/NAME.png (or --output/NAME.png); suffix: NAME_mask.png beside the image",
)
@click.option(
    "--output-format",
    type=click.Choice(["png", "jpg", "webp"]),
    default="png",
    show_default=True,
    help="Mask file format (webp is saved lossless)",
)
@click.option(
    "--dry-run",
    is_flag=True,
    default=False,
    help="Run the model and report each mask's coverage; write nothing",
)
@options.recursive()
@options.progress()
@click.option(
    "--skip-existing",
    is_flag=True,
    default=False,
    help="Leave images whose mask exists alone (resumes an interrupted run)",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Images per forward pass",
)
def command(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    keywords: str,
    model: str,
    device: str,
    threshold: float,
    padding: int,
    blur: int,
    invert: bool,
    naming: str,
    output_format: str,
    dry_run: bool,
    recursive: bool,
    progress: bool,
    skip_existing: bool,
    batch_size: int,
) -> int:
    """Write a mask per image of what --keywords name (white = the keywords).

    Masks are single-channel, the size of their image, named so the server pairs them with
    their image: mask/NAME.png (--naming folder) or NAME_mask.png (--naming suffix). Images
    that are themselves masks are never masked again.
    """
    from datasety.masking import run

    words = run.parse_keywords(keywords)
    if not words:
        raise click.UsageError("--keywords names nothing to mask")
    output_format = written_format(output_image, output_format)
    targets = _targets(input_, output, input_image, output_image, naming, output_format, recursive)
    reporter = Progress(total=len(targets), bar=progress)
    if dry_run:
        reporter.note("Dry run: nothing is written")
    todo = run.select_targets(targets, skip_existing, reporter)
    settings = run.MaskSettings(
        keywords=words,
        model=model,
        device=device,
        threshold=threshold,
        padding=padding,
        blur=blur,
        invert=invert,
        output_format=output_format,
        batch_size=batch_size,
        dry_run=dry_run,
    )
    run.make_masks(todo, settings, reporter)
    return reporter.finish()


def _targets(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    naming: str,
    extension: str,
    recursive: bool,
) -> list[MaskTarget]:
    if input_image:
        return [single_target(Path(input_image), _path(output_image), naming, extension)]
    input_dir = require_dir(input_, "--input")
    output_dir = require_output_dir(output, "--output") if output else None
    return directory_targets(input_dir, naming, extension, output_dir, recursive)


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None
