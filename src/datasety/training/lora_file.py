"""The trained LoRA as one ``.safetensors`` file that diffusers and ComfyUI load.

The keys are the format both read for the family (ComfyUI's ``comfy/lora.py`` maps each
format to its own weights; tests/training/test_train.py checks ours against a port of that
mapping, tests/training/comfyui.py):

* ``diffusers`` (FLUX.2, Qwen-Image and its edit models): PEFT's keys under the component,
  ``transformer.<module>.lora_A.weight`` / ``.lora_B.weight``: what
  ``pipeline.load_lora_weights`` reads and ComfyUI maps for every Flux-family model (through
  its diffusers -> BFL renaming) and for Qwen-Image (whose module names are diffusers');
* ``kohya`` (SDXL): ``lora_unet_<module with _>.lora_down.weight`` / ``.lora_up.weight`` /
  ``.alpha``, the format of SDXL LoRAs in the wild: ComfyUI maps it, diffusers converts it
  on load. (ComfyUI does not read PEFT's ``unet.<module>.lora_A`` keys for a UNet.)

``lora_alpha / rank`` is folded into the up (B) matrix and ``.alpha`` (kohya) is the rank, so
every loader applies exactly the trained strength, with or without alpha. Training metadata
(base model, family, steps, rank, alpha, dataset hash) is in the file's header, where
``safetensors`` readers see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_path

METADATA_PREFIX = "datasety."


def lora_state(
    peft_state: dict[str, Any], prefix: str, scale: float, key_format: str = "diffusers"
) -> dict[str, Any]:
    """PEFT's state dict of the denoiser as the file's tensors (scale folded into B), in
    ``key_format`` (see the module docstring); ``prefix`` is the component's name."""
    tensors = {}
    for name, tensor in peft_state.items():
        value = tensor.detach().float().cpu()
        if ".lora_B." in name:
            value = value * scale
        tensors[f"{prefix}.{name}"] = value.contiguous()
    return kohya_keys(tensors, prefix) if key_format == "kohya" else tensors


def kohya_keys(tensors: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``<prefix>.<module>.lora_A/B.weight`` as kohya's ``lora_<prefix>_<module with _>``
    ``.lora_down/.lora_up.weight``, with ``.alpha`` = rank (the scale is in the weights)."""
    import torch

    renamed: dict[str, Any] = {}
    for name, value in tensors.items():
        module, _, kind = name[len(prefix) + 1 :].rpartition(".lora_")
        base = f"lora_{prefix}_{module.replace('.', '_')}"
        if kind == "A.weight":
            renamed[f"{base}.lora_down.weight"] = value
            renamed[f"{base}.alpha"] = torch.tensor(float(value.shape[0]))
        else:
            renamed[f"{base}.lora_up.weight"] = value
    return renamed


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
