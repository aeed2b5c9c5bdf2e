"""`datasety sweep`: write (and with --run, run) a workflow sweeping synthetic's settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from datasety.commands import options

F = TypeVar("F", bound=Callable[..., Any])


def uses_accelerator(params: dict[str, Any]) -> bool:
    """--run runs synthetic on the local pipeline (a GPU) unless every run uses the image API;
    writing the file alone uses none."""
    return bool(params.get("run")) and not params.get("image_api")


def _axis(flag: str, example: str, what: str) -> Callable[[F], F]:
    return click.option(
        flag, default=None, help=f"Comma-separated {what} to sweep (e.g. {example})"
    )


@click.command("sweep")
@click.option("--input", "-i", "input_", type=options.PATH, required=True, help="Source images")
@click.option(
    "--output",
    "-o",
    type=options.PATH,
    required=True,
    help="Base output folder: one subfolder per combination, named after its settings",
)
@click.option("--prompt", "-p", required=True, help="The edit instruction of every run")
@_axis("--steps", "4,8,16", "step counts")
@_axis("--cfg-scale", "1,2.5,4", "guidance scales")
@_axis("--true-cfg-scale", "2,4", "true CFG scales (Qwen-Image-Edit)")
@_axis("--strength", "0.5,0.7", "img2img strengths (SDXL)")
@_axis("--lora", "none,a.safetensors:0.8", "LoRAs (none = no LoRA)")
@_axis("--model", "org/a,org/b", "models")
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=None,
    help="Seed of every run (compare like with like)",
)
@click.option(
    "--output-format",
    type=click.Choice(["png", "jpg", "webp"]),
    default=None,
    help="Format of the generated images (synthetic's default: png)",
)
@click.option(
    "--output-file",
    type=options.PATH,
    default="sweep.yaml",
    show_default=True,
    help="The workflow file to write",
)
@click.option("--image-api", is_flag=True, default=False, help="Every run uses --image-api")
@click.option("--base-model", default=None, help="Model of every run when --model is not swept")
@click.option(
    "--run",
    is_flag=True,
    default=False,
    help="Run the workflow once written (as `datasety workflow -f FILE`)",
)
@click.pass_context
def command(
    ctx: click.Context,
    input_: str,
    output: str,
    prompt: str,
    steps: str | None,
    cfg_scale: str | None,
    true_cfg_scale: str | None,
    strength: str | None,
    lora: str | None,
    model: str | None,
    seed: int | None,
    output_format: str | None,
    output_file: str,
    image_api: bool,
    base_model: str | None,
    run: bool,
) -> int:
    """Write a workflow of synthetic runs over the Cartesian product of the comma-separated
    values of --steps, --cfg-scale, --true-cfg-scale, --strength, --lora and --model.

    Each run writes its pairs into OUTPUT/<settings> (such as OUTPUT/steps4_cfg2.5); every
    step is validated as `datasety workflow` validates it. --run then runs the file, with the
    workflow's progress and exit status.
    """
    from datasety.commands import workflow
    from datasety.generation.sweep import Sweep, build_steps, parse_axes, write_workflow
    from datasety.workflow.steps import validate_steps

    axes = parse_axes(
        {
            "--steps": steps,
            "--cfg-scale": cfg_scale,
            "--true-cfg-scale": true_cfg_scale,
            "--strength": strength,
            "--lora": lora,
            "--model": model,
        }
    )
    sweep = Sweep(input_, output, prompt, axes, seed, output_format, image_api, base_model)
    planned = build_steps(sweep)
    validate_steps(planned)  # a bad value fails here, before a file is written
    path = Path(output_file)
    write_workflow(path, sweep, planned)
    click.echo(f"Generated {len(planned)} sweep combinations -> {path}")
    if not run:
        click.echo(f"Run the sweep with: datasety workflow -f {path}")
        return 0
    result: int = ctx.invoke(workflow.command, file=str(path), dry_run=False)
    return result
