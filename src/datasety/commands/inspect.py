"""`datasety inspect` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("inspect")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("inspect is not implemented yet")
