"""`datasety resize`: batch resize + crop to WIDTHxHEIGHT or a megapixel budget."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from datasety.commands import options
from datasety.core.errors import DatasetyError
from datasety.core.inputs import (
    parse_extensions,
    parse_resolution,
    require_dir,
    require_output_dir,
)
from datasety.resize.geometry import CROP_POSITIONS, megapixel_size, parse_aspect_ratio


@click.command("resize")
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
    help="Single output image path (use with --input-image)",
)
@click.option(
    "--resolution", "-r", default=None, help="Target resolution as WIDTHxHEIGHT (e.g. 768x1024)"
)
@click.option(
    "--megapixel",
    type=options.FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="Target size in megapixels (e.g. 0.5, 1.0), sides multiples of 8; keeps each "
    "image's own aspect ratio unless --aspect-ratio",
)
@click.option(
    "--aspect-ratio", default=None, help="Aspect ratio W:H for --megapixel (e.g. 1:1, 16:9)"
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
    "--min-resolution", default=None, help="Skip images below this resolution (e.g. 256x256)"
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
    if resolution and megapixel is not None:
        raise DatasetyError("use either --resolution or --megapixel, not both")
    if aspect_ratio and megapixel is None:
        raise DatasetyError("--aspect-ratio only applies with --megapixel")
    if resolution:
        size: tuple[int, int] | None = parse_resolution(resolution)
    elif megapixel is not None:
        size = megapixel_size(megapixel, parse_aspect_ratio(aspect_ratio)) if aspect_ratio else None
    else:
        raise DatasetyError("give a target size: --resolution WxH or --megapixel N")
    minimum = parse_resolution(min_resolution, "--min-resolution") if min_resolution else None
    extensions = parse_extensions(input_format)
    # Imported here, not at the top: every `datasety` start loads every command module, and
    # only resize needs libvips and simplejpeg.
    from datasety.core.progress import Progress
    from datasety.resize.batch import output_format_of, resize_images, resize_single
    from datasety.resize.image import ResizeSpec

    if input_image or output_image:
        if input_ or output:
            raise DatasetyError(
                "use either --input/--output (a folder) or --input-image/--output-image"
            )
        if not input_image or not output_image:
            raise DatasetyError("--input-image and --output-image go together")
        suffix_format = output_format_of(Path(output_image))
        source = click.get_current_context().get_parameter_source("output_format")
        if source is ParameterSource.COMMANDLINE and output_format != suffix_format:
            raise DatasetyError(
                f"--output-format {output_format} contradicts --output-image {output_image!r}"
            )
        output_format = suffix_format
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
    if not output:
        raise DatasetyError("--output is required (or --input-image/--output-image)")
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
