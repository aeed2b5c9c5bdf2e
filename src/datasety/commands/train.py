"""`datasety train`: LoRA fine-tuning of image models (FLUX.2-klein, SDXL, Qwen-Image) on a
folder of captioned images, or a Piper voice on an LJSpeech folder: the task follows the dataset
(see :mod:`datasety.commands.train_task`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from datasety.commands import options, train_task
from datasety.core.inputs import require_dir
from datasety.core.progress import Progress

DEFAULT_MODEL = "black-forest-labs/FLUX.2-klein-base-4B"
IMAGE_BATCH_DEFAULT = 1


def _positive_int(name: str, default: int | None, help: str, minimum: int = 1) -> Any:
    return click.option(
        name, type=click.IntRange(min=minimum), default=default, show_default=True, help=help
    )


@click.command("train")
@click.option(
    "--input", "-i", "input_", type=options.PATH, required=True,
    help="Folder of training images with .txt captions beside them (NAME.jpg + NAME.txt), or "
    "of control/target pairs (control/ + target/, or NAME_control + NAME_target; a second "
    "control in input/ or NAME_input): an edit LoRA, "
    "or an LJSpeech folder (metadata.csv + wavs/): a voice",
)  # fmt: skip
@click.option(
    "--output", "-o", type=options.PATH, default="lora.safetensors", show_default=True,
    help="The LoRA file to write (.safetensors); checkpoints go to OUTPUT_STEM.checkpoints/. "
    "A voice is NAME.onnx + NAME.onnx.json (default voice.onnx)",
)  # fmt: skip
@click.option(
    "--model", "-m", default=DEFAULT_MODEL, show_default=True,
    help="Base model: a Hugging Face repository id or a local diffusers folder (with only "
    "--family: that family's base model)",
)  # fmt: skip
@click.option(
    "--family", default=None,
    help="Model family: flux (= flux2, FLUX.2-klein), sdxl or qwen (Qwen-Image); default: "
    "read from the model's config or id. piper, coqui, f5-tts: train a voice with that "
    "backend (an LJSpeech --input is a voice without it; --model is then a Piper .ckpt to "
    "start from)",
)  # fmt: skip
@_positive_int("--steps", 100, "Optimizer steps to train")
@click.option(
    "--lr", type=options.FiniteFloatRange(min=0.0, min_open=True), default=1e-4,
    show_default=True, help="Learning rate",
)  # fmt: skip
@_positive_int("--lora-rank", 16, "LoRA rank")
@click.option(
    "--lora-layers", default=None,
    help="Comma-separated names of the layers the LoRA trains, as diffusers names them "
    "(e.g. to_q,to_k,to_v,to_out.0); default: the family's attention projections",
)  # fmt: skip
@click.option(
    "--lora-alpha", type=options.FiniteFloatRange(min=0.0, min_open=True), default=16.0,
    show_default=True, help="LoRA alpha (strength = alpha / rank)",
)  # fmt: skip
@click.option(
    "--lora-dropout", type=options.FiniteFloatRange(min=0.0, max=1.0, max_open=True),
    default=0.0, show_default=True, help="Dropout on the LoRA layers while training",
)  # fmt: skip
@_positive_int(
    "--image-size", 512, "Training resolution: each image trains at about SIZE x SIZE pixels "
    "in the aspect-ratio bucket nearest its shape", minimum=64,
)  # fmt: skip
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto",
    show_default=True, help="Where it trains; auto picks a CUDA or Apple GPU when torch sees one",
)  # fmt: skip
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed")
@_positive_int(
    "--save-every", None, "Write a resumable checkpoint every N steps (OUTPUT_STEM.checkpoints/"
    "step-N.pt), sample images (OUTPUT_STEM.samples/) and report the validation loss",
)  # fmt: skip
@click.option(
    "--sample-prompt", "sample_prompts", multiple=True,
    help="A prompt to render at every --save-every step and at the end (repeatable); default: "
    "up to 4 captions of the --validation-split images, else of the training images",
)  # fmt: skip
@_positive_int(
    "--sample-steps", 20, "Denoising steps of each sample image; 0 renders no samples",
    minimum=0,
)  # fmt: skip
@click.option(
    "--resume", type=options.PATH, default=None,
    help="Continue exactly from a checkpoint: a step-N.pt file or a .checkpoints folder "
    "(its latest); same model, data and settings",
)  # fmt: skip
@click.option(
    "--validation-split", type=options.FiniteFloatRange(min=0.0, max=1.0, max_open=True),
    default=0.0, show_default=True,
    help="Fraction of the images held out; their loss is reported at checkpoints and the end",
)  # fmt: skip
@click.option(
    "--timestep-type", type=click.Choice(["sigmoid", "lognorm", "linear"]), default="sigmoid",
    show_default=True,
    help="How noise levels are drawn: sigmoid of a normal, of a half-width normal, or uniform",
)  # fmt: skip
@click.option(
    "--caption-dropout", type=options.FiniteFloatRange(min=0.0, max=1.0), default=0.05,
    show_default=True, help="Probability of training a sample with an empty caption",
)  # fmt: skip
@click.option(
    "--gradient-checkpointing", is_flag=True, default=False,
    help="Recompute activations in the backward pass: less memory, slower steps",
)  # fmt: skip
@click.option(
    "--optimizer", type=click.Choice(["adamw", "adamw8bit"]), default="adamw", show_default=True,
    help="adamw8bit: bitsandbytes' 8-bit AdamW (CUDA only)",
)  # fmt: skip
@click.option(
    "--lr-scheduler", type=click.Choice(["constant", "cosine", "linear"]), default="constant",
    show_default=True, help="Learning-rate schedule after the warm-up",
)  # fmt: skip
@_positive_int("--lr-warmup-steps", 0, "Steps of linear learning-rate warm-up", minimum=0)
@_positive_int(
    "--gradient-accumulation-steps", 1, "Batches whose gradients add up to one optimizer step"
)
@click.option(
    "--min-snr-gamma", type=options.FiniteFloatRange(min=0.0, min_open=True), default=None,
    help="Min-SNR loss weighting with this gamma (5 is common); default: off",
)  # fmt: skip
@click.option(
    "--noise-offset", type=options.FiniteFloatRange(min=0.0), default=0.0, show_default=True,
    help="Per-channel offset noise strength (helps very dark and very bright images)",
)  # fmt: skip
@click.option(
    "--backend", type=click.Choice(["piper", "coqui", "f5-tts"]), default="piper",
    show_default=True, help="Voice training backend (piper is built; see docs/training.md)",
)  # fmt: skip
@click.option(
    "--test-text", default=None,
    help="Voice: after training, speak this with the exported voice into OUTPUT_STEM.test.wav",
)  # fmt: skip
@_positive_int(
    "--batch-size", None, f"Items per batch (an image batch is one bucket); default "
    f"{IMAGE_BATCH_DEFAULT} for an image LoRA, as the reference trained, and "
    f"{train_task.VOICE_BATCH_DEFAULT} for a voice, the reference's default",
)  # fmt: skip
@_positive_int("--sample-rate", 22050, "Voice: the sample rate it trains and speaks at")
@click.option(
    "--accelerator", default="auto", show_default=True,
    help="Voice: Lightning's accelerator (auto, cpu, gpu, mps); --device cuda means gpu",
)  # fmt: skip
@click.option(
    "--devices", default="auto", show_default=True,
    help="Voice: Lightning's devices (auto, a count such as 2, or indices such as 0,1)",
)  # fmt: skip
@click.option(
    "--quality", type=click.Choice(["x_low", "medium", "high"]), default="medium",
    show_default=True, help="Voice: Piper's model size (a --model or --resume checkpoint's wins)",
)  # fmt: skip
@click.option(
    "--language", default=None,
    help="Voice: the espeak-ng voice that turns text into phonemes (en-us, de, fr-fr, ...); "
    "default: the --model checkpoint's, else en-us",
)  # fmt: skip
@options.recursive()
@click.option(
    "--cache-dir", type=options.PATH, default=None,
    help="Where latents and caption embeddings (a voice: phonemes and spectrograms) are "
    "cached (default: $XDG_CACHE_HOME/datasety/train)",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Train on N Ray Train workers (one GPU each, or one CPU each with --device cpu) of "
    "the Ray cluster: the server's with --executor ray, else RAY_ADDRESS, a `ray start` on "
    "this machine, or a local Ray for the run. Needs datasety[ray]; default: this process",
)  # fmt: skip
@click.pass_context
def command(ctx: click.Context, **params: Any) -> int:
    """Train a LoRA on captioned images (or an edit LoRA on control/target pairs), or a Piper
    voice on an LJSpeech folder.

    Works on diffusers + peft + accelerate: one device, several GPUs under
    `accelerate launch` / `torchrun`, or --workers N Ray Train workers across a Ray cluster
    (see docs/training.md). Images train in aspect-ratio buckets; latents and caption
    embeddings are cached on disk once. The LoRA is a .safetensors file diffusers'
    load_lora_weights reads, with the base model, steps, rank and dataset hash in its header.
    A voice trains with piper-tts's VITS on Lightning and is
    exported as Piper's ONNX voice (pip install 'datasety[voice]').
    """
    from datasety.training.families import DEFAULT_MODELS, normalize_family
    from datasety.training.loop import TrainSettings, train

    input_dir = require_dir(params["input_"], "--input")
    if train_task.wants_voice(params, input_dir):
        return train_task.train_voice_command(ctx, params, input_dir)
    train_task.refuse_voice_flags(ctx, input_dir)
    batch_size = params["batch_size"] or IMAGE_BATCH_DEFAULT
    model = params["model"]
    if params["family"] and ctx.get_parameter_source("model") is ParameterSource.DEFAULT:
        model = DEFAULT_MODELS[normalize_family(params["family"])]
    output = lora_path(params["output"])
    settings = TrainSettings(
        input=input_dir,
        output=output,
        model=model,
        family=params["family"],
        steps=params["steps"],
        lr=params["lr"],
        lora_rank=params["lora_rank"],
        lora_alpha=params["lora_alpha"],
        lora_dropout=params["lora_dropout"],
        image_size=params["image_size"],
        device=params["device"],
        seed=params["seed"],
        save_every=params["save_every"],
        resume=params["resume"],
        validation_split=params["validation_split"],
        timestep_type=params["timestep_type"],
        caption_dropout=params["caption_dropout"],
        gradient_checkpointing=params["gradient_checkpointing"],
        optimizer=params["optimizer"],
        lr_scheduler=params["lr_scheduler"],
        lr_warmup_steps=params["lr_warmup_steps"],
        gradient_accumulation_steps=params["gradient_accumulation_steps"],
        min_snr_gamma=params["min_snr_gamma"],
        noise_offset=params["noise_offset"],
        batch_size=batch_size,
        recursive=params["recursive"],
        cache_dir=Path(params["cache_dir"]) if params["cache_dir"] else None,
        sample_prompts=tuple(params["sample_prompts"]),
        lora_layers=tuple(
            name.strip() for name in (params["lora_layers"] or "").split(",") if name.strip()
        ),
        sample_steps=params["sample_steps"],
    )
    reporter = Progress(total=settings.steps)
    if params["workers"] is not None:
        from datasety.training.on_ray import train_on_ray

        summary = train_on_ray(settings, params["workers"], reporter)
    else:
        summary = train(settings, reporter)
    # Under `accelerate launch` / `torchrun` only the main process reports.
    return reporter.finish() if summary["main"] else 0


def lora_path(output: str) -> Path:
    """The LoRA file ``--output`` names (``.safetensors`` added when it has another suffix)."""
    path = Path(output)
    return path if path.suffix == ".safetensors" else path.with_name(path.name + ".safetensors")


def resume_point(params: dict[str, Any]) -> dict[str, Any] | None:
    """Where a stopped run continues (see :func:`datasety.commands.resume_point`): the last
    complete checkpoint beside ``--output`` (checkpoints are renamed into place whole, so every
    ``step-N.pt``, or a voice's ``step-N.ckpt``, there loads), or None when none was written."""
    from datasety.training.checkpoint import STEP_NAME, VOICE_STEP_NAME, checkpoint_dir, latest_in

    if not params.get("output"):
        return None
    places = [
        (checkpoint_dir(lora_path(params["output"])), STEP_NAME),
        (checkpoint_dir(train_task.voice_output(params["output"], "")), VOICE_STEP_NAME),
    ]
    for folder, name in places:
        try:
            latest = latest_in(folder, name)
        except OSError:  # no checkpoint folder (yet), or one that cannot be read
            continue
        match = name.match(latest.name) if latest is not None else None
        if latest is not None and match is not None:
            return {"param": "resume", "value": str(latest), "step": int(match.group(1))}
    return None


def places_own_workers(params: dict[str, Any]) -> bool:
    """With ``--workers N`` the run is a Ray Train driver: its workers ask Ray for the GPUs."""
    return params.get("workers") is not None


def uses_accelerator(params: dict[str, Any]) -> bool:
    """A GPU slot unless the run is told the CPU (``--device cpu`` or ``--accelerator cpu``),
    or is a Ray Train driver (``--workers``: its workers hold the GPUs Ray gives them)."""
    return (
        not places_own_workers(params)
        and params.get("device") != "cpu"
        and params.get("accelerator") != "cpu"
    )
