"""The command registry: the ONE list of commands.

The CLI group, ``GET /v1/commands`` and job argument validation all read :func:`commands`.
Each module named here defines ``command``, a click command of the same name whose
parameters (help, type, default, choices) are the single source of truth for that command's
interface. Modules load on first use, so ``datasety resize`` imports only what resize needs
(every job starts a fresh CLI, and its start-up is part of every job's latency).
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any

import click

# Order is the order shown by `datasety --help` and `GET /v1/commands`.
COMMAND_MODULES = (
    "resize",
    "degrade",
    "align",
    "shuffle",
    "caption",
    "mask",
    "filter",
    "synthetic",
    "character",
    "sweep",
    "train",
    "inspect",
    "audio",
    "video",
    "workflow",
    "upload",
    "server",
)


@cache
def commands() -> dict[str, click.Command]:
    """Every command by name, in registry order."""
    return {name: _load(name) for name in COMMAND_MODULES}


def get_command(name: str) -> click.Command | None:
    """The registered command called ``name`` (loading only its module), or None."""
    return _load(name) if name in COMMAND_MODULES else None


def _load(name: str) -> click.Command:
    command: click.Command = import_module(f"datasety.commands.{name}").command
    if command.name != name:
        raise ImportError(f"datasety.commands.{name} defines {command.name!r}, not {name!r}")
    return command


def wants_accelerator(name: str, params: dict[str, Any]) -> bool:
    """Whether a run of command ``name`` with these parameter values uses a GPU.

    A command module may say so itself with ``uses_accelerator(params)`` (caption does: its
    API mode runs no model); otherwise a command with a ``--device`` wants one unless it is
    told ``--device cpu``.
    """
    if name not in COMMAND_MODULES:
        return False
    rule = getattr(import_module(f"datasety.commands.{name}"), "uses_accelerator", None)
    if rule is not None:
        return bool(rule(params))
    return "device" in params and params["device"] not in (None, "cpu")


def resume_point(name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Where a stopped run of command ``name`` with these parameter values can continue, when
    the command says so itself with a module-level ``resume_point(params)`` (train does: its
    last complete checkpoint): ``{"param": "resume", "value": <path>, "step": N}``, meaning
    "the same arguments with ``param`` = ``value`` continue it". None otherwise."""
    hook = _resume_hook(name)
    return hook(params) if hook is not None else None


def resumable(name: str) -> bool:
    """Whether command ``name`` can say where a stopped run continues (see resume_point)."""
    return _resume_hook(name) is not None


@cache
def _resume_hook(name: str) -> Any:
    if name not in COMMAND_MODULES:
        return None
    return getattr(import_module(f"datasety.commands.{name}"), "resume_point", None)


def places_own_workers(name: str, params: dict[str, Any]) -> bool:
    """Whether a run of command ``name`` places its own workers on a Ray cluster.

    A command module says so with ``places_own_workers(params)`` (train does with
    ``--workers N``: its Ray Train workers ask Ray for their CPUs or GPUs themselves, so the
    job's own process asks for nothing and holds no GPU).
    """
    if name not in COMMAND_MODULES:
        return False
    rule = getattr(import_module(f"datasety.commands.{name}"), "places_own_workers", None)
    return bool(rule(params)) if rule is not None else False
