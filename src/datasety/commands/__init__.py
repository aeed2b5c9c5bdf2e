"""The command registry: the ONE list of commands.

The CLI group, ``GET /v1/commands`` and job argument validation all read :func:`commands`.
Each module named here defines ``command``, a click command whose parameters (help, type,
default, choices) are the single source of truth for that command's interface.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

import click

# Order is the order shown by `datasety --help` and `GET /v1/commands`.
COMMAND_MODULES = (
    "resize",
    "degrade",
    "align",
    "shuffle",
    "caption",
    "inspect",
    "workflow",
    "server",
)


@cache
def commands() -> dict[str, click.Command]:
    """Every command by name, in registry order."""
    found: dict[str, click.Command] = {}
    for module_name in COMMAND_MODULES:
        module = import_module(f"datasety.commands.{module_name}")
        command: click.Command = module.command
        assert command.name, module_name
        found[command.name] = command
    return found


def get_command(name: str) -> click.Command | None:
    """The registered command called ``name``, or None."""
    return commands().get(name)
