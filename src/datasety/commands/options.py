"""Option decorators shared by several commands, so a flag means the same thing everywhere."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class PathText(click.Path):
    """A path, kept as the ``str`` the user typed, checked for nothing at parse time.

    The type is what marks a parameter as a path for the registry's readers (the server keeps
    job paths inside its ``--root`` folders; ``GET /v1/commands`` shows ``"type": "path"``).
    The command checks existence itself, with its own messages, when it runs: a workflow step
    or a queued job may name a folder that an earlier step has not made yet. Unlike a plain
    ``click.Path`` it never calls ``stat``, which raises on a NUL byte instead of failing.
    """

    def __init__(self) -> None:
        super().__init__(path_type=str)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return os.fsdecode(value) if isinstance(value, bytes) else value


class TextOrPath(click.types.StringParamType):
    """Text that the command reads as a file when it names an existing one (``--group``): the
    server refuses such a value when the file is outside its ``--root`` folders."""


PATH = PathText()


def input_dir(help: str = "Input directory containing images") -> Callable[[F], F]:
    return click.option("--input", "-i", "input_", type=PATH, default=None, help=help)


def output_dir(help: str = "Output directory for processed images") -> Callable[[F], F]:
    return click.option("--output", "-o", "output", type=PATH, default=None, help=help)


def recursive() -> Callable[[F], F]:
    return click.option(
        "--recursive", "-R", is_flag=True, default=False, help="Also process subfolders"
    )


def captions() -> Callable[[F], F]:
    return click.option(
        "--captions/--no-captions",
        default=True,
        show_default=True,
        help="Copy each image's .txt caption beside its output, renamed with it",
    )


def dry_run() -> Callable[[F], F]:
    return click.option(
        "--dry-run", is_flag=True, default=False, help="Show what would be done; write nothing"
    )


def progress() -> Callable[[F], F]:
    return click.option(
        "--progress",
        is_flag=True,
        default=False,
        help="Show a progress bar on a terminal instead of a line per file",
    )


def workers() -> Callable[[F], F]:
    return click.option(
        "--workers",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Parallel workers; 0 uses every CPU core (1 runs one file at a time)",
    )


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf: nan passes every range check, and either
    would reach the pixels or an API request as a number no one meant."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class DocumentedArgument(click.Argument):
    """A positional argument with help text, like an option's, for ``GET /v1/commands``.

    Use as ``@click.argument("directory", cls=DocumentedArgument, help="...")``.
    """

    def __init__(self, *args: Any, help: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = help


def single_input(
    input_: str | None,
    output: str | None,
    input_image: str | None,
    single_output: str | None,
    single_output_flag: str = "--output-image",
) -> Path | None:
    """The ``--input-image`` of a single-image run, or None for a run over ``--input``.

    A mix of the two modes' flags, or neither input, is a usage error.
    """
    if input_image:
        if input_:
            raise click.UsageError("use --input or --input-image, not both")
        if output:
            raise click.UsageError(f"--output is for --input; use {single_output_flag}")
        return Path(input_image)
    if single_output:
        raise click.UsageError(f"{single_output_flag} goes with --input-image")
    if not input_:
        raise click.UsageError("--input or --input-image is required")
    return None
