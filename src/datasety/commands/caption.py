"""`datasety caption` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("caption")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("caption is not implemented yet")
