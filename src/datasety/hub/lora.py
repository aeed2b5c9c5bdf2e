"""What a LoRA's ``.safetensors`` file says about itself, for its model card.

A safetensors file starts with an 8-byte little-endian length and a JSON header whose
``__metadata__`` holds string pairs. Trainers write their settings there: kohya's sd-scripts
as ``ss_*`` keys, others as the ``modelspec.*`` keys of the Stability AI model spec. Only the
header is read (no tensors, no torch).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from datasety.core.errors import DatasetyError

HEADER_LIMIT = 100 * 1024 * 1024  # the format's own limit on the JSON header

BASE_MODEL_KEYS = (
    "modelspec.base_model",
    "base_model",
    "ss_base_model",
    "ss_sd_model_name",
    "ss_base_model_version",
    "modelspec.architecture",
)
TRIGGER_KEYS = ("modelspec.trigger_phrase", "trigger_phrase", "trigger_words", "instance_prompt")
# Settings worth a line on the card, in this order, with their labels.
SETTINGS = {
    "ss_network_module": "network",
    "ss_network_dim": "rank",
    "ss_network_alpha": "alpha",
    "ss_learning_rate": "learning rate",
    "ss_unet_lr": "UNet learning rate",
    "ss_text_encoder_lr": "text encoder learning rate",
    "ss_max_train_steps": "steps",
    "ss_num_epochs": "epochs",
    "ss_train_batch_size": "batch size",
    "ss_resolution": "resolution",
    "ss_optimizer": "optimizer",
    "ss_lr_scheduler": "scheduler",
    "ss_mixed_precision": "precision",
    "ss_seed": "seed",
    "ss_num_train_images": "training images",
    "modelspec.resolution": "resolution",
    "modelspec.date": "date",
    "modelspec.title": "title",
}
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoraFacts:
    """The card-worthy facts of one weights file."""

    file: str
    base_model: str | None = None
    triggers: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def base_model_id(self) -> str | None:
        """The base model when it names a Hub repository (``owner/name``), for the card's
        ``base_model`` field, which the Hub links and validates."""
        return self.base_model if self.base_model and REPO_ID.match(self.base_model) else None


def read_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of the safetensors file at ``path`` (empty when it has none)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) != 8:
            raise DatasetyError(f"{path.name} is not a safetensors file (too short)")
        (length,) = struct.unpack("<Q", head)
        if length > HEADER_LIMIT:
            raise DatasetyError(f"{path.name} is not a safetensors file (header too large)")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise DatasetyError(f"{path.name} is not a safetensors file (bad header)") from exc
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        return {}
    return {str(k): str(v) for k, v in metadata.items()}


def lora_facts(name: str, metadata: dict[str, str]) -> LoraFacts:
    """Base model, trigger words and settings from a weights file's metadata."""
    facts = LoraFacts(name)
    facts.base_model = next((metadata[k] for k in BASE_MODEL_KEYS if metadata.get(k)), None)
    for key in TRIGGER_KEYS:
        if metadata.get(key):
            facts.triggers = _split_triggers(metadata[key])
            break
    else:
        facts.triggers = _kohya_triggers(metadata.get("ss_tag_frequency"))
    for key, label in SETTINGS.items():
        value = metadata.get(key, "").strip()
        if value and value != "None" and label not in facts.settings:
            facts.settings[label] = value
    return facts


def _split_triggers(text: str) -> list[str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, list):
        return [str(item).strip() for item in parsed if str(item).strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def _kohya_triggers(tag_frequency: str | None) -> list[str]:
    """kohya names each dataset folder ``<repeats>_<trigger>``; its tag frequencies are keyed
    by those folder names."""
    try:
        folders = json.loads(tag_frequency) if tag_frequency else {}
    except ValueError:
        return []
    triggers = []
    for folder in folders if isinstance(folders, dict) else ():
        repeats, sep, trigger = str(folder).partition("_")
        if sep and repeats.isdigit() and trigger.strip():
            triggers.append(trigger.strip())
    return triggers
