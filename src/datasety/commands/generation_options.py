"""Option decorators shared by the generation commands (synthetic, character)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from datasety.commands import options
from datasety.generation.families import FAMILY_CHOICES

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MODEL = "black-forest-labs/FLUX.2-klein-4b-fp8"


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def model() -> Callable[[F], F]:
    """--model, --family, --gguf, --device: which pipeline runs where."""
    return _stack(
        click.option(
            "--model",
            default=DEFAULT_MODEL,
            show_default=True,
            help="Hugging Face repository id or local diffusers folder; an FP8 FLUX.2-klein id "
            "loads its BF16 repository (diffusers cannot read BFL's FP8 files); with "
            "--image-api, the model id sent to the API",
        ),
        click.option(
            "--family",
            type=click.Choice(FAMILY_CHOICES),
            default="auto",
            show_default=True,
            help="Pipeline family; auto reads the model's model_index.json, else its id",
        ),
        click.option(
            "--gguf",
            type=options.PATH,
            default=None,
            help="GGUF file of the transformer (diffusers GGUF quantization; FLUX.2, Qwen)",
        ),
        click.option(
            "--device",
            type=click.Choice(["auto", "cpu", "cuda", "mps"]),
            default="auto",
            show_default=True,
            help="Where the pipeline runs; auto picks a CUDA or Apple GPU when torch sees one",
        ),
    )


def image_api() -> Callable[[F], F]:
    """--image-api and its settings."""
    return _stack(
        click.option(
            "--image-api",
            is_flag=True,
            default=False,
            help="Use an OpenAI-compatible image API (endpoint in OPENAI_BASE_URL, key in "
            "OPENAI_API_KEY) instead of a local pipeline",
        ),
        click.option(
            "--api-aspect-ratio",
            default=None,
            help="With --image-api: the shape asked for, W:H such as 16:9",
        ),
        click.option(
            "--api-image-size",
            type=click.Choice(["0.5K", "1K", "2K", "4K"]),
            default=None,
            help="With --image-api: the long side asked for (1K = 1024 pixels)",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1, max=64),
            default=4,
            show_default=True,
            help="Requests in flight at once with --image-api",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(min=0, max=20),
            default=5,
            show_default=True,
            help="Retries of a request that hit a rate limit (429) or a server error (5xx)",
        ),
    )


def output_format() -> Callable[[F], F]:
    return click.option(
        "--output-format",
        type=click.Choice(["png", "jpg", "webp"]),
        default="png",
        show_default=True,
        help="Format of the generated images",
    )


def uses_accelerator(params: dict[str, Any]) -> bool:
    """A local pipeline runs on a GPU; the image API and a dry run use none."""
    idle = params.get("image_api") or params.get("dry_run") or params.get("prompts_only")
    return not idle and params.get("device") != "cpu"
