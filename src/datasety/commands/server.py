"""`datasety server` (being built)."""

from __future__ import annotations

import click

from datasety.errors import DatasetyError


@click.command("server")
def command() -> None:
    """Not implemented yet."""
    raise DatasetyError("server is not implemented yet")
