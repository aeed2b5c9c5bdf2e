"""The training loop: one loop on accelerate, from one CPU to several GPUs.

Under ``accelerate launch`` or ``torchrun``, and in each worker of a Ray Train
``TorchTrainer`` (``--workers N``, :mod:`.on_ray`), every process runs this same function; each
draws its own share of every step's batches (process ``r`` of ``n`` takes batch
``i * n + r``), accelerate averages the gradients, and only the main process writes files.

What makes ``--resume`` exact: the batch order is a function of (seed, batch index), the
noise comes from one torch generator whose state is checkpointed, as are torch's global RNG
(LoRA dropout), the optimizer and the LR scheduler. A resumed run therefore computes the
same losses as one that never stopped.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasety import __version__
from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.models.device import choose_device
from datasety.models.extras import require
from datasety.models.loading import model_dir as find_model_dir
from datasety.training import checkpoint as ckpt
from datasety.training.cache import FeatureCache, default_cache_dir
from datasety.training.data import (
    BatchOrder,
    Sample,
    dataset_hash,
    fit_to_bucket,
    limit_controls,
    load_samples,
    split_validation,
)
from datasety.training.families import FAMILIES, Family, LossInputs, detect_family
from datasety.training.lora_file import lora_state, save_lora
from datasety.training.samples import Sampler, sample_prompts
from datasety.training.sharding import gathered, sharded_like_params

MAX_GRAD_NORM = 1.0
WEIGHT_DECAY = 1e-4


@dataclass(frozen=True)
class TrainSettings:
    """Everything ``datasety train`` was asked to do, flags by name."""

    input: Path
    output: Path
    model: str
    family: str | None = None
    steps: int = 100
    lr: float = 1e-4
    lora_rank: int = 16
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    image_size: int = 512
    device: str = "auto"
    seed: int = 42
    save_every: int | None = None
    resume: str | None = None
    validation_split: float = 0.0
    timestep_type: str = "sigmoid"
    caption_dropout: float = 0.05
    gradient_checkpointing: bool = False
    optimizer: str = "adamw"
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 0
    gradient_accumulation_steps: int = 1
    min_snr_gamma: float | None = None
    noise_offset: float = 0.0
    batch_size: int = 1
    recursive: bool = False
    cache_dir: Path | None = None
    lora_layers: tuple[str, ...] = ()  # default: the family's target_modules
    sample_prompts: tuple[str, ...] = ()
    sample_steps: int = 20


@dataclass
class Features:
    """Where each sample's cached tensors are."""

    image_keys: list[str]
    caption_keys: list[str]
    empty_keys: list[str]  # the empty caption (--caption-dropout), per sample: it may see
    # the sample's control
    control_keys: list[list[str]]  # an edit pair's controls' latents, in order ([]: none)
    prompt_keys: list[str] = field(default_factory=list)  # the sample images' prompts
    prompt_empty_keys: list[str] = field(default_factory=list)  # and their negatives
    position: dict[Path, int] = field(default_factory=dict)  # a sample's index, by image


def train(settings: TrainSettings, reporter: Progress) -> dict[str, Any]:
    """Train a LoRA; returns a summary (``losses`` per step, ``output``, ...)."""
    torch, diffusers, peft, accelerate = require(
        "train", "torch", "diffusers", "peft", "accelerate", purpose="train"
    )
    diffusers.utils.logging.disable_progress_bar()
    # One line per step is the log; loaders' progress bars would fill a job's log.
    require("train", "transformers")[0].utils.logging.disable_progress_bar()
    device = choose_device(torch, settings.device)
    if settings.optimizer == "adamw8bit" and device.name != "cuda":
        raise DatasetyError(
            f"--optimizer adamw8bit needs bitsandbytes on a CUDA GPU; this run is on "
            f"{device.name}: use --optimizer adamw"
        )
    accelerator = make_accelerator(accelerate, device, settings)
    main = accelerator.is_main_process
    note = reporter.note if main else (lambda _message: None)
    sharded = accelerator.distributed_type == accelerate.utils.DistributedType.FSDP
    # What accelerate's config asked for (accelerate launch sets these variables).
    asked = accelerate.utils.parse_flag_from_env
    ignored = [name for name in ("FSDP", "DEEPSPEED") if asked(f"ACCELERATE_USE_{name}")]
    if ignored and accelerator.distributed_type.name not in ignored:
        note(
            f"accelerate takes {ignored[0].replace('DEEPSPEED', 'DeepSpeed')} on GPUs only: "
            f"these {accelerator.num_processes} {device.name} process(es) train data-parallel"
        )

    folder = find_model_dir(settings.model, note=note)
    family_name = detect_family(settings.model, folder, settings.family)
    family: Family = FAMILIES[family_name](torch, diffusers)
    family.load_training_constants(folder)
    samples = load_samples(settings.input, settings.image_size, settings.recursive, note)
    edit = any(s.controls for s in samples)
    if edit and not family.trains_edits:
        raise DatasetyError(
            f"--input holds control/target pairs, and {settings.model} ({family_name}) takes "
            f"no reference image: train edit pairs on FLUX.2-klein or a Qwen-Image-Edit model "
            f"(-m Qwen/Qwen-Image-Edit-2509)"
        )
    if family.requires_controls and not edit:
        raise DatasetyError(
            f"{settings.model} encodes each caption with its reference image: --input needs "
            f"control/target pairs (a text-to-image LoRA trains on Qwen/Qwen-Image)"
        )
    if edit and family.max_controls is not None:
        samples = limit_controls(samples, family.max_controls, settings.model, note)
    data_hash = dataset_hash(samples)
    train_set, validation = split_validation(samples, settings.validation_split, settings.seed)
    units = "control/target pairs" if edit else "images"
    most = max((len(s.controls) for s in samples), default=0)
    if most > 1:
        units += f" (up to {most} controls each)"
    note(
        f"Training a {family_name} {'edit ' if edit else ''}LoRA on {settings.model}: "
        f"{len(train_set)} {units}"
        f"{f' (+{len(validation)} validation)' if validation else ''}, "
        f"{len({s.bucket for s in train_set})} aspect buckets, device {device.describe()}"
    )

    fingerprint = {
        "model": settings.model,
        "family": family_name,
        "dataset_hash": data_hash,
        "lora_rank": settings.lora_rank,
        "lora_alpha": settings.lora_alpha,
        "batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "seed": settings.seed,
        "image_size": settings.image_size,
        "validation_split": settings.validation_split,
        "lora_layers": ",".join(settings.lora_layers or family.target_modules),
        "processes": accelerator.num_processes,
    }
    resumed = None
    if settings.resume:
        # Checked before any model loads: a mismatch is a one-line error within seconds.
        file = ckpt.resolve_resume(settings.resume)
        resumed = ckpt.load_checkpoint(file)
        saved = dict(resumed.get("settings", {}))
        if "lora_layers" not in saved:
            # Written before --lora-layers (commit 50fdba8): it trained the family's default
            # layers, the same set in every version since the first.
            saved["lora_layers"] = ",".join(family.target_modules)
            note(
                f"{file.name} predates --lora-layers: it trained {family_name}'s default layers "
                f"({saved['lora_layers']}), which this run compares against"
            )
        ckpt.check_compatible(saved, fingerprint, file)
        if int(resumed["step"]) >= settings.steps:
            raise DatasetyError(
                f"--resume is at step {resumed['step']}; --steps {settings.steps} is done"
            )

    if main:
        ckpt.remove_leftovers(ckpt.checkpoint_dir(settings.output))
    cache = FeatureCache(
        settings.cache_dir or default_cache_dir(), family_name, folder, str(device.dtype)
    )
    prompts = []
    if settings.save_every and settings.sample_steps:
        prompts = sample_prompts(settings.sample_prompts, validation, train_set)
    with accelerator.main_process_first():
        features = encode_all(
            family, cache, folder, samples, device, note, [(p.text, p.sample) for p in prompts]
        )

    torch.manual_seed(settings.seed)
    denoiser = family.load_denoiser(folder, device.dtype)
    denoiser.requires_grad_(False)
    config = peft.LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        init_lora_weights="gaussian",
        target_modules=present_targets(
            denoiser,
            settings.lora_layers or family.target_modules,
            required=bool(settings.lora_layers),
        ),  # fmt: skip
    )
    denoiser.add_adapter(config)
    for param in denoiser.parameters():
        if param.requires_grad:
            param.data = param.data.float()  # LoRA weights train in float32
    if settings.gradient_checkpointing:
        denoiser.enable_gradient_checkpointing()
    denoiser.to(accelerator.device)
    if resumed is not None:
        # Into the whole weights, before FSDP (if any) shards them.
        peft.set_peft_model_state_dict(denoiser, resumed["lora"])
    lora_params = [p for p in denoiser.parameters() if p.requires_grad]
    optimizer = make_optimizer(torch, settings, lora_params)
    scheduler = make_scheduler(torch, settings, optimizer)
    denoiser, optimizer = accelerator.prepare(denoiser, optimizer)
    # After prepare: FSDP replaces each parameter with its sharded one.
    trainable = [p for p in denoiser.parameters() if p.requires_grad]

    generator = torch.Generator().manual_seed(settings.seed + accelerator.process_index)
    start = 0
    if resumed is not None:
        start = restore(torch, resumed, optimizer, scheduler, generator, accelerator.process_index)
        note(f"Resuming at step {start} of {settings.steps}")

    sampler = None
    # Under FSDP each forward needs every process (they gather the shards): all render,
    # the main process writes.
    if prompts and (main or sharded):
        sampler = Sampler(
            family, folder, settings.output, prompts, features.prompt_keys,
            features.prompt_empty_keys, cache, settings.image_size, settings.sample_steps,
            settings.seed, device.dtype,
        )  # fmt: skip
    latest_samples: list[str] = []
    fields: dict[str, Any] = {}  # the last step's progress fields

    def render_samples(step: int) -> None:
        if sampler is None:
            return
        paths = sampler.render(accelerator.unwrap_model(denoiser), step, accelerator, write=main)
        if not main:
            return
        latest_samples[:] = [str(path) for path in paths]
        note(f"Samples at step {step}: {', '.join(latest_samples)}")
        reporter.report({**fields, "samples": latest_samples})

    accumulation = settings.gradient_accumulation_steps
    world = accelerator.num_processes
    losses: list[float] = []
    reporter.n_processed = start
    began = time.monotonic()
    denoiser.train()
    order = BatchOrder(train_set, settings.batch_size, settings.seed)
    for step in range(start, settings.steps):
        step_loss = torch.zeros((), device=accelerator.device)
        for micro in range(accumulation):
            index = (step * accumulation + micro) * world + accelerator.process_index
            batch = [train_set[i] for i in order.batch(index)]
            inputs = LossInputs(
                features=stack(family, cache, features, samples, batch, settings, generator,
                               accelerator.device),
                generator=generator,
                timestep_type=settings.timestep_type,
                noise_offset=settings.noise_offset,
                min_snr_gamma=settings.min_snr_gamma,
            )  # fmt: skip
            last = micro == accumulation - 1
            sync = accelerator.no_sync(denoiser) if not last and world > 1 else nullcontext()
            with sync, accelerator.autocast():
                loss = family.losses(denoiser, inputs).mean() / accumulation
                accelerator.backward(loss)
            step_loss += loss.detach()
        accelerator.clip_grad_norm_(trainable, MAX_GRAD_NORM)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        mean_loss = float(accelerator.reduce(step_loss, reduction="mean").item())
        losses.append(mean_loss)
        done = step + 1
        elapsed = time.monotonic() - began
        eta = elapsed / (done - start) * (settings.steps - done)
        if main:
            lr = scheduler.get_last_lr()[0]
            fields = {"loss": round(mean_loss, 6), "eta_s": round(eta, 1), "lr": lr}
            if latest_samples:
                fields["samples"] = latest_samples
            reporter.processed(
                f"step {done}", f"step {done}/{settings.steps} loss={mean_loss:.6f} lr={lr:.2e}",
                fields=fields,
            )  # fmt: skip
        if settings.save_every and done % settings.save_every == 0 and done < settings.steps:
            state = checkpoint_state(
                torch, peft, accelerator, denoiser, optimizer, scheduler, generator, done,
                fingerprint,
            )  # fmt: skip
            if main:
                path = ckpt.checkpoint_path(settings.output, done)
                ckpt.save_checkpoint(path, state)
                note(f"Checkpoint saved: {path}")
            render_samples(done)
            report_validation(torch, family, denoiser, cache, features, samples, validation,
                              settings, accelerator, note)  # fmt: skip
            accelerator.wait_for_everyone()

    validation_loss = report_validation(
        torch, family, denoiser, cache, features, samples, validation, settings, accelerator, note
    )
    accelerator.wait_for_everyone()
    state = gathered(peft.get_peft_model_state_dict(accelerator.unwrap_model(denoiser)))
    if main:
        scale = settings.lora_alpha / settings.lora_rank
        tensors = lora_state(state, family.denoiser_name, scale, family.lora_key_format)
        metadata = {
            "base_model": settings.model,
            "family": family_name,
            "steps": str(settings.steps),
            "lora_rank": str(settings.lora_rank),
            "lora_alpha": str(settings.lora_alpha),
            "alpha_folded_into_lora_B": "true",
            "dataset_hash": data_hash,
            "images": str(len(train_set)),
            "edit_pairs": str(edit).lower(),
            "settings": _settings_json(settings),
            "version": __version__,
        }
        save_lora(settings.output, tensors, metadata)
        note(f"LoRA saved: {settings.output} ({len(tensors)} tensors)")
    render_samples(settings.steps)
    return {
        "main": main,
        "losses": losses,
        "output": str(settings.output),
        "family": family_name,
        "validation_loss": validation_loss,
    }


def make_accelerator(accelerate: Any, device: Any, settings: TrainSettings) -> Any:
    """The run's Accelerator: plain data-parallel, or FSDP / DeepSpeed as accelerate's config
    (``accelerate launch --config_file``) asks; what the loop cannot run is a one-line error."""
    try:
        accelerator = accelerate.Accelerator(
            cpu=device.name == "cpu",
            mixed_precision="bf16" if str(device.dtype) == "torch.bfloat16" else "no",
        )
    except ImportError as exc:  # accelerate's config asks for DeepSpeed, not installed
        raise DatasetyError(
            f"accelerate's config asks for DeepSpeed, which is not installed here ({exc}): "
            f"pip install deepspeed, or launch without DeepSpeed"
        ) from exc
    kind = accelerator.distributed_type.name
    if kind == "FSDP" and accelerator.state.fsdp_plugin.fsdp_version != 2:
        raise DatasetyError(
            "accelerate's config asks for FSDP version 1; datasety train runs FSDP2: set "
            "fsdp_version: 2 in the config"
        )
    if kind == "DEEPSPEED":
        plugin = accelerator.state.deepspeed_plugin
        configured = plugin.deepspeed_config.get("gradient_accumulation_steps", "auto")
        if settings.gradient_accumulation_steps != 1 or configured not in (1, "auto"):
            raise DatasetyError(
                "under DeepSpeed, datasety train accumulates no gradients (DeepSpeed would "
                "step on its own schedule): use --gradient-accumulation-steps 1 and "
                "gradient_accumulation_steps: 1 in accelerate's config, and a larger --batch-size"
            )
        # The loop draws its own batches (no DataLoader for accelerate to read them from).
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = settings.batch_size
    return accelerator


def _settings_json(settings: TrainSettings) -> str:
    import json

    return json.dumps(
        {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()}
    )


def present_targets(denoiser: Any, wanted: tuple[str, ...], required: bool = False) -> list[str]:
    """The ``wanted`` module names this denoiser has (architectures differ in which
    projections they fuse); ``required`` (``--lora-layers``): each must be there."""
    names = {name for name, _ in denoiser.named_modules()}
    present = [t for t in wanted if any(n == t or n.endswith("." + t) for n in names)]
    missing = [t for t in wanted if t not in present]
    if required and missing:
        raise DatasetyError(
            f"--lora-layers: the model has no layer named {', '.join(missing)} (its attention "
            f"layers are named like to_q, to_k, to_v, to_out.0)"
        )
    if not present:
        raise DatasetyError("the model has none of the attention layers a LoRA trains")
    return present


def encode_all(
    family: Family,
    cache: FeatureCache,
    folder: Path,
    samples: list[Sample],
    device: Any,
    note: Any,
    prompts: list[tuple[str, Sample]] | None = None,
) -> Features:
    """Cache keys for every sample, encoding what is not cached yet (the encoders load only
    then, and are freed before training); ``prompts`` (the sample images') are encoded too."""
    import numpy as np
    import torch

    image_keys = [cache.key("image", s.digest, s.bucket) for s in samples]
    # A control is encoded as an image at its own bucket: its own key, shared with any image of
    # the same bytes at that bucket.
    control_keys = [[cache.key("image", c.digest, c.bucket) for c in s.controls] for s in samples]

    def caption_key(sample: Sample, text: str) -> str:
        if family.caption_sees_control and sample.controls:
            seen = [(c.digest, c.bucket) for c in sample.controls]
            if len(seen) == 1:  # the key a one-control pair has always had
                return cache.key("caption", text, seen[0][0], seen[0][1])
            return cache.key("caption", text, seen)
        return cache.key("caption", text)

    caption_keys = [caption_key(s, s.caption) for s in samples]
    empty_keys = [caption_key(s, "") for s in samples]
    # key -> (file, bucket, original size): the targets', then their controls'.
    to_encode: dict[str, tuple[Path, tuple[int, int], tuple[int, int]]] = {}
    for key, controls, sample in zip(image_keys, control_keys, samples, strict=True):
        to_encode.setdefault(key, (sample.image, sample.bucket, sample.size))
        for control_key, control in zip(controls, sample.controls, strict=True):
            # The original size only conditions SDXL, which takes no controls.
            to_encode.setdefault(control_key, (control.path, control.bucket, control.bucket))
    missing_images = {key: found for key, found in to_encode.items() if not cache.has(key)}
    texts: dict[str, tuple[str, Sample]] = {}
    for sample, key, empty in zip(samples, caption_keys, empty_keys, strict=True):
        texts.setdefault(key, (sample.caption, sample))
        texts.setdefault(empty, ("", sample))
    # The sample images' prompts, each with the sample it stands for (an edit pair's control
    # is part of its caption's key when the text encoder sees it).
    prompt_keys = [caption_key(sample, text) for text, sample in prompts or []]
    prompt_empty_keys = [caption_key(sample, "") for _, sample in prompts or []]
    for (text, sample), key, empty in zip(
        prompts or [], prompt_keys, prompt_empty_keys, strict=True
    ):
        texts.setdefault(key, (text, sample))
        texts.setdefault(empty, ("", sample))
    missing_captions = {key: found for key, found in texts.items() if not cache.has(key)}
    if missing_images or missing_captions:
        note(
            f"Encoding {len(missing_images)} images and {len(missing_captions)} captions into "
            f"the cache ({cache.folder}); later runs reuse them"
        )
        pipe = family.load_encoders(folder, device.name, device.dtype)
        with torch.inference_mode():
            for key, (text, sample) in missing_captions.items():
                controls = []
                if family.caption_sees_control:
                    controls = [fitted(c.path, c.bucket)[0] for c in sample.controls]
                cache.store(key, family.encode_caption(pipe, text, controls))
            for key, (path, bucket, size) in missing_images.items():
                image, top, left = fitted(path, bucket)
                array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
                pixels = (
                    torch.from_numpy(array).permute(2, 0, 1)[None].to(device.name, device.dtype)
                )
                cache.store(key, family.encode_image(pipe, pixels, size, (top, left)))
        del pipe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the encoders' memory goes back before the denoiser loads
    else:
        note(f"Latents and caption embeddings found in the cache ({cache.folder})")
    return Features(
        image_keys,
        caption_keys,
        empty_keys,
        control_keys,
        prompt_keys,
        prompt_empty_keys,
        {sample.image: i for i, sample in enumerate(samples)},
    )


def fitted(path: Path, bucket: tuple[int, int]) -> tuple[Any, int, int]:
    """The image at ``path`` in RGB, fitted to ``bucket`` (see :func:`fit_to_bucket`)."""
    from PIL import Image

    with Image.open(path) as image:
        return fit_to_bucket(image.convert("RGB"), bucket)


def stack(
    family: Family,
    cache: FeatureCache,
    features: Features,
    samples: list[Sample],
    batch: list[Sample],
    settings: TrainSettings,
    generator: Any,
    device: Any,
    dropout: bool = True,
) -> dict[str, Any]:
    """The batch's cached tensors, put together by the family, on ``device``; each caption
    replaced by the empty one with probability ``--caption-dropout``."""
    torch = family.torch
    position = features.position
    rows: list[dict[str, Any]] = []
    for sample in batch:
        i = position[sample.image]
        drop = (
            dropout
            and settings.caption_dropout > 0
            and (float(torch.rand((), generator=generator)) < settings.caption_dropout)
        )
        caption = features.empty_keys[i] if drop else features.caption_keys[i]
        row = {**cache.load(features.image_keys[i]), **cache.load(caption)}
        for index, control in enumerate(features.control_keys[i]):
            row.update({f"control{index}_{k}": v for k, v in cache.load(control).items()})
        rows.append(row)
    return {key: value.to(device) for key, value in family.collate(rows).items()}


def report_validation(
    torch: Any, family: Family, denoiser: Any, cache: FeatureCache, features: Features,
    samples: list[Sample], validation: list[Sample], settings: TrainSettings,
    accelerator: Any, note: Any,
) -> float | None:  # fmt: skip
    """The mean loss over the held-out images at fixed noise (comparable between calls)."""
    if not validation:
        return None
    generator = torch.Generator().manual_seed(settings.seed)
    denoiser.eval()
    total = 0.0
    with torch.no_grad(), accelerator.autocast():
        for sample in validation:
            batch = stack(family, cache, features, samples, [sample], settings, generator,
                          accelerator.device, dropout=False)  # fmt: skip
            inputs = LossInputs(batch, generator, "linear", 0.0, None)
            total += float(family.losses(denoiser, inputs).mean())
    denoiser.train()
    mean = total / len(validation)
    note(f"Validation loss: {mean:.6f} over {len(validation)} images")
    return mean


def make_optimizer(torch: Any, settings: TrainSettings, params: list[Any]) -> Any:
    if settings.optimizer == "adamw8bit":
        (bnb,) = require("train", "bitsandbytes", purpose="--optimizer adamw8bit")
        return bnb.optim.AdamW8bit(params, lr=settings.lr, weight_decay=WEIGHT_DECAY)
    # The fused kernel updates every LoRA tensor in one pass (on a GPU: a few kernel launches a
    # step instead of several per tensor); torch has it for CUDA and CPU tensors.
    fused = params[0].device.type in ("cuda", "cpu")
    return torch.optim.AdamW(params, lr=settings.lr, weight_decay=WEIGHT_DECAY, fused=fused)


def make_scheduler(torch: Any, settings: TrainSettings, optimizer: Any) -> Any:
    """--lr-scheduler constant|cosine|linear after --lr-warmup-steps of linear warm-up."""
    warmup = settings.lr_warmup_steps
    total = settings.steps
    kind = settings.lr_scheduler

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def checkpoint_state(
    torch: Any, peft: Any, accelerator: Any, denoiser: Any, optimizer: Any, scheduler: Any,
    generator: Any, step: int, fingerprint: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Everything ``--resume`` restores, in whole tensors; every process calls it (under FSDP
    the shards are gathered; each process's random states are collected), the main process
    writes it."""
    from accelerate.utils import gather_object

    lora = gathered(peft.get_peft_model_state_dict(accelerator.unwrap_model(denoiser)))
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    rng = {
        "python": list(random.getstate()[1]),
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "generator": generator.get_state(),
    }
    return {
        "step": step,
        "settings": fingerprint,
        "lora": {k: v.detach().cpu() for k, v in lora.items()},
        "optimizer": gathered(optimizer.state_dict()),
        "scheduler": scheduler.state_dict(),
        "rng": rng,  # the main process's
        # Every process draws its own noise: each continues from its own states.
        "rng_per_process": gather_object([rng]) if accelerator.num_processes > 1 else [rng],
    }


def restore(
    torch: Any, state: dict[str, Any], optimizer: Any, scheduler: Any, generator: Any,
    process: int,
) -> int:  # fmt: skip
    """Load a checkpoint's optimizer, scheduler and random states into the run (its LoRA
    weights are loaded before ``prepare``); returns the step it continues from. ``process``:
    this process's index (checkpoints before ``rng_per_process`` hold the main one's only)."""
    optimizer.load_state_dict(sharded_like_params(state["optimizer"], optimizer))
    scheduler.load_state_dict(state["scheduler"])
    per_process = state.get("rng_per_process") or [state["rng"]]
    rng = per_process[process] if process < len(per_process) else state["rng"]
    random.setstate((3, tuple(rng["python"]), None))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    generator.set_state(rng["generator"])
    return int(state["step"])
