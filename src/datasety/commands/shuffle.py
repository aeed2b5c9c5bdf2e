"""`datasety shuffle` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("shuffle")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("shuffle is not implemented yet")
