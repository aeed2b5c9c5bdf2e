"""``datasety synthetic``: edit every source image with one prompt, locally or through an API.

Locally the pipeline is loaded once and reused for every image. Sources are decoded on
threads ahead of the model (:func:`datasety.models.batching.run_batches`); SDXL img2img takes
several same-sized sources per call, the instruction-edit families one source per call with
its ``--num-images`` variants batched. Every output image has its own generator seeded with
``seed + k`` (k = 0 for the first variant): a seed gives the same bytes on the same device
and batch size, whatever the other files in the folder (another batch size starts from the
same noise; batched kernels may round differently).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.core.randomness import fresh_seed
from datasety.generation.image_api import ImageApi, ImageApiSettings, decode_image
from datasety.generation.pairs import EditTarget, write_pairs
from datasety.generation.pipelines import Loaded, PipelineSettings, load_pipeline
from datasety.models.batching import decode_rgb, image_bytes, run_batches
from datasety.models.openai_api import RequestFailed, run_concurrently

AUTO_GPU_BATCH = 8  # --batch-size 0 on a GPU: start here, halve on out-of-memory


@dataclass(frozen=True)
class EditSettings:
    """Everything ``datasety synthetic`` takes besides the files and the model."""

    prompt: str
    steps: int = 4
    cfg_scale: float = 2.5
    true_cfg_scale: float = 4.0
    negative_prompt: str = " "
    num_images: int = 1
    seed: int | None = None
    strength: float = 0.7
    output_format: str = "png"
    batch_size: int = 0

    def seeds(self, base: int) -> list[int]:
        return [base + k for k in range(self.num_images)]


def select_targets(
    targets: Sequence[EditTarget], skip_existing: bool, progress: Progress
) -> list[EditTarget]:
    """The targets to make; with ``skip_existing``, those whose outputs all exist are skipped."""
    todo = []
    for target in targets:
        if skip_existing and target.done():
            progress.skipped(target.name, "output exists")
        else:
            todo.append(target)
    return todo


def describe_plan(targets: Sequence[EditTarget], progress: Progress) -> None:
    """``--dry-run``: each source and the files it would make."""
    for target in targets:
        files = []
        for pair in target.pairs:
            files += [str(p) for p in (pair.control, pair.target, pair.caption) if p is not None]
        progress.processed(target.name, "would write " + ", ".join(files))


def edit_locally(
    targets: Sequence[EditTarget],
    settings: EditSettings,
    pipeline_settings: PipelineSettings,
    progress: Progress,
) -> None:
    """Edit every target's source with the diffusers pipeline ``pipeline_settings`` names."""
    if not targets:
        return
    loaded = load_pipeline(pipeline_settings, "synthetic", progress.note)
    if loaded.family.takes_strength and int(settings.steps * settings.strength) < 1:
        raise DatasetyError(
            f"--steps {settings.steps} at --strength {settings.strength:g} leaves no denoising "
            "step (img2img runs steps x strength of them); raise either"
        )
    seed = settings.seed if settings.seed is not None else fresh_seed()
    if settings.seed is None:
        progress.note(f"Seed {seed} (pass --seed {seed} to repeat this run)")
    seeds = settings.seeds(seed)
    batch_size = settings.batch_size
    if batch_size <= 0:
        batch_size = AUTO_GPU_BATCH if loaded.device.name == "cuda" else 1
    if not loaded.family.batches_images:
        batch_size = 1  # the edit pipelines read a list of images as references for ONE edit

    def decode(target: EditTarget) -> tuple[Any, int]:
        image = decode_rgb(target.source)
        return image, image_bytes(image)

    def handle(target: EditTarget, _image: Any, outputs: list[Any]) -> None:
        try:
            write_pairs(target, outputs, settings.prompt, settings.output_format)
        except OSError as exc:
            progress.failed(target.name, f"cannot write {exc.filename or target.name}: {exc}")
            return
        progress.processed(target.name, f"{len(outputs)} image(s)")

    run_batches(
        loaded.torch,
        list(targets),
        decode,
        lambda images: edit_batch(loaded, images, settings, seeds),
        handle,
        lambda target, reason: progress.failed(target.name, reason),
        lambda: progress.n_processed,
        batch_size,
        pipeline_settings.model,
    )


def edit_batch(
    loaded: Loaded, images: list[Any], settings: EditSettings, seeds: list[int]
) -> list[list[Any]]:
    """The ``--num-images`` edits of each image, in order."""
    if not loaded.family.batches_images:
        return [edit_one(loaded, image, settings, seeds) for image in images]
    results: list[list[Any]] = []
    for group in same_size_runs(images):
        results += split_on_oom(loaded, group, lambda part: img2img(loaded, part, settings, seeds))
    return results


def edit_one(loaded: Loaded, image: Any, settings: EditSettings, seeds: list[int]) -> list[Any]:
    """One source's variants from an instruction-edit pipeline (FLUX.2-klein, Qwen)."""
    kwargs: dict[str, Any] = {
        "image": [image],
        "prompt": settings.prompt,
        "num_inference_steps": settings.steps,
        "guidance_scale": settings.cfg_scale,
        "num_images_per_prompt": settings.num_images,
        "generator": loaded.generators(seeds),
    }
    if loaded.family.takes_true_cfg:
        kwargs["true_cfg_scale"] = settings.true_cfg_scale
    if loaded.family.takes_negative:
        kwargs["negative_prompt"] = settings.negative_prompt
    return loaded(**kwargs)


def img2img(
    loaded: Loaded, images: list[Any], settings: EditSettings, seeds: list[int]
) -> list[list[Any]]:
    """SDXL img2img over several same-sized sources in one call, each with its variants.

    The sources are repeated per variant here, not with ``num_images_per_prompt``, so the
    order of outputs (and which generator made which) is ours, not the pipeline's.
    """
    repeated = [image for image in images for _ in seeds]
    kwargs: dict[str, Any] = {
        "image": repeated,
        "prompt": [settings.prompt] * len(repeated),
        "strength": settings.strength,
        "num_inference_steps": settings.steps,
        "guidance_scale": settings.cfg_scale,
        "generator": loaded.generators(seeds * len(images)),
    }
    if settings.negative_prompt.strip():
        kwargs["negative_prompt"] = [settings.negative_prompt] * len(repeated)
    outputs = loaded(**kwargs)
    n = len(seeds)
    return [outputs[i * n : (i + 1) * n] for i in range(len(images))]


def same_size_runs(images: list[Any]) -> list[list[Any]]:
    """Consecutive images of one size (a batched call resizes every image to the first's)."""
    runs: list[list[Any]] = []
    for image in images:
        if runs and runs[-1][0].size == image.size:
            runs[-1].append(image)
        else:
            runs.append([image])
    return runs


def split_on_oom(
    loaded: Loaded, images: list[Any], call: Callable[[list[Any]], list[list[Any]]]
) -> list[list[Any]]:
    """``call(images)``; when the GPU runs out of memory, the two halves one after the other
    (``--batch-size 0``: the largest batch that fits, found by halving)."""
    try:
        return call(images)
    except loaded.torch.cuda.OutOfMemoryError:
        if len(images) == 1:
            raise
        loaded.torch.cuda.empty_cache()
        half = len(images) // 2
        return split_on_oom(loaded, images[:half], call) + split_on_oom(loaded, images[half:], call)


def edit_via_api(
    targets: Sequence[EditTarget],
    settings: EditSettings,
    api_settings: ImageApiSettings,
    concurrency: int,
    progress: Progress,
) -> None:
    """Edit every target through ``images/edits``, ``concurrency`` requests at a time; an image
    that fails after the retries is reported and the others go on."""
    if not targets:
        return
    api = ImageApi(api_settings)
    progress.note(f"Image API {api_settings.endpoint.base_url}, model {api_settings.model}")

    def edit(target: EditTarget) -> list[Any]:
        answers = api.edit(target.source, settings.prompt, settings.num_images)
        return [decode_image(data) for data in answers]

    try:
        for target, result in run_concurrently(edit, targets, concurrency, api.api.stop):
            if isinstance(result, RequestFailed):
                progress.failed(target.name, str(result))
                continue
            try:
                write_pairs(target, result, settings.prompt, settings.output_format)
            except OSError as exc:
                progress.failed(target.name, f"cannot write {exc.filename}: {exc}")
                continue
            progress.processed(target.name, f"{len(result)} image(s)")
    finally:
        api.close()
