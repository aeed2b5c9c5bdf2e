"""Which GPUs the server may hand to jobs, learnt without importing torch.

``--gpus 0,1`` names them (``--gpus none`` turns GPU slots off); by default they are found:
``CUDA_VISIBLE_DEVICES`` when the server itself was given one, else the NVIDIA driver's
``/proc/driver/nvidia/gpus`` entries, else ``nvidia-smi -L``. A box without any has none:
its GPU jobs take ordinary slots and their ``--device auto`` picks the CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from datasety.core.errors import DatasetyError

DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")
NONE_WORDS = {"", "none", "-1"}


def parse_gpus(text: str) -> tuple[str, ...]:
    """``"0,1"`` -> ``("0", "1")``; ``"none"`` -> ``()``. Ids are CUDA indices or UUIDs."""
    if text.strip().lower() in NONE_WORDS:
        return ()
    ids = tuple(part.strip() for part in text.split(","))
    if any(not part or part.startswith("-") for part in ids) or len(set(ids)) != len(ids):
        raise DatasetyError(f"--gpus {text!r}: give GPU ids like 0,1 (or none)")
    return ids


def detect_gpus() -> tuple[str, ...]:
    """The GPUs this machine offers jobs (see the module docstring), maybe none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return parse_gpus(visible) if visible.strip().lower() not in NONE_WORDS else ()
    try:
        count = sum(1 for _ in DRIVER_GPUS.iterdir())
    except OSError:
        count = _nvidia_smi_count()
    return tuple(str(index) for index in range(count))


def _nvidia_smi_count() -> int:
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listed = subprocess.run(
            [tool, "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))
