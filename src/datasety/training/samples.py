"""Sample images while training: what the LoRA makes of a few prompts, at every checkpoint.

At each ``--save-every`` step (and once more at the end) the pipeline renders each sample
prompt with the current LoRA at a fixed seed, so the images of successive steps differ only
by the training in between: ``<output stem>.samples/step-000250-0.png``, with the prompt
beside it as ``step-000250-0.txt`` (the folder reads as a captioned dataset). Each file is
written to a temporary name and renamed: a cancel never leaves half an image.

The prompts are ``--sample-prompt`` when given; otherwise the captions of the
``--validation-split`` images (what the LoRA did not train on), else of the first training
images, at most :data:`SAMPLE_LIMIT` of them. An edit LoRA (control/target pairs) samples each
caption with its pair's control images as the pipeline's reference images, and each
``--sample-prompt`` with the first pair's. Their embeddings are encoded once with the
training captions' (into the same cache), so sampling needs neither text encoder: the pipeline
is the denoiser being trained (shared, not copied), the VAE and the scheduler.

Sampling forks the random state (CPU and CUDA) and restores it: a run that samples computes
the same losses as one that does not, so ``--resume`` stays exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from datasety.core.atomic import atomic_path
from datasety.training.data import Sample, bucket_for

SAMPLE_LIMIT = 4


@dataclass(frozen=True)
class SamplePrompt:
    text: str
    sample: Sample  # the image it stands for: an edit pair's controls are the references


def sample_prompts(
    requested: tuple[str, ...], validation: list[Sample], train_set: list[Sample]
) -> list[SamplePrompt]:
    """The prompts to render: ``requested``, else up to :data:`SAMPLE_LIMIT` distinct
    non-empty captions of the validation images, else of the training images (with their
    controls, for edit pairs)."""
    source = validation or train_set
    if requested:
        return [SamplePrompt(text, source[0]) for text in requested]
    prompts: list[SamplePrompt] = []
    seen: set[tuple[str, tuple[Path, ...]]] = set()
    for sample in source:
        key = (sample.caption, tuple(control.path for control in sample.controls))
        if sample.caption and key not in seen:
            seen.add(key)
            prompts.append(SamplePrompt(sample.caption, sample))
        if len(prompts) == SAMPLE_LIMIT:
            break
    return prompts


def samples_dir(output: Path) -> Path:
    return output.with_name(output.stem + ".samples")


def sample_path(output: Path, step: int, index: int) -> Path:
    return samples_dir(output) / f"step-{step:06d}-{index}.png"


@dataclass
class Sampler:
    """Renders the sample prompts with the denoiser as it is now (see the module docstring)."""

    family: Any
    model_dir: Path
    output: Path
    prompts: list[SamplePrompt]
    prompt_keys: list[str]
    empty_keys: list[str]  # each prompt's negative: the empty caption (with its control)
    cache: Any
    image_size: int
    steps: int
    seed: int
    dtype: Any
    _pipe: Any = field(default=None, repr=False)

    def render(self, denoiser: Any, step: int, accelerator: Any, write: bool = True) -> list[Path]:
        """Write one image per prompt for ``step``; returns their paths. ``write=False``:
        render only (an FSDP process other than the main one takes part in each forward)."""
        torch = self.family.torch
        device = accelerator.device
        if self._pipe is None:
            self._pipe = self._load_pipeline(denoiser, device)
        width, height = bucket_for(1, 1, self.image_size)
        written = []
        was_training = denoiser.training
        denoiser.eval()
        cuda = [device] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=cuda), torch.no_grad(), accelerator.autocast():
                for index, (prompt, key, empty) in enumerate(
                    zip(self.prompts, self.prompt_keys, self.empty_keys, strict=True)
                ):
                    inputs = self.family.sample_inputs(self.cache.load(key), self.cache.load(empty))
                    extra = {}
                    if prompt.sample.controls:
                        references = [read_rgb(c.path) for c in prompt.sample.controls]
                        # A list for several: the original Qwen-Image-Edit takes one image.
                        extra["image"] = references if len(references) > 1 else references[0]
                    image = self._pipe(
                        **{k: v[None].to(device) for k, v in inputs.items()},
                        height=height,
                        width=width,
                        num_inference_steps=self.steps,
                        generator=torch.Generator().manual_seed(self.seed),
                        output_type="pil",
                        **extra,
                    ).images[0]
                    if write:
                        written.append(self._save(image, prompt, step, index))
        finally:
            denoiser.train(was_training)
        return written

    def _load_pipeline(self, denoiser: Any, device: Any) -> Any:
        """The family's pipeline around ``denoiser``, without text encoders, tokenizers or
        processors (the prompts are cached embeddings); the VAE is the one model loaded."""
        index = json.loads((self.model_dir / "model_index.json").read_text(encoding="utf-8"))
        encoders = ("text_encoder", "tokenizer", "processor")  # Qwen-Image-Edit's processor
        dropped = {name: None for name in index if name.startswith(encoders)}
        cls = getattr(self.family.diffusers, self.family.sampling_pipeline())
        pipe = cls.from_pretrained(
            self.model_dir, dtype=self.dtype, **dropped,
            **{self.family.denoiser_name: denoiser},
        )  # fmt: skip
        pipe.vae.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _save(self, image: Any, prompt: SamplePrompt, step: int, index: int) -> Path:
        dest = sample_path(self.output, step, index)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            image.save(tmp, format="PNG")
        with atomic_path(dest.with_suffix(".txt")) as tmp:
            tmp.write_text(prompt.text + "\n", encoding="utf-8")
        return dest


def read_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")
