"""The `datasety` command line: a click group over the command registry.

`main()` is the console script and `python -m datasety`. It turns every user-facing error into
one line, ``Error: ...``, and a non-zero exit code: no tracebacks for the user's mistakes.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from datasety import __version__
from datasety.commands import COMMAND_MODULES, get_command
from datasety.core.errors import DatasetyError
from datasety.core.progress import ITEMS_FAILED


class RegistryGroup(click.Group):
    """A group that reads the command registry, loading a command's module only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return get_command(cmd_name)


EXIT_STATUSES = f"""\b
Exit status:
  0    done (every file processed or skipped)
  1    error: the command could not run or stopped (a missing folder, a failed step)
  2    usage error: an unknown option or a bad value
  {ITEMS_FAILED}    the command ran to the end but some files failed (each named on stderr,
       then "Error: N of M files failed")
  130  interrupted
"""


@click.group(
    cls=RegistryGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_STATUSES,
)
@click.version_option(__version__, "--version", "-V", prog_name="datasety")
def cli() -> None:
    """Prepare datasets for generative models: images with caption sidecars, control/target
    pairs and TTS voices. Fast batch commands, and a safe headless server."""


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM (a job's cancel) into SystemExit so `finally` blocks and atomic writers
    # remove their temporary files instead of leaving them behind.
    raise SystemExit(128 + signum)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its status."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result = cli.main(args=argv, prog_name="datasety", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"Error: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except DatasetyError as exc:
        click.echo(f"Error: {_one_line(exc.message)}", err=True)
        sys.exit(1)
    except (click.Abort, KeyboardInterrupt):
        click.echo("Error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:
        # The last net for the file system refusing something the commands did not foresee
        # (a folder removed mid-run, a full disk at start-up): still one line, never a
        # traceback. Per-file problems are reported by the commands and do not get here.
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"Error: {_one_line(exc.strerror or str(exc))}{where}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
