"""`datasety degrade` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("degrade")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("degrade is not implemented yet")
