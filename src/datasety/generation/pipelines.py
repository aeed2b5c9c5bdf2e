"""Loading a diffusers pipeline once (offline-first) and running it with per-image seeds.

Everything heavy is imported inside the functions: ``datasety synthetic --dry-run`` and
``--image-api`` never import torch or diffusers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasety.core.errors import DatasetyError
from datasety.generation.families import Family, loadable_model, pick_family
from datasety.models.device import Device, choose_device
from datasety.models.extras import require
from datasety.models.loading import load_from_dir, model_dir
from datasety.models.qwen_vl import QWEN_EDIT_PIPELINES, image_only_processor

Note = Callable[[str], None]
EXTRA = "generate"

# The transformer class a GGUF file of each family is loaded into.
_GGUF_CLASSES = {
    "flux2-klein": "Flux2Transformer2DModel",
    "qwen-image-edit": "QwenImageTransformer2DModel",
}
# Tensor name prefixes of single-file checkpoints, by the pipeline component they belong to.
_DENOISER_PREFIXES = ("model.diffusion_model.", "transformer.", "unet.")
_VAE_PREFIXES = ("first_stage_model.", "vae.")


@dataclass(frozen=True)
class PipelineSettings:
    """Which pipeline to load and where it runs."""

    model: str
    family: str = "auto"
    device: str = "auto"
    weights: str | None = None
    gguf: str | None = None
    loras: tuple[str, ...] = ()
    cpu_offload: bool = False
    text_to_image: bool = False  # character: render prompts, no source image


@dataclass(frozen=True)
class Loaded:
    """A pipeline ready to call, and what its calls need to know."""

    pipeline: Any
    family: Family
    torch: Any
    device: Device
    generator_device: str

    def generators(self, seeds: Sequence[int]) -> list[Any]:
        """One torch generator per output image: its seed alone decides its noise."""
        return [
            self.torch.Generator(device=self.generator_device).manual_seed(seed) for seed in seeds
        ]

    def __call__(self, **kwargs: Any) -> list[Any]:
        """The pipeline's images for one call, under ``torch.inference_mode``."""
        with self.torch.inference_mode():
            return list(self.pipeline(**kwargs).images)


def import_diffusers(purpose: str) -> tuple[Any, Any]:
    """``(torch, diffusers)``, or one line naming the ``generate`` extra."""
    torch, diffusers, transformers = require(
        EXTRA, "torch", "diffusers", "transformers", purpose=purpose
    )
    # The command prints one line per image; library progress bars would fill a job's log.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    return torch, diffusers


def load_pipeline(settings: PipelineSettings, purpose: str, note: Note) -> Loaded:
    """Load the pipeline ``settings`` name, with its weights, GGUF transformer and LoRAs."""
    check_files(settings)
    torch, diffusers = import_diffusers(purpose)
    device = choose_device(torch, settings.device)
    repo_id = loadable_model(settings.model)
    if repo_id != settings.model:
        note(
            f"{settings.model} is an FP8 single-file checkpoint diffusers cannot load; "
            f"loading its BF16 equivalent {repo_id}"
        )
    started = time.monotonic()
    folder = model_dir(repo_id, note)
    family = pick_family(settings.family, repo_id, folder)
    class_name = family.text_class if settings.text_to_image else family.edit_class
    pipeline_class = getattr(diffusers, class_name, None)
    if pipeline_class is None:
        raise DatasetyError(
            f"diffusers {diffusers.__version__} has no {class_name}; upgrade it: "
            f"pip install -U 'datasety[{EXTRA}]'"
        )
    components: dict[str, Any] = {}
    if settings.gguf:
        components["transformer"] = load_gguf_transformer(
            diffusers, family, settings.gguf, folder, device.dtype
        )
    if device.dtype != torch.float32:  # float32 is what they are made in: no cast to log
        components["dtype"] = device.dtype
    # The Qwen-Image-Edit pipelines' processor is built below without torchvision.
    edits_with_qwen_vl = class_name in QWEN_EDIT_PIPELINES
    if edits_with_qwen_vl:
        components["processor"] = None
    pipeline = load_from_dir(pipeline_class, folder, repo_id, **components)
    if edits_with_qwen_vl:
        pipeline.processor = qwen_vl_processor(folder, repo_id, pipeline.tokenizer)
    if settings.weights:
        inject_weights(pipeline, family, Path(settings.weights), note)
    if settings.loras:
        load_loras(pipeline, settings.loras, note)
    generator_device = place(pipeline, device, settings.cpu_offload, note)
    pipeline.set_progress_bar_config(disable=True)
    note(
        f"Model {repo_id} ({family.name}, {class_name}) on {device.describe()}, "
        f"loaded in {time.monotonic() - started:.1f} s"
    )
    return Loaded(pipeline, family, torch, device, generator_device)


def qwen_vl_processor(folder: Path, repo_id: str, tokenizer: Any) -> Any:
    """The Qwen-Image-Edit pipelines' prompt processor from the model's ``processor/``
    folder: transformers' ``Qwen2VLProcessor`` without its video processor, which would need
    torchvision (no part of the ``generate`` extra: its PyPI wheel only imports beside the
    torch build it was made for). The same processor training uses."""
    try:
        return image_only_processor(folder / "processor", tokenizer)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetyError(f"cannot load model {repo_id!r}: {_first_line(exc)}") from exc


def check_files(settings: PipelineSettings) -> None:
    """Fail in a second, before any model loads, on a --weights/--gguf/--lora file that is
    not there (a LoRA that is no file must be a repository id: ``org/name``)."""
    for flag, path in (("--weights", settings.weights), ("--gguf", settings.gguf)):
        if path and not Path(path).is_file():
            raise DatasetyError(f"{flag} {path!r} is not a file")
    for spec in settings.loras:
        source, _ = parse_lora(spec)
        if not Path(source).is_file() and (source.count("/") != 1 or Path(source).suffix):
            raise DatasetyError(f"--lora {source!r} is neither a file nor a repository id")


def place(pipeline: Any, device: Device, cpu_offload: bool, note: Note) -> str:
    """Move the pipeline to its device (or let accelerate page it in); the generators' device."""
    if cpu_offload and device.name == "cuda":
        require(EXTRA, "accelerate", purpose="--cpu-offload")
        pipeline.enable_model_cpu_offload(device="cuda")
        note("--cpu-offload: each model moves to the GPU only while it runs")
        return "cpu"
    if cpu_offload:
        note(f"--cpu-offload has no effect on {device.name}; the pipeline stays there")
    if device.name != "cpu":  # loaded there already
        pipeline.to(device.name)
    # MPS generators are not reproducible across runs; noise from the CPU is.
    return "cpu" if device.name == "mps" else device.name


def load_gguf_transformer(
    diffusers: Any, family: Family, path: str, folder: Path, dtype: Any
) -> Any:
    """The family's transformer from a GGUF file, quantized weights computed in ``dtype``."""
    class_name = _GGUF_CLASSES.get(family.name)
    if class_name is None:
        raise DatasetyError(f"--gguf: diffusers loads no GGUF model for {family.name}")
    require(EXTRA, "gguf", purpose="--gguf")
    transformer_class = getattr(diffusers, class_name)
    try:
        return transformer_class.from_single_file(
            path,
            quantization_config=diffusers.GGUFQuantizationConfig(compute_dtype=dtype),
            dtype=dtype,
            config=str(folder),
            subfolder="transformer",
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise DatasetyError(f"--gguf {path}: cannot load it: {_first_line(exc)}") from exc


def inject_weights(pipeline: Any, family: Family, path: Path, note: Note) -> None:
    """Load a single-file checkpoint's tensors into the pipeline's denoiser (and VAE).

    Tensors named ``model.diffusion_model.*``, ``transformer.*`` or ``unet.*`` go to the
    denoiser, ``first_stage_model.*`` or ``vae.*`` to the VAE; a file with neither holds the
    denoiser alone (a fine-tuned transformer saved by diffusers). A file none of whose tensors
    fit the model is an error, not a silent no-op.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise DatasetyError(f"--weights {path}: not a safetensors file: {exc}") from exc
    parts: dict[str, dict[str, Any]] = {family.denoiser: {}, "vae": {}}
    for key, tensor in state.items():
        for component, prefixes in ((family.denoiser, _DENOISER_PREFIXES), ("vae", _VAE_PREFIXES)):
            prefix = next((p for p in prefixes if key.startswith(p)), None)
            if prefix:
                parts[component][key[len(prefix) :]] = tensor
                break
    if not any(parts.values()):
        parts[family.denoiser] = state
    for component, weights in parts.items():
        if not weights:
            continue
        module = getattr(pipeline, component)
        try:
            result = module.load_state_dict(weights, strict=False)
        except RuntimeError as exc:
            raise DatasetyError(f"--weights {path}: {_first_line(exc)}") from exc
        fitted = len(weights) - len(result.unexpected_keys)
        if fitted == 0:
            raise DatasetyError(
                f"--weights {path}: none of its {len(weights)} tensors fit the {component}"
            )
        note(f"--weights: {fitted} of {len(weights)} tensors loaded into the {component}")


def parse_lora(spec: str) -> tuple[str, float]:
    """``path[:scale]`` -> ``(path, scale)``; a scale is only what parses as a number."""
    head, sep, tail = spec.rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return spec, 1.0


def load_loras(pipeline: Any, specs: Sequence[str], note: Note) -> None:
    """Load each ``--lora`` (a .safetensors file, or a cached repository) at its scale."""
    require(EXTRA, "peft", purpose="--lora")
    names, scales = [], []
    for number, spec in enumerate(specs):
        source, scale = parse_lora(spec)
        name = f"lora_{number}"
        path = Path(source)
        if path.is_file():
            where, extra = str(path.parent), {"weight_name": path.name}
        else:
            try:
                where, extra = str(model_dir(source, note)), {}
            except DatasetyError as exc:
                raise DatasetyError(f"--lora {source}: {exc.message}") from exc
        try:
            pipeline.load_lora_weights(where, adapter_name=name, **extra)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise DatasetyError(f"--lora {source}: cannot load it: {_first_line(exc)}") from exc
        names.append(name)
        scales.append(scale)
        note(f"LoRA {source} at scale {scale:g}")
    pipeline.set_adapters(names, adapter_weights=scales)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
