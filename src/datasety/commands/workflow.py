"""`datasety workflow`: run the steps of a workflow file, each validated before any runs."""

from __future__ import annotations

import os

import click

from datasety.commands import options
from datasety.core.confinement import JOB_ID_ENV, from_env
from datasety.workflow.steps import (
    check_not_recursive,
    find_workflow_file,
    load_workflow,
    run_steps,
    validate_steps,
)


@click.command("workflow")
@click.option(
    "--file",
    "-f",
    "file",
    type=options.PATH,
    default=None,
    help="Workflow file (default: datasety.yaml, datasety.yml or datasety.json in this folder)",
)
@click.option(
    "--dry-run",
    is_flag=True,
    default=False,
    help="Validate every step and print its command line; run nothing",
)
def command(file: str | None, dry_run: bool) -> int:
    """Run a multi-step pipeline from datasety.yaml/.yml/.json.

    The file holds "steps", a list of {command, args} with args named like the command's
    flags (crop-position or crop_position). Every step is validated before the first one
    runs; each then runs as its own "python -m datasety" process in the current folder
    (relative paths are relative to it; in a server's job, the workflow file's folder). The
    workflow stops at the first step that fails (exit 1), or ends with exit 3 when only steps
    marked "continue_on_error: true" failed. A step whose files partly failed exits 3 and
    counts as failed.
    """
    path = find_workflow_file(file)
    if os.environ.get(JOB_ID_ENV):
        # A server's job has no folder of its own (it inherits the server's): its steps run
        # beside the workflow file, as they do for a user who runs the file where it lies.
        path = path.resolve()
        os.chdir(path.parent)
    stack = check_not_recursive(path)
    # A job of a server with --root: the steps must stay inside its roots too.
    confinement = from_env(os.environ, os.getcwd())
    steps = validate_steps(load_workflow(path), confinement)
    if dry_run:
        for step in steps:
            title = f" {step.name}:" if step.name else ""
            click.echo(f"Step {step.number}/{len(steps)}{title} {step.command_line}")
        click.echo(f"Dry run: {len(steps)} step{'s' * (len(steps) != 1)} valid; nothing ran")
        return 0
    click.echo(f"Workflow: {path} ({len(steps)} step{'s' * (len(steps) != 1)})")
    return run_steps(steps, stack, click.echo)
