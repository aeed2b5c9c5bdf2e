"""Workflow files: find, load, validate and run ``steps: [{command, args}]``.

A workflow file is YAML (``.yaml``/``.yml``, read with ``yaml.safe_load``) or JSON
(``.json``)::

    steps:
      - command: resize
        args: {input: raw, output: resized, resolution: 1024x1024, crop-position: top}
      - command: inspect
        args: {input: resized, strict: true}

A top-level list of steps is accepted too. A step may carry a ``name`` shown in its header,
and ``continue_on_error: true`` to let the steps after it run when it fails (a step whose
files partly failed exits 3, see :data:`datasety.core.progress.ITEMS_FAILED`); the workflow then
still ends non-zero (3, "some steps failed"), never as a clean run.
Every step is checked with :func:`datasety.commands.invocation.build_argv` (the same validator
as the server's jobs) before the first one runs. Each step then runs as its own
``python -m datasety`` process, isolated exactly like a job, in the current folder: relative
paths mean what they mean on the command line, as with the reference tool. Under a server
started with ``--root`` (``DATASETY_JOB_ROOTS`` is set), every step's paths must resolve
inside those roots, relative ones against the current folder.

A step may run another workflow. The files on the way down are passed to each child in
``DATASETY_WORKFLOW_STACK``, so a file that (directly or not) runs itself is refused instead
of recursing forever.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from datasety.commands.invocation import build_argv
from datasety.core.confinement import Confinement
from datasety.core.errors import DatasetyError
from datasety.core.progress import ITEMS_FAILED

DEFAULT_FILES = ("datasety.yaml", "datasety.yml", "datasety.json")
STACK_ENV = "DATASETY_WORKFLOW_STACK"
STEP_KEYS = ("command", "args", "name", "continue_on_error")


@dataclass(frozen=True)
class Step:
    """One validated step: its 1-based number, command, optional name and argv."""

    number: int
    command: str
    argv: list[str]
    name: str | None = None
    continue_on_error: bool = False

    @property
    def command_line(self) -> str:
        """The step as a shell command line, for headers and dry runs."""
        return shlex.join(["datasety", *self.argv])


def find_workflow_file(path: str | None, folder: Path | None = None) -> Path:
    """``path`` if given (it must exist), else the first default file in ``folder`` (cwd)."""
    if path:
        found = Path(path)
        if found.is_dir():
            raise DatasetyError(f"Workflow file {path} is a directory, not a file")
        if not found.is_file():
            raise DatasetyError(f"Workflow file not found: {path}")
        return found
    folder = folder or Path.cwd()
    for name in DEFAULT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise DatasetyError(
        f"No workflow file: none of {', '.join(DEFAULT_FILES)} in {folder}; use --file"
    )


def load_workflow(path: Path) -> list[Any]:
    """The raw steps of the workflow file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetyError(f"Cannot read workflow file {path}: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise DatasetyError(f"Cannot parse workflow file {path}: {detail}") from exc
    steps = data.get("steps") if isinstance(data, Mapping) else data
    if not isinstance(steps, list):
        raise DatasetyError(f"Workflow file {path} must hold a 'steps' list")
    if not steps:
        raise DatasetyError(f"Workflow file {path} has no steps")
    return steps


def validate_steps(raw_steps: list[Any], confinement: Confinement | None = None) -> list[Step]:
    """Every step checked against the command registry; the first problem names its step.

    With a ``confinement`` (a server's job, see :mod:`datasety.core.confinement`), every path
    argument of every step must also resolve inside its roots.
    """
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        if not isinstance(raw, Mapping):
            raise DatasetyError(f"Step {number}: must be an object with 'command' and 'args'")
        command = raw.get("command")
        label = f"Step {number} ({command})" if isinstance(command, str) else f"Step {number}"
        unknown = [str(key) for key in raw if key not in STEP_KEYS]
        if unknown:
            allowed = ", ".join(STEP_KEYS)
            raise DatasetyError(f"{label}: unknown key '{unknown[0]}'; allowed: {allowed}")
        if not command:
            raise DatasetyError(f"{label}: missing 'command'")
        name = raw.get("name")
        keep_going = raw.get("continue_on_error", False)
        if not isinstance(keep_going, bool):
            raise DatasetyError(f"{label}: continue_on_error expects true or false")
        try:
            argv = build_argv(command, raw.get("args") or {}, confinement)
        except DatasetyError as exc:
            raise DatasetyError(f"{label}: {exc.message}") from exc
        title = str(name) if name is not None else None
        steps.append(Step(number, command, argv, title, keep_going))
    return steps


def _stack() -> list[str]:
    return [entry for entry in os.environ.get(STACK_ENV, "").split(os.pathsep) if entry]


def check_not_recursive(path: Path) -> list[str]:
    """The workflow stack with ``path`` on top; an error if ``path`` is already on it."""
    stack = _stack()
    here = str(path.resolve())
    if here in stack:
        chain = " -> ".join([*stack[stack.index(here) :], here])
        raise DatasetyError(f"Workflow {path} runs itself: {chain}")
    return [*stack, here]


def run_steps(
    steps: list[Step],
    stack: list[str],
    echo: Callable[[str], None],
) -> int:
    """Run each step as ``python -m datasety`` in order; stop at the first that fails unless
    it says ``continue_on_error``. Returns the exit code: 0, or ITEMS_FAILED when a step that
    was allowed to fail did (its "Error:" line then names the steps)."""
    env = {**os.environ, STACK_ENV: os.pathsep.join(stack)}
    failed: list[str] = []
    for step in steps:
        title = f" {step.name}:" if step.name else ""
        echo(f"==> Step {step.number}/{len(steps)}{title} {step.command_line}")
        # Output goes straight through: the step writes to our stdout/stderr as it goes.
        sys.stdout.flush()
        sys.stderr.flush()
        code = subprocess.run([sys.executable, "-m", "datasety", *step.argv], env=env).returncode
        if code == 0:
            continue
        how = f"exit code {code}"
        if code < 0 and -code in signal.valid_signals():
            how = f"signal {signal.Signals(-code).name}"
        if not step.continue_on_error or code < 0:
            # A step killed by a signal (a cancel, the OOM killer) stops the workflow anyway.
            raise DatasetyError(f"step {step.number} ({step.command}) failed with {how}")
        echo(f"==> Step {step.number} ({step.command}) failed with {how}; continue_on_error")
        failed.append(f"step {step.number} ({step.command}, {how})")
    plural = "s" * (len(steps) != 1)
    if not failed:
        echo(f"Workflow done: {len(steps)} step{plural} succeeded")
        return 0
    echo(f"Workflow done: {len(steps)} step{plural} ran, {len(failed)} failed")
    print(
        f"Error: {len(failed)} of {len(steps)} steps failed: {', '.join(failed)}",
        file=sys.stderr,
        flush=True,
    )
    return ITEMS_FAILED
