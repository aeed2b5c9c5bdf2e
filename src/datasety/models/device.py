"""Where a model runs (``--device``) and in which dtype."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasety.core.errors import DatasetyError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Device:
    """The device a model runs on, its dtype, and why that device was picked."""

    name: str
    dtype: Any  # a torch.dtype
    reason: str

    def describe(self) -> str:
        """``cuda (bfloat16, picked by --device auto: ...)`` for the command's log."""
        return f"{self.name} ({str(self.dtype).removeprefix('torch.')}, {self.reason})"


def choose_device(torch: Any, requested: str = "auto", half: bool = True) -> Device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; an unusable explicit choice is an
    error. ``half`` lets a GPU run in 16-bit (bfloat16 where CUDA supports it); models whose
    processors hand over float32 tensors they cannot take in 16-bit pass ``half=False``."""
    cuda = bool(torch.cuda.is_available())
    backends_mps = getattr(torch.backends, "mps", None)
    mps = bool(backends_mps is not None and backends_mps.is_available())
    if requested == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
        seen = "a CUDA GPU" if cuda else "an Apple GPU" if mps else "no GPU"
        reason = f"--device auto: torch sees {seen}"
    elif requested in DEVICE_CHOICES:
        name, reason = requested, f"--device {requested}"
    else:
        raise DatasetyError(f"--device {requested!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "cuda" and not cuda:
        raise DatasetyError("--device cuda: torch sees no CUDA GPU here (try --device auto)")
    if name == "mps" and not mps:
        raise DatasetyError("--device mps: torch sees no Apple GPU here (try --device auto)")
    return Device(name, dtype_for(torch, name, half), reason)


def dtype_for(torch: Any, device: str, half: bool = True) -> Any:
    """bfloat16 on a CUDA GPU that has it (float16 on older ones), float16 on MPS, float32 on
    the CPU (16-bit matrix maths there is slower, not faster)."""
    if not half or device == "cpu":
        return torch.float32
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16
