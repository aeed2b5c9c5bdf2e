"""The trained generator as Piper's ONNX voice, and a sentence spoken with it.

Piper's own exporter calls ``torch.onnx.export`` with torch's default, which since torch 2.9
is the dynamo exporter; it cannot trace VITS's data-dependent lengths, so the export here
takes the TorchScript path (``dynamo=False``) with the inputs, outputs and dynamic axes
Piper's runtime expects (opset 15, as piper exports).
"""

from __future__ import annotations

import json
import warnings
import wave
from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_path

OPSET_VERSION = 15
# noise, length, noise_w: what Piper synthesizes with by default.
DEFAULT_SCALES = (0.667, 1.0, 0.8)


def export_onnx(generator: Any, dest: Path, config: dict[str, Any]) -> None:
    """Write ``dest`` (the ONNX voice) and ``dest.json`` (its config), each atomically.

    The generator is changed in place (weight norm folded in, moved to the CPU, its forward
    replaced by inference): call this when training is over. (A copy is not possible:
    ``deepcopy`` refuses weight-normed modules.)
    """
    import torch

    model = generator.cpu().eval()
    with torch.no_grad():
        model.dec.remove_weight_norm()

    def infer(text: Any, text_lengths: Any, scales: Any, sid: Any = None) -> Any:
        audio = model.infer(
            text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
            noise_scale_w=scales[2], sid=sid,
        )[0]  # fmt: skip
        return audio.unsqueeze(1)

    model.forward = infer
    generator_rng = torch.Generator().manual_seed(1234)
    sequence = torch.randint(0, model.n_vocab, (1, 50), dtype=torch.long, generator=generator_rng)
    lengths = torch.LongTensor([sequence.size(1)])
    scales = torch.FloatTensor(DEFAULT_SCALES)
    sid = torch.LongTensor([0]) if model.n_speakers > 1 else None
    with atomic_path(dest) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The tracer's notes on VITS's Python-side length arithmetic (and on constant folding
        # it skips) are expected: the lengths stay dynamic through the axes below.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Constant folding")
        torch.onnx.export(
            model, (sequence, lengths, scales, sid), str(tmp), opset_version=OPSET_VERSION,
            input_names=["input", "input_lengths", "scales", "sid"], output_names=["output"],
            dynamic_axes={
                "input": {0: "batch_size", 1: "phonemes"},
                "input_lengths": {0: "batch_size"},
                "output": {0: "batch_size", 2: "time"},
            },
            dynamo=False,
        )  # fmt: skip
    config_path = dest.with_name(dest.name + ".json")
    with atomic_path(config_path) as tmp:
        tmp.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


def speak(voice_path: Path, text: str, dest: Path, speaker_id: int | None = None) -> float:
    """``text`` spoken by the ONNX voice (as ``speaker_id`` of a multi-speaker voice; None:
    its default speaker) into the WAV ``dest``; returns its length (s)."""
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(voice_path, config_path=voice_path.with_name(voice_path.name + ".json"))
    with atomic_path(dest) as tmp:
        with wave.open(str(tmp), "wb") as handle:
            voice.synthesize_wav(text, handle, syn_config=SynthesisConfig(speaker_id=speaker_id))
        with wave.open(str(tmp), "rb") as handle:
            seconds = handle.getnframes() / handle.getframerate()
    return seconds
