"""`datasety align` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("align")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("align is not implemented yet")
