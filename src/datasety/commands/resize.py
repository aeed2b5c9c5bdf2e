"""`datasety resize` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("resize")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("resize is not implemented yet")
