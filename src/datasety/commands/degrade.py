"""`datasety degrade`: degraded copies of images for restoration and upscaler training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from click.core import ParameterSource

from datasety.commands import options
from datasety.commands.rules import Check, RuledCommand, not_together, one_of, requires
from datasety.core.errors import DatasetyError
from datasety.core.inputs import require_dir, require_output_dir, written_format
from datasety.core.progress import Progress
from datasety.core.randomness import fresh_seed
from datasety.degrade import batch as degrading
from datasety.degrade import degradations


@click.command(
    "degrade",
    cls=RuledCommand,
    rules=[
        not_together(
            "input_", "input_image", message="use either --input or --input-image, not both"
        ),
        requires(
            "input_image",
            "output_image",
            "output",
            message="--input-image needs --output-image (or an --output folder)",
        ),
        requires(
            "output_image",
            "input_image",
            message="--output-image needs --input-image",
            field="output_image",
        ),
        one_of("input_", "input_image", message="--input or --input-image is required"),
        requires("input_", "output", message="--output is required with --input"),
    ],
    checks=[
        options.OUTPUT_IMAGE_SUFFIX,
        options.OUTPUT_FORMAT_OF_SUFFIX,
        Check(
            lambda ctx: (
                ctx.params["intensity_range"] is not None
                and ctx.get_parameter_source("intensity") is ParameterSource.COMMANDLINE
            ),
            "use either --intensity or --intensity-range, not both",
            "intensity_range",
        ),
    ],
)
@options.input_dir()
@options.output_dir("Output directory for degraded images")
@click.option(
    "--input-image", type=options.PATH, default=None, help="Single input image (instead of --input)"
)
@click.option(
    "--output-image",
    type=options.PATH,
    default=None,
    help="Output file for --input-image; its suffix (.png, .jpg, .webp) sets the format",
)
@click.option(
    "--type",
    "-t",
    "types",
    type=click.Choice(degradations.TYPE_CHOICES),
    multiple=True,
    help="Degradation type; repeat for several: each output gets one of them at random, "
    "or all in order with --chain. Default: random",
)
@click.option(
    "--intensity",
    type=options.FiniteFloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Strength from 0 (mild) to 1 (severe)",
)
@click.option(
    "--intensity-range",
    default=None,
    help="MIN,MAX: draw each step's intensity uniformly from this range (instead of --intensity)",
)
@click.option("--chain", is_flag=True, help="Apply all --type values in sequence to one output")
@click.option(
    "--num-variants",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Degraded variants per image and type, each with fresh random choices",
)
@click.option(
    "--paired",
    is_flag=True,
    help="Write control/ (degraded) and target/ (original) with the same names",
)
@click.option(
    "--seed", type=int, default=None, help="Random seed: the same seed gives the same bytes"
)
@click.option(
    "--output-format",
    type=click.Choice(["png", "jpg", "webp"]),
    default="png",
    show_default=True,
    help="Output image format",
)
@options.recursive()
@options.captions()
@options.workers()
@options.progress()
@click.option("--skip-existing", is_flag=True, help="Skip images whose outputs all exist")
@options.dry_run()
@click.pass_context
def command(
    ctx: click.Context,
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    types: tuple[str, ...],
    intensity: float,
    intensity_range: str | None,
    chain: bool,
    num_variants: int,
    paired: bool,
    seed: int | None,
    output_format: str,
    recursive: bool,
    captions: bool,
    workers: int,
    progress: bool,
    skip_existing: bool,
    dry_run: bool,
) -> int:
    """Make degraded copies of images for restoration training.

    Types: lowres, oversharpen, noise, blur, jpeg, motion-blur, pixelate, color-bands,
    upscale-sim, or random (one of the others per output). Outputs keep the input's size.
    Each image gives NAME.EXT (several types: one of them at random per output, or all in
    order with --chain), and --num-variants N numbers them NAME_1.EXT .. NAME_N.EXT.
    Each image's .txt caption is copied beside every output (both sides with --paired),
    renamed with it (--no-captions).
    """
    value_range = None
    if intensity_range is not None:
        value_range = degrading.parse_intensity_range(intensity_range)
    settings = degrading.Settings(
        types=types or (degradations.RANDOM,),
        chain=chain,
        intensity=intensity,
        intensity_range=value_range,
        num_variants=num_variants,
        paired=paired,
        seed=fresh_seed() if seed is None else seed,
        output_format=output_format,
        dry_run=dry_run,
        captions=captions,
    )
    planned = _plan(input_, output, input_image, output_image, settings, recursive)
    return run(planned, workers=workers, skip_existing=skip_existing, bar=progress)


def _plan(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    settings: degrading.Settings,
    recursive: bool,
) -> list[degrading.Planned]:
    """Check the input/output flags of either mode and plan the batch."""
    if input_image:
        source = Path(input_image)
        if not source.is_file():
            raise DatasetyError(f"--input-image {input_image!r} does not exist or is not a file")
        if output_image:
            target = Path(output_image)
            settings = dataclasses.replace(
                settings, output_format=written_format(target, settings.output_format)
            )
            require_output_dir(str(target.parent), "the folder of --output-image")
            return degrading.plan_single(
                source, target.parent, target.stem, settings, target.suffix
            )
        # The command's rules ask for --output-image or --output (and --output with --input).
        output_root = require_output_dir(output, "--output")
        return degrading.plan_single(source, output_root, source.stem, settings)
    input_root = require_dir(input_, "--input")
    return degrading.plan_batch(
        input_root, require_output_dir(output, "--output"), settings, recursive
    )


def run(planned: list[degrading.Planned], *, workers: int, skip_existing: bool, bar: bool) -> int:
    """Report refusals and skips, run the rest, and return the batch's exit code."""
    report = Progress(total=len(planned), bar=bar)
    jobs = []
    for entry in planned:
        if entry.reason is not None:
            report.failed(entry.job.item, entry.reason)
        elif skip_existing and degrading.outputs_exist(entry.job):
            report.skipped(entry.job.item, "outputs exist")
        else:
            jobs.append(entry.job)
    for job, result in degrading.run_jobs(jobs, workers):
        if result.error is not None:
            report.failed(job.item, result.error)
        else:
            report.processed(job.item, result.message)
    return report.finish()
