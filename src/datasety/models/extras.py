"""Optional dependencies: import them, or say in one line which extra installs them."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from datasety.core.errors import DatasetyError


class MissingExtraError(DatasetyError):
    """A model command's optional dependency is not installed."""


def install_hint(extra: str) -> str:
    """The exact command that installs ``extra``."""
    return f"pip install 'datasety[{extra}]'"


def require(extra: str, *modules: str, purpose: str | None = None) -> tuple[ModuleType, ...]:
    """Import ``modules`` (in order), or raise one line: what is missing, how to install it.

    ``purpose`` names what needs them (``"mask"``); it defaults to the extra's name.
    """
    imported = []
    for name in modules:
        try:
            imported.append(import_module(name))
        except ImportError as exc:
            missing = (exc.name or name).split(".")[0]
            raise MissingExtraError(
                f"{purpose or extra} needs {missing}, which is not installed: {install_hint(extra)}"
            ) from exc
    return tuple(imported)


def torch_and_transformers(extra: str, purpose: str | None = None) -> tuple[ModuleType, ...]:
    """``(torch, transformers)`` for a model command, with transformers' progress bars off
    (the command reports one line per image; bars would fill a job's log)."""
    torch, transformers = require(extra, "torch", "transformers", purpose=purpose)
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers


def model_class(transformers: ModuleType, name: str, extra: str) -> Any:
    """``transformers.<name>``, or one line saying the installed transformers is too old."""
    found = getattr(transformers, name, None)
    if found is None:
        raise MissingExtraError(
            f"transformers {transformers.__version__} has no {name}; upgrade it: "
            f"pip install -U 'datasety[{extra}]'"
        )
    return found
