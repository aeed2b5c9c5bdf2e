"""The trained LoRA as one ``.safetensors`` file that diffusers and ComfyUI load.

Keys are diffusers' PEFT format, ``<unet|transformer>.<module>.lora_A.weight`` /
``.lora_B.weight`` (what ``pipeline.load_lora_weights`` reads, and what the reference
wrote). ``lora_alpha / rank`` is folded into ``lora_B``, so a loader that assumes
alpha = rank (diffusers without adapter metadata, ComfyUI without ``.alpha`` keys) applies
exactly the trained strength. Training metadata (base model, family, steps, rank, alpha,
dataset hash) is in the file's header, where ``safetensors`` readers see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_path

METADATA_PREFIX = "datasety."


def lora_state(peft_state: dict[str, Any], prefix: str, scale: float) -> dict[str, Any]:
    """PEFT's state dict of the denoiser as the file's tensors (scale folded into B)."""
    tensors = {}
    for name, tensor in peft_state.items():
        value = tensor.detach().float().cpu()
        if ".lora_B." in name:
            value = value * scale
        tensors[f"{prefix}.{name}"] = value.contiguous()
    return tensors


def save_lora(dest: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write the LoRA to ``dest`` in one rename (a cancel never leaves half a file)."""
    from safetensors.torch import save_file

    header = {"format": "pt", **{METADATA_PREFIX + k: v for k, v in metadata.items()}}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest, fsync=True) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def read_metadata(path: Path) -> dict[str, str]:
    """The training metadata in a LoRA file's header (without the prefix)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
    return {
        k[len(METADATA_PREFIX) :]: v for k, v in header.items() if k.startswith(METADATA_PREFIX)
    }
