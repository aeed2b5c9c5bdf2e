"""Scores per image for each query (CLIP) or label (NudeNet), in [0, 1].

* CLIP: ``sigmoid(logit / 100)`` of each text query against the image, the reference's
  score, so a threshold carries over (with CLIP's logit scale of 100 that is
  ``sigmoid(cosine similarity)``). The queries are encoded once; images go in batches.
* NudeNet: the highest detection score of each label (0 when it is not detected). The
  ``nudenet`` package ships its ONNX detector, so nothing is downloaded.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from PIL import Image

from datasety.core.errors import DatasetyError
from datasety.models.device import Device
from datasety.models.extras import model_class, require
from datasety.models.loading import Note, load_for_inference, load_from_dir, model_dir
from datasety.models.pixels import PixelSpec, read_spec

CLIP_REPO = "openai/clip-vit-base-patch32"
CLIP_PIXELS = PixelSpec(
    shortest_edge=224,
    crop=(224, 224),
    resample=Image.Resampling.BICUBIC,
    mean=(0.48145466, 0.4578275, 0.40821073),
    std=(0.26862954, 0.26130258, 0.27577711),
)
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)  # fmt: skip
NUDENET_INPUT = 320


class Scorer(Protocol):
    repo: str

    def min_decode_size(self) -> tuple[int, int]: ...

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Model input for one decoded image (runs on the decode threads)."""
        ...

    def scores(self, batch: list[np.ndarray]) -> list[list[float]]:
        """One score per query or label for each image of ``batch``."""
        ...


class ClipScorer:
    repo = CLIP_REPO

    def __init__(
        self, torch: Any, transformers: Any, device: Device, queries: list[str], note: Note
    ) -> None:
        self.torch, self.device = torch, device
        folder = model_dir(self.repo, note)
        self.spec = read_spec(folder, CLIP_PIXELS)
        tokenizer = load_from_dir(transformers.AutoTokenizer, folder, self.repo)
        self.model = load_for_inference(
            model_class(transformers, "CLIPModel", "filter"),
            folder,
            self.repo,
            device,
            dtype=device.dtype,
        )
        text = tokenizer(queries, padding=True, return_tensors="pt").to(device.name)
        with torch.inference_mode():
            features = _features(self.model.get_text_features(**text))
            self.text = features / features.norm(dim=-1, keepdim=True)
            self.scale = self.model.logit_scale.exp()

    def min_decode_size(self) -> tuple[int, int]:
        return self.spec.min_decode_size()

    def prepare(self, image: Image.Image) -> np.ndarray:
        return self.spec.pixels(image)

    def scores(self, batch: list[np.ndarray]) -> list[list[float]]:
        pixels = self.torch.from_numpy(np.stack(batch)).to(self.device.name, self.device.dtype)
        features = _features(self.model.get_image_features(pixel_values=pixels))
        features = features / features.norm(dim=-1, keepdim=True)
        logits = self.scale * features @ self.text.T
        values: list[list[float]] = (logits.float() / 100.0).sigmoid().cpu().tolist()
        return values


def _features(output: Any) -> Any:
    """A features tensor from ``get_*_features`` (newer transformers wrap it in an output)."""
    return getattr(output, "pooler_output", output)


class NudeNetScorer:
    repo = "nudenet 320n (shipped with the nudenet package)"

    def __init__(self, labels: list[str]) -> None:
        (nudenet,) = require("filter", "nudenet", purpose="filter --model nudenet")
        unknown = [label for label in labels if label.upper() not in NUDENET_LABELS]
        if unknown:
            raise DatasetyError(
                f"unknown NudeNet label {unknown[0]!r}; labels: {', '.join(NUDENET_LABELS)}"
            )
        self.labels = [label.upper() for label in labels]
        self.detector = nudenet.NudeDetector(inference_resolution=NUDENET_INPUT)

    def min_decode_size(self) -> tuple[int, int]:
        return NUDENET_INPUT, NUDENET_INPUT

    def prepare(self, image: Image.Image) -> np.ndarray:
        # NudeNet takes OpenCV arrays and converts RGBA to BGR itself.
        return np.asarray(image.convert("RGBA"))

    def scores(self, batch: list[np.ndarray]) -> list[list[float]]:
        found = self.detector.detect_batch(batch, batch_size=len(batch))
        return [
            [
                max((d["score"] for d in detections if d["class"] == label), default=0.0)
                for label in self.labels
            ]
            for detections in found
        ]
