"""`datasety caption`: one .txt caption per image, from a local model or a vision API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datasety.captioning.targets import CaptionTarget, directory_targets, single_target
from datasety.commands import options
from datasety.commands.rules import RuledCommand, not_together
from datasety.core.inputs import require_dir, require_output_dir
from datasety.core.progress import Progress

FLORENCE_TASK = "<MORE_DETAILED_CAPTION>"


@click.command(
    "caption",
    cls=RuledCommand,
    rules=[
        *options.single_input_rules("output_caption", "--output-caption"),
        not_together(
            "florence_2_base",
            "florence_2_large",
            message="choose --florence-2-base or --florence-2-large, not both",
        ),
        *(
            not_together(
                "llm_api", flag, message="--florence-2-base/--florence-2-large choose a local model"
            )
            for flag in ("florence_2_base", "florence_2_large")
        ),
        *(
            not_together(
                "template",
                edit,
                message="--template shapes generated captions; not with --append or --prepend",
                field="template",
            )
            for edit in ("append", "prepend")
        ),
    ],
)
@options.input_dir("Input directory containing images")
@options.output_dir("Output directory for the .txt captions (default: beside the images)")
@click.option(
    "--input-image",
    type=options.PATH,
    default=None,
    help="Caption one image instead of a directory",
)
@click.option(
    "--output-caption",
    type=options.PATH,
    default=None,
    help="Caption file for --input-image (default: beside the image, same name, .txt)",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where the local model runs; auto picks a CUDA or Apple GPU when torch sees one",
)
@click.option(
    "--template",
    default=None,
    help="Wrap each generated caption: {{caption}} marks where it goes; without it the "
    "template is prepended (e.g. 'photo of sks person,')",
)
@click.option(
    "--prompt",
    default=FLORENCE_TASK,
    show_default=True,
    help="Florence-2 task (<CAPTION>, <DETAILED_CAPTION>, <MORE_DETAILED_CAPTION>) or, for "
    "--llm-api and chat models, an instruction; a task token is sent to those in plain words",
)
@click.option(
    "--model",
    default=None,
    help="Local model: a Hugging Face hub id or a folder (default microsoft/Florence-2-base); "
    "with --llm-api the API's model name (default $OPENAI_MODEL, then gpt-5-nano)",
)
@click.option(
    "--num-beams",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Beam search width for the local model (1 = greedy, fastest)",
)
@click.option(
    "--llm-api",
    is_flag=True,
    default=False,
    help="Use an OpenAI-compatible vision API: key in OPENAI_API_KEY, endpoint in "
    "OPENAI_BASE_URL (or OPENAI_API_BASE)",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Most tokens generated per caption",
)
@click.option(
    "--temperature",
    type=options.FiniteFloatRange(min=0.0),
    default=0.3,
    show_default=True,
    help="Sampling temperature for --llm-api (the local model decodes deterministically)",
)
@options.recursive()
@click.option(
    "--florence-2-base",
    is_flag=True,
    default=False,
    help="Use microsoft/Florence-2-base (0.23B, faster; the default)",
)
@click.option(
    "--florence-2-large",
    is_flag=True,
    default=False,
    help="Use microsoft/Florence-2-large (0.77B, better captions)",
)
@options.dry_run()
@options.progress()
@click.option(
    "--skip-existing",
    is_flag=True,
    default=False,
    help="Leave images that already have a caption alone (resumes an interrupted run)",
)
@click.option(
    "--append",
    default=None,
    help="Add this text to the end of existing captions; no model runs, images without a "
    "caption are skipped",
)
@click.option(
    "--prepend",
    default=None,
    help="Add this text to the start of existing captions; no model runs, images without a "
    "caption are skipped",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=4,
    show_default=True,
    help="Requests in flight at once with --llm-api",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0, max=20),
    default=5,
    show_default=True,
    help="Retries per image with --llm-api on rate limits (429) and server errors (5xx)",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Images per forward pass of the local model",
)
@click.option(
    "--trust-remote-code",
    is_flag=True,
    default=False,
    help="Let a hub model run its own Python code (needed by some models; runs code from the "
    "hub, so only for repositories you trust)",
)
def command(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_caption: str | None,
    device: str,
    template: str | None,
    prompt: str,
    model: str | None,
    num_beams: int,
    llm_api: bool,
    max_tokens: int,
    temperature: float,
    recursive: bool,
    florence_2_base: bool,
    florence_2_large: bool,
    dry_run: bool,
    progress: bool,
    skip_existing: bool,
    append: str | None,
    prepend: str | None,
    concurrency: int,
    max_retries: int,
    batch_size: int,
    trust_remote_code: bool,
) -> int:
    """Write a .txt caption per image with a local model (Florence-2) or a vision API.

    Captions go beside the images, or into --output under the same relative path. --append and
    --prepend edit existing captions instead, running no model.
    """
    from datasety.captioning import run

    targets = _targets(input_, output, input_image, output_caption, recursive)
    editing = bool(append or prepend)
    reporter = Progress(total=len(targets), bar=progress)
    if dry_run:
        reporter.note("Dry run: nothing is written")
    if editing:
        run.edit_captions(targets, append, prepend, reporter, dry_run)
        return reporter.finish()

    todo = run.select_targets(targets, skip_existing, reporter)
    if dry_run:
        run.preview_generation(todo, reporter)
    elif llm_api:
        from datasety.captioning.api import ApiSettings

        settings = ApiSettings.from_env(
            model=model,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            max_retries=max_retries,
        )
        run.caption_via_api(todo, settings, template, concurrency, reporter)
    else:
        from datasety.captioning.local import FLORENCE_2_BASE, FLORENCE_2_LARGE, LocalSettings

        local = LocalSettings(
            model=model or (FLORENCE_2_LARGE if florence_2_large else FLORENCE_2_BASE),
            device=device,
            prompt=prompt,
            num_beams=num_beams,
            max_tokens=max_tokens,
            trust_remote_code=trust_remote_code,
        )
        run.caption_locally(todo, local, template, batch_size, reporter)
    return reporter.finish()


def uses_accelerator(params: dict[str, Any]) -> bool:
    """The local model runs on a GPU; the API, caption edits and a dry run use none."""
    idle = params.get("llm_api") or params.get("append") or params.get("prepend")
    return not idle and not params.get("dry_run") and params.get("device") != "cpu"


def _targets(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    output_caption: str | None,
    recursive: bool,
) -> list[CaptionTarget]:
    if input_image:
        caption = Path(output_caption) if output_caption else None
        return [single_target(Path(input_image), caption)]
    input_dir = require_dir(input_, "--input")
    output_dir = require_output_dir(output, "--output") if output else None
    return directory_targets(input_dir, output_dir, recursive)
