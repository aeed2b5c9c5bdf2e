"""``datasety character``: render a list of prompts into a captioned image dataset.

Image ``k`` (1-based) of ``OUT`` is ``OUT/000k.png`` with its prompt in ``OUT/000k.txt``;
``OUT/prompts.txt`` keeps the whole list (``--prompts-file`` takes it back). Locally the
text-to-image pipeline loads once and renders ``--batch-size`` prompts per call; image ``k``
is seeded with ``seed + k - 1``: the same seed and batch size give the same bytes on the same
device (another batch size starts from the same noise; batched kernels may round differently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_write_text
from datasety.core.progress import Progress
from datasety.core.randomness import fresh_seed
from datasety.generation.image_api import ImageApi, ImageApiSettings, decode_image
from datasety.generation.pairs import save_image
from datasety.generation.pipelines import PipelineSettings, load_pipeline
from datasety.generation.synthetic import AUTO_GPU_BATCH
from datasety.models.batching import run_batches
from datasety.models.openai_api import RequestFailed, run_concurrently

PROMPTS_FILE = "prompts.txt"


@dataclass(frozen=True)
class RenderSettings:
    """How every image is rendered."""

    steps: int = 4
    cfg_scale: float = 4.0
    seed: int | None = None
    height: int = 1024
    width: int = 1024
    output_format: str = "png"
    batch_size: int = 0


@dataclass(frozen=True)
class Shot:
    """One prompt and the files it becomes."""

    number: int  # 1-based, as in the file names
    prompt: str
    image: Path
    caption: Path

    @property
    def name(self) -> str:
        return self.image.name


def plan_shots(prompts: Sequence[str], output_dir: Path, output_format: str) -> list[Shot]:
    return [
        Shot(k, prompt, output_dir / f"{k:04d}.{output_format}", output_dir / f"{k:04d}.txt")
        for k, prompt in enumerate(prompts, 1)
    ]


def write_prompts_file(output_dir: Path, prompts: Sequence[str]) -> Path:
    """``OUT/prompts.txt``, one prompt a line (what ``--prompts-file`` reads back)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / PROMPTS_FILE
    atomic_write_text(path, "\n".join(prompts) + "\n", fsync=False)
    return path


def save_shot(shot: Shot, image: Any, output_format: str) -> None:
    """The caption first, then the image: an image on disk always has its prompt."""
    atomic_write_text(shot.caption, shot.prompt, fsync=False)
    save_image(image, shot.image, output_format)


def render_locally(
    shots: Sequence[Shot],
    settings: RenderSettings,
    pipeline_settings: PipelineSettings,
    progress: Progress,
) -> None:
    """Render every shot with the text-to-image pipeline of ``pipeline_settings``."""
    if not shots:
        return
    loaded = load_pipeline(pipeline_settings, "character", progress.note)
    seed = settings.seed if settings.seed is not None else fresh_seed()
    if settings.seed is None:
        progress.note(f"Seed {seed} (pass --seed {seed} to repeat this run)")
    batch_size = settings.batch_size
    if batch_size <= 0:
        batch_size = AUTO_GPU_BATCH if loaded.device.name == "cuda" else 1

    def render(batch: list[Shot]) -> list[Any]:
        return loaded(
            prompt=[shot.prompt for shot in batch],
            height=settings.height,
            width=settings.width,
            num_inference_steps=settings.steps,
            guidance_scale=settings.cfg_scale,
            generator=loaded.generators([seed + shot.number - 1 for shot in batch]),
        )

    def handle(shot: Shot, _data: Shot, image: Any) -> None:
        try:
            save_shot(shot, image, settings.output_format)
        except OSError as exc:
            progress.failed(shot.name, f"cannot write {exc.filename}: {exc}")
            return
        progress.processed(shot.name, shot.prompt[:80])

    run_batches(
        loaded.torch,
        list(shots),
        lambda shot: (shot, 0),  # nothing to decode: the prompt is the input
        render,
        handle,
        lambda shot, reason: progress.failed(shot.name, reason),
        lambda: progress.n_processed,
        batch_size,
        pipeline_settings.model,
    )


def render_via_api(
    shots: Sequence[Shot],
    settings: RenderSettings,
    api_settings: ImageApiSettings,
    concurrency: int,
    progress: Progress,
) -> None:
    """Render every shot through ``images/generations``; a failed one is reported and skipped."""
    if not shots:
        return
    api = ImageApi(api_settings)
    progress.note(f"Image API {api_settings.endpoint.base_url}, model {api_settings.model}")

    def generate(shot: Shot) -> Any:
        (data,) = api.generate(shot.prompt, 1, (settings.width, settings.height))
        return decode_image(data)

    try:
        for shot, result in run_concurrently(generate, shots, concurrency, api.api.stop):
            if isinstance(result, RequestFailed):
                progress.failed(shot.name, str(result))
                continue
            try:
                save_shot(shot, result, settings.output_format)
            except OSError as exc:
                progress.failed(shot.name, f"cannot write {exc.filename}: {exc}")
                continue
            progress.processed(shot.name, shot.prompt[:80])
    finally:
        api.close()
