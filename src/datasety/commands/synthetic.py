"""`datasety synthetic`: edit every image with a prompt, writing control/target pairs."""

from __future__ import annotations

from pathlib import Path

import click

from datasety.commands import generation_options as gen
from datasety.commands import options
from datasety.commands.rules import RuledCommand, requires
from datasety.core.inputs import require_dir, require_output_dir, written_format
from datasety.core.progress import Progress
from datasety.generation.pairs import EditTarget, directory_targets, single_target

uses_accelerator = gen.uses_accelerator


@click.command(
    "synthetic",
    cls=RuledCommand,
    rules=[
        *options.single_input_rules(),
        requires(
            "input_",
            "output",
            message="--output is required with --input (it gets control/ and target/)",
        ),
    ],
    checks=[options.OUTPUT_IMAGE_SUFFIX, options.OUTPUT_FORMAT_OF_SUFFIX],
)
@options.input_dir("Input directory containing the source images")
@options.output_dir(
    "Output directory: control/NAME.EXT (the source), target/NAME.EXT (the edit) and NAME.txt "
    "(the prompt), the pairs the server groups with ?group=true"
)
@click.option("--input-image", type=options.PATH, default=None, help="Edit one image")
@click.option(
    "--output-image",
    type=options.PATH,
    default=None,
    help="File for --input-image's edit (default: NAME_target.EXT beside it); "
    "its suffix (.png, .jpg, .webp) sets the format",
)
@click.option("--prompt", "-p", required=True, help="The edit instruction (also each caption)")
@gen.model()
@click.option(
    "--weights",
    type=options.PATH,
    default=None,
    help="A local .safetensors of diffusers-named tensors (bare, or under model.diffusion_model./"
    "transformer./unet. and vae.) loaded into the pipeline's transformer/UNet and VAE",
)
@click.option(
    "--cpu-offload",
    is_flag=True,
    default=False,
    help="Keep each model on the CPU until it runs (less GPU memory, slower)",
)
@click.option("--steps", type=click.IntRange(min=1), default=4, show_default=True, help="Steps")
@click.option(
    "--cfg-scale",
    type=options.FiniteFloatRange(min=0.0),
    default=2.5,
    show_default=True,
    help="Guidance scale",
)
@click.option(
    "--true-cfg-scale",
    type=options.FiniteFloatRange(min=0.0),
    default=4.0,
    show_default=True,
    help="True classifier-free guidance with --negative-prompt (Qwen-Image-Edit)",
)
@click.option(
    "--negative-prompt",
    default=" ",
    show_default=True,
    help="What to steer away from (Qwen-Image-Edit, SDXL)",
)
@click.option(
    "--num-images",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Edits per source; above 1 each is its own pair NAME_k",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=None,
    help="Seed: same seed, same bytes on the same device (variant k uses seed+k-1)",
)
@click.option(
    "--lora",
    "loras",
    type=options.TextOrPath(),
    multiple=True,
    help="LoRA to apply, path.safetensors[:scale] or a cached repo id[:scale] (repeatable)",
)
@click.option(
    "--strength",
    type=options.FiniteFloatRange(min=0.0, max=1.0),
    default=0.7,
    show_default=True,
    help="How far the edit may move from the source (SDXL img2img)",
)
@gen.output_format()
@options.recursive()
@click.option(
    "--dry-run", is_flag=True, default=False, help="List the files each source would make"
)
@gen.image_api()
@options.progress()
@click.option(
    "--batch-size",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Sources per pipeline call (SDXL img2img); 0 = the largest that fits on a GPU, "
    "1 on the CPU",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    default=False,
    help="Leave sources whose outputs exist alone (resumes an interrupted run)",
)
def command(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    prompt: str,
    model: str,
    family: str,
    gguf: str | None,
    device: str,
    weights: str | None,
    cpu_offload: bool,
    steps: int,
    cfg_scale: float,
    true_cfg_scale: float,
    negative_prompt: str,
    num_images: int,
    seed: int | None,
    loras: tuple[str, ...],
    strength: float,
    output_format: str,
    recursive: bool,
    dry_run: bool,
    image_api: bool,
    api_aspect_ratio: str | None,
    api_image_size: str | None,
    concurrency: int,
    max_retries: int,
    progress: bool,
    batch_size: int,
    skip_existing: bool,
) -> int:
    """Edit every image with --prompt (FLUX.2-klein, Qwen-Image-Edit, SDXL img2img, or an
    OpenAI-compatible image API), writing training pairs for image-edit models.

    --output gets control/NAME.EXT (the source, copied), target/NAME.EXT (the edit) and
    NAME.txt (the prompt): the server's ?group=true pairs them as they are. With
    --num-images N each edit is its own pair, NAME_1 ... NAME_N. The pipeline family comes
    from the model (FLUX.2-klein by default); the model loads once, from the local Hugging
    Face cache when it is there.
    """
    from datasety.generation import synthetic

    if not prompt.strip():
        raise click.UsageError("--prompt is empty")
    output_format = written_format(output_image, output_format)
    targets = _targets(
        input_, output, input_image, output_image, num_images, output_format, recursive
    )
    reporter = Progress(total=len(targets), bar=progress)
    settings = synthetic.EditSettings(
        prompt=prompt,
        steps=steps,
        cfg_scale=cfg_scale,
        true_cfg_scale=true_cfg_scale,
        negative_prompt=negative_prompt,
        num_images=num_images,
        seed=seed,
        strength=strength,
        output_format=output_format,
        batch_size=batch_size,
    )
    todo = synthetic.select_targets(targets, skip_existing, reporter)
    if dry_run:
        reporter.note("Dry run: nothing is written")
        synthetic.describe_plan(todo, reporter)
    elif image_api:
        from datasety.generation.image_api import settings_from_flags

        api_settings = settings_from_flags(
            model, api_aspect_ratio, api_image_size, seed, max_retries
        )
        synthetic.edit_via_api(todo, settings, api_settings, concurrency, reporter)
    else:
        from datasety.generation.pipelines import PipelineSettings

        pipeline = PipelineSettings(
            model=model,
            family=family,
            device=device,
            weights=weights,
            gguf=gguf,
            loras=loras,
            cpu_offload=cpu_offload,
        )
        synthetic.edit_locally(todo, settings, pipeline, reporter)
    return reporter.finish()


def _targets(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_image: str | None,
    num_images: int,
    extension: str,
    recursive: bool,
) -> list[EditTarget]:
    if input_image:
        return [single_target(Path(input_image), _path(output_image), num_images, extension)]
    input_dir = require_dir(input_, "--input")
    output_dir = require_output_dir(output, "--output")
    return directory_targets(input_dir, output_dir, num_images, extension, recursive)


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None
