"""Resumable checkpoints: everything a run needs to continue exactly where it stopped.

One file per saved step, ``<output stem>.checkpoints/step-000050.pt``: the LoRA weights, the
optimizer's and the LR scheduler's state, the step, and every random state the loop draws
from (python, torch, CUDA, the loop's own generator). ``--resume`` with the same settings
then produces the same losses as a run that never stopped. Files are written to a temporary
name and renamed: a cancel or a crash leaves the last complete checkpoint loadable (and a
temporary file a killed writer left is removed by the next run).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_path, is_temp_name
from datasety.core.errors import DatasetyError

FORMAT = "datasety-train-checkpoint/1"
STEP_NAME = re.compile(r"^step-(\d+)\.pt$")
# A voice's checkpoints are Lightning's own files (see datasety.training.voice.piper).
VOICE_STEP_NAME = re.compile(r"^step-(\d+)\.ckpt$")


def checkpoint_dir(output: Path) -> Path:
    return output.with_name(output.stem + ".checkpoints")


def checkpoint_path(output: Path, step: int) -> Path:
    return checkpoint_dir(output) / f"step-{step:06d}.pt"


def latest_in(folder: Path, name: re.Pattern[str] = STEP_NAME) -> Path | None:
    """The checkpoint of the highest step in ``folder`` (files named like ``name``), or None."""
    found = []
    for entry in folder.iterdir():
        match = name.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return max(found)[1] if found else None


def resolve_resume(path: str, name: re.Pattern[str] = STEP_NAME) -> Path:
    """The checkpoint file ``--resume`` names: a file, or a checkpoints folder (its latest
    file named like ``name``)."""
    target = Path(path)
    if target.is_dir():
        latest = latest_in(target, name)
        if latest is None:
            suffix = name.pattern.rsplit("\\", 1)[-1].rstrip("$")  # ".pt" or ".ckpt"
            raise DatasetyError(f"--resume {path!r}: the folder holds no step-*{suffix} checkpoint")
        return latest
    if not target.is_file():
        raise DatasetyError(f"--resume {path!r} does not exist")
    return target


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files of saves that never finished. A writer that gets SIGTERM
    removes its own, but one that is killed outright (a Ray Train worker when its job is
    cancelled, an out-of-memory kill) cannot: the next run clears them."""
    if folder.is_dir():
        for entry in folder.iterdir():
            if is_temp_name(entry.name):
                entry.unlink(missing_ok=True)


def save_checkpoint(dest: Path, state: dict[str, Any]) -> None:
    import torch

    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest, fsync=True) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        # weights_only: a checkpoint is tensors, numbers and strings; nothing in it runs code.
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise DatasetyError(f"--resume {str(path)!r} is not a readable checkpoint: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DatasetyError(f"--resume {str(path)!r} is not a datasety train checkpoint")
    return state


def check_compatible(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """A checkpoint continues only the run it came from: same model, data and settings."""
    for key, value in current.items():
        if saved.get(key) != value:
            raise DatasetyError(
                f"--resume {str(path)!r} was saved with {key}={saved.get(key)!r}, this run has "
                f"{key}={value!r}; exact continuation needs the same settings"
            )
