"""``--demucs``: the vocals of a recording, isolated by Demucs (music and noise removed)."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from datasety.core.errors import DatasetyError
from datasety.media.audio import resample
from datasety.models.extras import require


@cache
def _model(name: str) -> Any:
    (pretrained,) = require("demucs", "demucs.pretrained", purpose="--demucs")
    try:
        model = pretrained.get_model(name)
    except Exception as exc:  # noqa: BLE001 - a missing or unreachable model is one line
        text = str(exc).strip().splitlines()
        raise DatasetyError(
            f"cannot load Demucs model {name!r}: {text[0] if text else type(exc).__name__}"
        ) from exc
    model.eval()
    return model


def isolate_vocals(samples: np.ndarray, rate: int, name: str, device: str) -> np.ndarray:
    """The vocals stem of mono ``samples`` at ``rate`` Hz, at the same rate."""
    model = _model(name)
    (torch,) = require("demucs", "torch", purpose="--demucs")
    from demucs.apply import apply_model

    if "vocals" not in model.sources:
        raise DatasetyError(f"Demucs model {name!r} has no vocals stem")
    run_on = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    mixed = resample(samples, rate, model.samplerate)
    stereo = torch.from_numpy(np.stack([mixed] * model.audio_channels))[None]
    with torch.inference_mode():
        stems = apply_model(model, stereo, device=run_on, progress=False)
    vocals = stems[0, model.sources.index("vocals")].mean(dim=0).cpu().numpy()
    return resample(np.ascontiguousarray(vocals, dtype=np.float32), model.samplerate, rate)
