"""Option decorators shared by several commands, so a flag means the same thing everywhere."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from datasety.commands import rules
from datasety.commands.rules import Check, Rule
from datasety.core.errors import DatasetyError
from datasety.core.inputs import output_format_of

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


def single_input_rules(
    single_output: str = "output_image", single_output_flag: str = "--output-image"
) -> list[Rule]:
    """The rules of a command that runs over ``--input`` or on one ``--input-image``:
    one mode or the other, each with its own output flag."""
    return [
        rules.not_together(
            "input_", "input_image", message="use --input or --input-image, not both"
        ),
        rules.not_together(
            "input_image",
            "output",
            message=f"--output is for --input; use {single_output_flag}",
            field="output",
        ),
        rules.requires(
            single_output,
            "input_image",
            message=f"{single_output_flag} goes with --input-image",
            field=single_output,
        ),
        rules.one_of("input_", "input_image", message="--input or --input-image is required"),
    ]


def _format_contradicts_suffix(ctx: click.Context) -> bool:
    """An --output-format typed beside an --output-image whose suffix names another format."""
    suffix_format = output_format_of(ctx.params["output_image"] or "")
    typed = ctx.get_parameter_source("output_format") is ParameterSource.COMMANDLINE
    return typed and suffix_format is not None and suffix_format != ctx.params["output_format"]


# The suffix of a written --output-image picks its encoder (resize, degrade, mask, synthetic):
# a suffix that names no format, or one that contradicts a typed --output-format, is refused
# while click parses, so a job that could not write what its name says is refused at submit.
OUTPUT_IMAGE_SUFFIX = Check(
    lambda ctx: (
        rules.is_given(ctx.params["output_image"])
        and output_format_of(ctx.params["output_image"]) is None
    ),
    lambda ctx: (
        f"--output-image must end in .jpg, .jpeg, .png or .webp, got {ctx.params['output_image']!r}"
    ),
    "output_image",
)
OUTPUT_FORMAT_OF_SUFFIX = Check(
    _format_contradicts_suffix,
    lambda ctx: (
        f"--output-format contradicts the suffix of --output-image "
        f"{ctx.params['output_image']!r}: {ctx.params['output_format']} given, the suffix "
        f"sets {output_format_of(ctx.params['output_image'])}"
    ),
    "output_format",
)


class PatternText(click.types.StringParamType):
    """Text of a known shape (``WxH``), kept as typed: ``pattern`` and ``hint`` go out in
    ``GET /v1/commands`` so a form checks the same shape; ``check`` (the command's own parser)
    then judges the value, so a job with a bad one is refused before it is queued."""

    name = "text"

    def __init__(self, pattern: str, hint: str, check: Callable[[str], object]) -> None:
        self.pattern = pattern
        self.hint = hint
        self.check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value, param, ctx)
        if not re.fullmatch(self.pattern, text):
            self.fail(f"{text!r} is not {self.hint}", param, ctx)
        try:
            self.check(text)
        except DatasetyError as exc:
            self.fail(exc.message, param, ctx)
        return text


class SecretOption(click.Option):
    """An option that holds a secret (a token): the CLI takes it, but a job or a workflow
    step refuses it, since their command lines are stored and shown (the job list, ``ps``);
    ``env`` names the environment variable to set instead."""

    def __init__(self, *args: Any, env: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env = env
