"""`datasety workflow` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("workflow")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("workflow is not implemented yet")
