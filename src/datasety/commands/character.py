"""`datasety character`: an LLM writes varied prompts for a character; a pipeline renders them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from datasety.commands import generation_options as gen
from datasety.commands import options
from datasety.core.errors import DatasetyError
from datasety.core.inputs import require_output_dir
from datasety.core.progress import Progress

if TYPE_CHECKING:
    from datasety.generation.prompts import PromptWriter

uses_accelerator = gen.uses_accelerator


@click.command("character")
@click.option(
    "--reference",
    "-r",
    "references",
    type=options.PATH,
    multiple=True,
    help="Image of the character, shown to the LLM with --llm-api (repeat for several)",
)
@click.option(
    "--output",
    "-o",
    type=options.PATH,
    required=True,
    help="Output folder: 0001.png + 0001.txt (its prompt) ..., and prompts.txt",
)
@click.option(
    "--num-images",
    "-n",
    type=click.IntRange(min=1, max=10000),
    default=10,
    show_default=True,
    help="Prompts to write (and images to render)",
)
@gen.model()
@click.option(
    "--llm-api",
    is_flag=True,
    default=False,
    help="Prompts from an OpenAI-compatible chat API (OPENAI_BASE_URL, OPENAI_API_KEY, "
    "OPENAI_MODEL)",
)
@click.option(
    "--llm-ollama",
    default=None,
    help="Prompts from this Ollama model, through Ollama's OpenAI-compatible API (OLLAMA_HOST)",
)
@click.option(
    "--llm-gguf",
    type=options.PATH,
    default=None,
    help="Prompts from a local GGUF model file (needs llama-cpp-python)",
)
@click.option(
    "--llm-model",
    default=None,
    help="Prompts from a local transformers text-generation model (repo id or folder)",
)
@click.option("--character-description", default=None, help="Who the character is")
@click.option("--style", default=None, help="The visual style of every image")
@click.option(
    "--prompts-only", is_flag=True, default=False, help="Write prompts.txt; render nothing"
)
@click.option(
    "--prompts-file",
    type=options.PATH,
    default=None,
    help="Render these prompts (one a line) instead of asking an LLM",
)
@click.option("--steps", type=click.IntRange(min=1), default=4, show_default=True, help="Steps")
@click.option(
    "--cfg-scale",
    type=options.FiniteFloatRange(min=0.0),
    default=4.0,
    show_default=True,
    help="Guidance scale",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=None,
    help="Seed: image k uses seed+k-1 (same seed, same bytes on the same device)",
)
@click.option(
    "--height", type=click.IntRange(min=64, max=8192), default=1024, show_default=True,
    help="Image height",
)  # fmt: skip
@click.option(
    "--width", type=click.IntRange(min=64, max=8192), default=1024, show_default=True,
    help="Image width",
)  # fmt: skip
@gen.output_format()
@click.option(
    "--dry-run",
    is_flag=True,
    default=False,
    help="Show the prompts (from --prompts-file) and the files they would make; call no "
    "LLM and write nothing",
)
@gen.image_api()
@click.option(
    "--batch-size",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Prompts per pipeline call; 0 = the largest that fits on a GPU, 1 on the CPU",
)
@options.progress()
def command(
    references: tuple[str, ...],
    output: str,
    num_images: int,
    model: str,
    family: str,
    gguf: str | None,
    device: str,
    llm_api: bool,
    llm_ollama: str | None,
    llm_gguf: str | None,
    llm_model: str | None,
    character_description: str | None,
    style: str | None,
    prompts_only: bool,
    prompts_file: str | None,
    steps: int,
    cfg_scale: float,
    seed: int | None,
    height: int,
    width: int,
    output_format: str,
    dry_run: bool,
    image_api: bool,
    api_aspect_ratio: str | None,
    api_image_size: str | None,
    concurrency: int,
    max_retries: int,
    batch_size: int,
    progress: bool,
) -> int:
    """Make a character dataset: an LLM writes --num-images varied prompts from
    --character-description, --style and --reference images, then a text-to-image pipeline
    (FLUX.2-klein by default) or --image-api renders each into NNNN.png with its prompt as
    NNNN.txt. --prompts-only stops after prompts.txt; --prompts-file skips the LLM.
    """
    from datasety.generation import character, prompts

    output_dir = require_output_dir(output, "--output")
    reference_paths = [Path(path) for path in references]
    for path in reference_paths:
        if not path.is_file():
            raise DatasetyError(f"--reference {str(path)!r} is not a file")
    if prompts_file:
        lines = prompts.read_prompts_file(Path(prompts_file))
        click.echo(f"Loaded {len(lines)} prompts from {prompts_file}")
    elif dry_run:
        writer = prompts.prompt_writer(llm_api, llm_ollama, llm_model, llm_gguf, device, click.echo)
        click.echo(f"Dry run: would ask {type(writer).__name__} for {num_images} prompts")
        lines = []
    else:
        writer = prompts.prompt_writer(llm_api, llm_ollama, llm_model, llm_gguf, device, click.echo)
        ask = prompts.user_prompt(character_description, style, num_images, len(reference_paths))
        lines = _ask(writer, ask, num_images, reference_paths)
    shots = character.plan_shots(lines, output_dir, output_format)
    if prompts_only or dry_run:
        for shot in shots:
            click.echo(f"  {shot.number}. {shot.prompt}")
        if dry_run:
            click.echo(f"Dry run: {len(shots)} images would be written to {output_dir}")
        else:
            path = character.write_prompts_file(output_dir, lines)
            click.echo(f"Prompts saved to {path}")
        return 0
    character.write_prompts_file(output_dir, lines)
    reporter = Progress(total=len(shots), bar=progress)
    settings = character.RenderSettings(
        steps=steps,
        cfg_scale=cfg_scale,
        seed=seed,
        height=height,
        width=width,
        output_format=output_format,
        batch_size=batch_size,
    )
    if image_api:
        from datasety.generation.image_api import settings_from_flags

        api_settings = settings_from_flags(
            model, api_aspect_ratio, api_image_size, seed, max_retries
        )
        character.render_via_api(shots, settings, api_settings, concurrency, reporter)
    else:
        from datasety.generation.pipelines import PipelineSettings

        pipeline = PipelineSettings(
            model=model, family=family, device=device, gguf=gguf, text_to_image=True
        )
        character.render_locally(shots, settings, pipeline, reporter)
    return reporter.finish()


def _ask(writer: PromptWriter, ask: str, count: int, references: list[Path]) -> list[str]:
    """The LLM's prompts, at most ``count`` (thinking models may write more)."""
    from datasety.generation.prompts import SYSTEM_PROMPT, parse_prompts

    click.echo(f"Asking the LLM for {count} prompts ...")
    text = writer.write(SYSTEM_PROMPT, ask, references)
    lines = parse_prompts(text)[:count]
    if not lines:
        raise DatasetyError(f"the LLM wrote no prompts (it answered {text[:120]!r})")
    if len(lines) < count:
        click.echo(f"The LLM wrote {len(lines)} prompts of the {count} asked for")
    click.echo(f"Generated {len(lines)} prompts")
    return lines
