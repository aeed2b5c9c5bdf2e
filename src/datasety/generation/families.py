"""Model families: which diffusers pipeline class a model needs and which settings it takes.

The family comes from the model's own ``model_index.json`` (its ``_class_name``) when the
model is on disk, else from its repository id, as the reference guesses it; ``--family``
overrides both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from datasety.core.errors import DatasetyError


@dataclass(frozen=True)
class Family:
    """One kind of pipeline and what its call accepts."""

    name: str
    edit_class: str  # the diffusers class that edits an image with a prompt
    text_class: str  # the one that renders a prompt alone (``character``)
    denoiser: str  # the pipeline's attribute holding the transformer / UNet
    takes_strength: bool = False  # img2img: how far from the source the edit may go
    takes_true_cfg: bool = False  # Qwen: real classifier-free guidance with a negative prompt
    takes_negative: bool = False
    batches_images: bool = False  # several source images in one call (else one per call)


FLUX2_KLEIN = Family("flux2-klein", "Flux2KleinPipeline", "Flux2KleinPipeline", "transformer")
QWEN_IMAGE_EDIT = Family(
    "qwen-image-edit",
    "QwenImageEditPlusPipeline",
    "QwenImagePipeline",
    "transformer",
    takes_true_cfg=True,
    takes_negative=True,
)
SDXL = Family(
    "sdxl",
    "StableDiffusionXLImg2ImgPipeline",
    "StableDiffusionXLPipeline",
    "unet",
    takes_strength=True,
    takes_negative=True,
    batches_images=True,
)
FAMILIES = {family.name: family for family in (FLUX2_KLEIN, QWEN_IMAGE_EDIT, SDXL)}
FAMILY_CHOICES = ("auto", *FAMILIES)

# Pipeline classes a saved model may name, by family.
_CLASS_FAMILIES = {
    "Flux2KleinPipeline": FLUX2_KLEIN,
    "Flux2KleinKVPipeline": FLUX2_KLEIN,
    "QwenImageEditPlusPipeline": QWEN_IMAGE_EDIT,
    "QwenImageEditPipeline": QWEN_IMAGE_EDIT,
    "QwenImagePipeline": QWEN_IMAGE_EDIT,
    "StableDiffusionXLPipeline": SDXL,
    "StableDiffusionXLImg2ImgPipeline": SDXL,
}

# BFL's FP8 repositories hold one single-file checkpoint in their own format, which diffusers
# cannot load; the BF16 repository of the same model is what runs (as in the reference).
FP8_EQUIVALENTS = {
    "black-forest-labs/flux.2-klein-4b-fp8": "black-forest-labs/FLUX.2-klein-4B",
    "black-forest-labs/flux.2-klein-9b-fp8": "black-forest-labs/FLUX.2-klein-9B",
    "black-forest-labs/flux.2-klein-base-4b-fp8": "black-forest-labs/FLUX.2-klein-base-4B",
    "black-forest-labs/flux.2-klein-base-9b-fp8": "black-forest-labs/FLUX.2-klein-base-9B",
}


def loadable_model(model: str) -> str:
    """The repository that diffusers loads for ``model`` (an FP8 id becomes its BF16 twin)."""
    return FP8_EQUIVALENTS.get(model.lower(), model)


def family_from_name(model: str) -> Family:
    """The family the model id suggests (the reference's rules: Qwen when nothing matches)."""
    name = model.lower()
    if "klein" in name or "flux.2" in name or "flux2" in name:
        return FLUX2_KLEIN
    if "stable-diffusion-xl" in name or "sdxl" in name:
        return SDXL
    return QWEN_IMAGE_EDIT


def family_from_folder(folder: Path) -> Family | None:
    """The family named by the pipeline class in ``folder/model_index.json``, if any."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _CLASS_FAMILIES.get(index.get("_class_name", "")) if isinstance(index, dict) else None


def pick_family(requested: str, model: str, folder: Path | None) -> Family:
    """``--family`` when given, else the saved pipeline's class, else the model id."""
    if requested != "auto":
        try:
            return FAMILIES[requested]
        except KeyError:
            raise DatasetyError(
                f"--family {requested!r}: choose one of {', '.join(FAMILY_CHOICES)}"
            ) from None
    return (folder and family_from_folder(folder)) or family_from_name(model)
