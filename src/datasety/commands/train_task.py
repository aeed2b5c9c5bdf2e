"""Which task `datasety train` runs, and the voice half of its face.

The task follows the dataset: an LJSpeech folder (``metadata.csv`` + ``wavs/``) trains a voice,
a folder of captioned images an image LoRA; ``--family piper|coqui|f5-tts`` asks for a voice
whatever the folder holds. A flag that only one task reads is refused on the other task when
it is set to anything but its default: a form that sends every default trains either task,
while a real request the task would ignore is a one-line error, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress

VOICE_FAMILIES = ("piper", "coqui", "f5-tts")
VOICE_BATCH_DEFAULT = 32  # the reference's --batch-size default, which only its voices read
VOICE_ONLY = ("backend", "test_text", "sample_rate", "accelerator", "devices", "quality",
              "language")  # fmt: skip
# What both tasks read (--model: a base model, or a Piper checkpoint to start a voice from);
# every other flag is the image LoRA's (a flag added later is refused on a voice until it is
# listed here).
SHARED = ("input_", "output", "model", "family", "steps", "lr", "device", "seed", "save_every",
          "resume", "validation_split", "batch_size", "cache_dir")  # fmt: skip
DEFAULT_VOICE_FILE = "voice.onnx"
# --device (the image flags' spelling) for Lightning's --accelerator.
ACCELERATOR_OF_DEVICE = {"cpu": "cpu", "cuda": "gpu", "mps": "mps"}


def wants_voice(params: dict[str, Any], input_dir: Path) -> bool:
    """True when this run trains a voice: a voice ``--family``, or an LJSpeech folder."""
    from datasety.training.voice.dataset import is_voice_dataset

    family = (params.get("family") or "").strip().lower()
    if family:
        return family in VOICE_FAMILIES
    return is_voice_dataset(input_dir)


def changed(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The flags among ``names`` given with a value that is not their default, as
    ``--flag-name`` (an empty text or list where the default is none, as a form's blank field
    sends, is no change)."""
    defaults = {p.name: p.default for p in ctx.command.params}

    def is_changed(name: str) -> bool:
        if ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
            return False  # click's value for a repeatable option left out is (), not None
        value, default = ctx.params.get(name), defaults.get(name)
        return value != default and not (default is None and value in ("", ()))

    return ["--" + name.replace("_", "-") for name in names if is_changed(name)]


def refuse_voice_flags(ctx: click.Context, input_dir: Path) -> None:
    """An image run: voice-only flags may be present, at their defaults."""
    for flag in changed(ctx, VOICE_ONLY):
        raise DatasetyError(
            f"{flag} is for voice training; {input_dir} is trained as an image LoRA (a voice "
            "needs an LJSpeech folder: metadata.csv + wavs/, or --family piper)"
        )


def train_voice_command(ctx: click.Context, params: dict[str, Any], input_dir: Path) -> int:
    """The voice run of `datasety train`: flags to :class:`VoiceSettings`, then train."""
    from datasety.training.voice.backends import VoiceSettings, train_voice

    image_only = tuple(
        str(p.name) for p in ctx.command.params if p.name not in (*SHARED, *VOICE_ONLY)
    )
    for flag in changed(ctx, image_only):
        raise DatasetyError(f"{flag} is for image LoRA training; {input_dir} trains a voice")
    family = (params["family"] or "").strip().lower()
    backend = params["backend"]
    if family and backend != family and "--backend" in changed(ctx, ("backend",)):
        raise DatasetyError(f"--family {family} and --backend {backend} ask for two backends")
    defaults = {p.name: p.default for p in ctx.command.params}
    accelerator = params["accelerator"]
    if accelerator == "auto" and params["device"] != "auto":
        accelerator = ACCELERATOR_OF_DEVICE[params["device"]]
    settings = VoiceSettings(
        input=input_dir,
        output=voice_output(params["output"], str(defaults["output"])),
        backend=family or backend,
        base=None if params["model"] == defaults["model"] else params["model"],
        language=params["language"],
        quality=params["quality"],
        sample_rate=None if params["sample_rate"] == defaults["sample_rate"]
        else params["sample_rate"],
        steps=params["steps"],
        batch_size=params["batch_size"] or VOICE_BATCH_DEFAULT,
        lr=None if params["lr"] == defaults["lr"] else params["lr"],
        seed=params["seed"],
        save_every=params["save_every"],
        resume=params["resume"],
        validation_split=params["validation_split"],
        accelerator=accelerator,
        devices=params["devices"],
        test_text=params["test_text"],
        cache_dir=Path(params["cache_dir"]) if params["cache_dir"] else None,
    )  # fmt: skip
    reporter = Progress(total=settings.steps)
    summary = train_voice(settings, reporter)
    # Under several devices only the first process reports.
    return reporter.finish() if summary["main"] else 0


def voice_output(output: str, default: str) -> Path:
    """The ONNX voice to write: ``voice.onnx`` for the default output, else OUTPUT with an
    ``.onnx`` suffix (Piper loads ``NAME.onnx`` beside ``NAME.onnx.json``)."""
    if output == default:
        return Path(DEFAULT_VOICE_FILE)
    path = Path(output)
    if path.suffix == ".onnx":
        return path
    if path.suffix == ".safetensors":
        return path.with_suffix(".onnx")
    return path.with_name(path.name + ".onnx")
