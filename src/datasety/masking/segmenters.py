"""The three mask models behind ``--model``: one shape, so the driver treats them alike.

A segmenter is built once (models loaded through :mod:`datasety.models.loading`), then
``prepare`` turns each decoded image into model input on the decode threads and ``segment``
turns a batch of prepared images into one binary mask per image (0/255, the image's size,
the union over every keyword). Each model reads ``--threshold`` its own way, as the reference
does: CLIPSeg thresholds the per-pixel probability, SAM 3 the score of each instance it finds,
SAM 2 the detector's box score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from datasety.models.device import Device
from datasety.models.extras import model_class
from datasety.models.loading import Note, load_for_inference, load_from_dir, model_dir
from datasety.models.pixels import PixelSpec, read_spec

CLIPSEG_REPO = "CIDAS/clipseg-rd64-refined"
SAM3_REPO = "facebook/sam3"
SAM2_REPO = "facebook/sam2-hiera-large"
DETECTOR_REPO = "IDEA-Research/grounding-dino-base"

IMAGENET_DEFAULT = PixelSpec(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
SAM3_TEXT_LENGTH = 32  # Sam3Processor pads every prompt to 32 tokens


@dataclass(frozen=True)
class Prepared:
    """A decoded image's size, its model input, and the image when a processor needs it."""

    width: int
    height: int
    pixels: np.ndarray
    image: Image.Image | None = None


class Segmenter(Protocol):
    repo: str
    spec: PixelSpec

    def __init__(
        self,
        torch: Any,
        transformers: Any,
        device: Device,
        keywords: list[str],
        threshold: float,
        note: Note,
    ) -> None: ...

    def prepare(self, image: Image.Image, width: int, height: int) -> Prepared:
        """Model input for ``image`` (perhaps decoded smaller than its ``width`` x ``height``)."""
        ...

    def segment(self, batch: list[Prepared]) -> list[np.ndarray]: ...


def build_segmenter(
    model: str,
    torch: Any,
    transformers: Any,
    device: Device,
    keywords: list[str],
    threshold: float,
    note: Note,
) -> Segmenter:
    """The segmenter for ``--model`` (sam3, sam2 or clipseg), its models loaded."""
    builders: dict[str, type[Segmenter]] = {"clipseg": ClipSeg, "sam3": Sam3, "sam2": GroundedSam2}
    return builders[model](torch, transformers, device, keywords, threshold, note)


def _binary(probabilities: Any, threshold: float) -> np.ndarray:
    return np.where(probabilities.float().cpu().numpy() >= threshold, 255, 0).astype(np.uint8)


def _upsample(torch: Any, maps: Any, height: int, width: int) -> Any:
    """``(N, h, w)`` maps resized to ``(N, height, width)``, bilinear."""
    return torch.nn.functional.interpolate(
        maps[None].float(), size=(height, width), mode="bilinear", align_corners=False
    )[0]


def drop_unused_layers(model: Any) -> None:
    """Cut CLIPSeg's vision tower after the last layer its decoder reads.

    The decoder takes the activations of ``extract_layers`` only (3, 6 and 9 of 12 in
    CIDAS/clipseg-rd64-refined); the layers after the last of them feed just a pooled output
    that segmentation ignores. Dropping them gives the same masks for a sixth less compute.
    """
    encoder = model.clip.vision_model.encoder
    encoder.layers = encoder.layers[: max(model.config.extract_layers) + 1]


class ClipSeg:
    """CLIPSeg: a probability per pixel for each keyword; keywords are encoded once."""

    repo = CLIPSEG_REPO

    def __init__(
        self,
        torch: Any,
        transformers: Any,
        device: Device,
        keywords: list[str],
        threshold: float,
        note: Note,
    ) -> None:
        self.torch, self.device, self.threshold = torch, device, threshold
        folder = model_dir(self.repo, note)
        self.spec = read_spec(folder, PixelSpec(size=(352, 352)))
        tokenizer = load_from_dir(transformers.AutoTokenizer, folder, self.repo)
        self.model = load_for_inference(
            model_class(transformers, "CLIPSegForImageSegmentation", "mask"),
            folder,
            self.repo,
            device,
            dtype=device.dtype,
        )
        drop_unused_layers(self.model)
        text = tokenizer(keywords, padding=True, return_tensors="pt").to(device.name)
        with torch.inference_mode():
            self.conditions = self.model.get_conditional_embeddings(
                batch_size=len(keywords),
                input_ids=text["input_ids"],
                attention_mask=text["attention_mask"],
            )
        self.keywords = len(keywords)

    def prepare(self, image: Image.Image, width: int, height: int) -> Prepared:
        return Prepared(width, height, self.spec.pixels(image))

    def segment(self, batch: list[Prepared]) -> list[np.ndarray]:
        torch, count = self.torch, self.keywords
        pixels = torch.from_numpy(np.stack([item.pixels for item in batch]))
        pixels = pixels.to(self.device.name, self.device.dtype).repeat_interleave(count, 0)
        conditions = self.conditions.repeat(len(batch), 1)
        logits = self.model(pixel_values=pixels, conditional_embeddings=conditions).logits
        probabilities = logits.reshape(len(batch), count, *logits.shape[-2:]).sigmoid()
        union = probabilities.max(dim=1).values
        return [
            _binary(_upsample(torch, union[i : i + 1], item.height, item.width)[0], self.threshold)
            for i, item in enumerate(batch)
        ]


class Sam3:
    """SAM 3: instances found for each keyword; the image is encoded once for all keywords."""

    repo = SAM3_REPO

    def __init__(
        self,
        torch: Any,
        transformers: Any,
        device: Device,
        keywords: list[str],
        threshold: float,
        note: Note,
    ) -> None:
        self.torch, self.device, self.threshold = torch, device, threshold
        folder = model_dir(self.repo, note)
        self.spec = read_spec(folder, PixelSpec(size=(1008, 1008)))
        tokenizer = load_from_dir(transformers.AutoTokenizer, folder, self.repo)
        self.model = load_for_inference(
            model_class(transformers, "Sam3Model", "mask"),
            folder,
            self.repo,
            device,
            dtype=device.dtype,
        )
        self.prompts = [
            tokenizer(
                keyword,
                padding="max_length",
                max_length=SAM3_TEXT_LENGTH,
                truncation=True,
                return_tensors="pt",
            ).to(device.name)
            for keyword in keywords
        ]

    def prepare(self, image: Image.Image, width: int, height: int) -> Prepared:
        return Prepared(width, height, self.spec.pixels(image))

    def segment(self, batch: list[Prepared]) -> list[np.ndarray]:
        torch, size = self.torch, len(batch)
        pixels = torch.from_numpy(np.stack([item.pixels for item in batch]))
        vision = self.model.get_vision_features(
            pixel_values=pixels.to(self.device.name, self.device.dtype)
        )
        masks = [np.zeros((item.height, item.width), np.uint8) for item in batch]
        for prompt in self.prompts:
            outputs = self.model(
                vision_embeds=vision,
                input_ids=prompt["input_ids"].expand(size, -1),
                attention_mask=prompt["attention_mask"].expand(size, -1),
            )
            scores = outputs.pred_logits.sigmoid()
            if outputs.presence_logits is not None:
                scores = scores * outputs.presence_logits.sigmoid()
            for i, item in enumerate(batch):
                keep = scores[i] > self.threshold
                if not bool(keep.any()):
                    continue
                found = outputs.pred_masks[i][keep].sigmoid()
                full = _upsample(torch, found, item.height, item.width).max(dim=0).values
                masks[i] = np.maximum(masks[i], _binary(full, 0.5))
        return masks


class GroundedSam2:
    """SAM 2 inside the boxes a text-grounding detector (Grounding DINO) finds."""

    repo = f"{SAM2_REPO} + {DETECTOR_REPO}"

    def __init__(
        self,
        torch: Any,
        transformers: Any,
        device: Device,
        keywords: list[str],
        threshold: float,
        note: Note,
    ) -> None:
        self.torch, self.device, self.threshold = torch, device, threshold
        # float32 on every device: the detector's processor hands over float32 tensors that
        # its cross-attention cannot mix with 16-bit weights (the reference does the same).
        detector_dir = model_dir(DETECTOR_REPO, note)
        self.detector_processor = load_from_dir(
            transformers.AutoProcessor, detector_dir, DETECTOR_REPO
        )
        self.detector = load_for_inference(
            model_class(transformers, "AutoModelForZeroShotObjectDetection", "mask"),
            detector_dir,
            DETECTOR_REPO,
            device,
        )
        sam_dir = model_dir(SAM2_REPO, note)
        self.spec = read_spec(
            sam_dir,
            PixelSpec(size=(1024, 1024), mean=IMAGENET_DEFAULT.mean, std=IMAGENET_DEFAULT.std),
        )
        self.sam = load_for_inference(
            model_class(transformers, "Sam2Model", "mask"), sam_dir, SAM2_REPO, device
        )
        self.text = ". ".join(keywords) + "."

    def prepare(self, image: Image.Image, width: int, height: int) -> Prepared:
        return Prepared(width, height, self.spec.pixels(image), image)

    def segment(self, batch: list[Prepared]) -> list[np.ndarray]:
        torch = self.torch
        images = [item.image for item in batch]
        inputs = self.detector_processor(
            images=images, text=[self.text] * len(batch), return_tensors="pt", padding=True
        ).to(self.device.name)
        detected = self.detector_processor.post_process_grounded_object_detection(
            self.detector(**inputs),
            inputs["input_ids"],
            threshold=self.threshold,
            target_sizes=[(item.height, item.width) for item in batch],
        )
        masks = []
        for item, found in zip(batch, detected, strict=True):
            mask = np.zeros((item.height, item.width), np.uint8)
            boxes = found["boxes"].float().cpu()
            if len(boxes):
                height, width = self.spec.size or (1024, 1024)
                scale = torch.tensor([width / item.width, height / item.height] * 2)
                pixels = torch.from_numpy(item.pixels[None]).to(self.device.name)
                outputs = self.sam(
                    pixel_values=pixels,
                    input_boxes=(boxes * scale)[None].to(self.device.name),
                    multimask_output=False,
                )
                logits = outputs.pred_masks[0].flatten(0, 1)  # (boxes, h, w)
                union = _upsample(torch, logits, item.height, item.width).max(dim=0).values
                mask = np.where(union.cpu().numpy() > 0, 255, 0).astype(np.uint8)
            masks.append(mask)
        return masks
