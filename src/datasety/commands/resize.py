"""`datasety resize`: batch resize + crop to WIDTHxHEIGHT or a megapixel budget."""

from __future__ import annotations

from pathlib import Path

import click

from datasety.commands import options
from datasety.commands.rules import RuledCommand, not_together, one_of, requires
from datasety.core.inputs import (
    parse_extensions,
    parse_resolution,
    require_dir,
    require_output_dir,
    written_format,
)
from datasety.resize.geometry import CROP_POSITIONS, megapixel_size, parse_aspect_ratio

# A folder run (--input/--output) or a one-image run (--input-image/--output-image), never a mix.
_MODES = "use either --input/--output (a folder) or --input-image/--output-image"
RESOLUTION = options.PatternText(
    r"\s*\d+\s*[xX×]\s*\d+\s*",
    "WIDTHxHEIGHT (e.g. 768x1024)",
    lambda text: parse_resolution(text, "the resolution"),
)
ASPECT_RATIO = options.PatternText(
    r"\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?\s*",
    "W:H (e.g. 16:9)",
    lambda text: parse_aspect_ratio(text, "the aspect ratio"),
)


@click.command(
    "resize",
    cls=RuledCommand,
    rules=[
        not_together(
            "resolution", "megapixel", message="use either --resolution or --megapixel, not both"
        ),
        requires(
            "aspect_ratio",
            "megapixel",
            message="--aspect-ratio only applies with --megapixel",
            field="aspect_ratio",
        ),
        one_of(
            "resolution",
            "megapixel",
            message="give a target size: --resolution WxH or --megapixel N",
        ),
        *(
            not_together(folder, single, message=_MODES)
            for folder in ("input_", "output")
            for single in ("input_image", "output_image")
        ),
        *(
            requires(a, b, message="--input-image and --output-image go together")
            for a, b in (("input_image", "output_image"), ("output_image", "input_image"))
        ),
        one_of("input_", "input_image", message="--input or --input-image is required"),
        requires(
            "input_", "output", message="--output is required (or --input-image/--output-image)"
        ),
    ],
    checks=[options.OUTPUT_IMAGE_SUFFIX, options.OUTPUT_FORMAT_OF_SUFFIX],
)
@options.input_dir()
@options.output_dir()
@click.option(
    "--input-image",
    type=options.PATH,
    default=None,
    help="Single input image path (instead of --input)",
)
@click.option(
    "--output-image",
    type=options.PATH,
    default=None,
    help="Single output image path (use with --input-image); "
    "its suffix (.png, .jpg, .webp) sets the format",
)
@click.option(
    "--resolution",
    "-r",
    type=RESOLUTION,
    default=None,
    help="Target resolution as WIDTHxHEIGHT (e.g. 768x1024)",
)
@click.option(
    "--megapixel",
    type=options.FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="Target size in megapixels (e.g. 0.5, 1.0), sides multiples of 8; keeps each "
    "image's own aspect ratio unless --aspect-ratio",
)
@click.option(
    "--aspect-ratio",
    type=ASPECT_RATIO,
    default=None,
    help="Aspect ratio W:H for --megapixel (e.g. 1:1, 16:9)",
)
@click.option(
    "--crop-position",
    type=click.Choice(CROP_POSITIONS),
    default="center",
    show_default=True,
    help="Which part of the image to keep when cropping",
)
@click.option(
    "--input-format",
    default="jpg,jpeg,png,webp",
    show_default=True,
    help="Comma-separated input formats",
)
@click.option(
    "--output-format",
    type=click.Choice(["jpg", "png", "webp"]),
    default="jpg",
    show_default=True,
    help="Output image format",
)
@click.option(
    "--output-name-numbers",
    is_flag=True,
    default=False,
    help="Name outputs 1.jpg, 2.jpg, ... in sorted input order",
)
@options.recursive()
@click.option(
    "--upscale",
    is_flag=True,
    default=False,
    help="Upscale images smaller than the target instead of skipping them",
)
@click.option(
    "--min-resolution",
    type=RESOLUTION,
    default=None,
    help="Skip images below this resolution (e.g. 256x256)",
)
@options.captions()
@options.workers()
@options.progress()
@options.dry_run()
def command(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    resolution: str | None,
    megapixel: float | None,
    aspect_ratio: str | None,
    crop_position: str,
    input_format: str,
    output_format: str,
    output_name_numbers: bool,
    recursive: bool,
    upscale: bool,
    min_resolution: str | None,
    captions: bool,
    workers: int,
    progress: bool,
    dry_run: bool,
) -> int:
    """Resize and crop images to an exact size or a megapixel budget.

    Each image is scaled (Lanczos) until it covers the target, then cropped to it, keeping the
    --crop-position region. Images smaller than the target on both sides are skipped unless
    --upscale. EXIF orientation is applied. Uses every core unless --workers says otherwise.
    Each image's .txt caption is copied beside its output, renamed with it (--no-captions).
    """
    # The command's rules make sure of one target size and of one mode's input and output.
    size = parse_resolution(resolution) if resolution else None
    if megapixel is not None and aspect_ratio:
        size = megapixel_size(megapixel, parse_aspect_ratio(aspect_ratio))
    minimum = parse_resolution(min_resolution, "--min-resolution") if min_resolution else None
    extensions = parse_extensions(input_format)
    # Imported here, not at the top: every `datasety` start loads every command module, and
    # only resize needs libvips and simplejpeg.
    from datasety.core.progress import Progress
    from datasety.resize.batch import resize_images, resize_single
    from datasety.resize.image import ResizeSpec

    output_format = written_format(output_image, output_format)
    if input_image and output_image:
        require_output_dir(str(Path(output_image).parent), "the folder of --output-image")
    spec = ResizeSpec(
        size=size,
        megapixel=megapixel,
        crop=crop_position,
        upscale=upscale,
        min_size=minimum,
        output_format=output_format,
        dry_run=dry_run,
        captions=captions,
    )
    if input_image and output_image:
        report = Progress(total=1, bar=progress)
        return resize_single(Path(input_image), Path(output_image), spec, report)
    src_dir = require_dir(input_, "--input")
    return resize_images(
        src_dir,
        require_output_dir(output, "--output"),
        spec,
        extensions=extensions,
        recursive=recursive,
        name_numbers=output_name_numbers,
        workers=workers,
        bar=progress,
    )
