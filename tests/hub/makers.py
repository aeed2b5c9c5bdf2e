"""Small datasets and weights files made by the tests, named by what they are."""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path

from PIL import Image


def png(path: Path, colour: int = 0, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (colour, 255 - colour, 0)).save(path)
    return path


def captioned_pairs_dataset(root: Path) -> Path:
    """Two captioned images, two control/target pairs with group captions, and things an
    upload must leave out: a hidden file, the server's temporary file, a token file."""
    png(root / "cat.png", 10)
    (root / "cat.txt").write_text("a cat on a sofa", encoding="utf-8")
    png(root / "dog.png", 20)
    (root / "dog.txt").write_text("a dog | in the rain", encoding="utf-8")
    for i in (1, 2):
        png(root / "control" / f"edit_{i}.png", 30 * i)
        png(root / "target" / f"edit_{i}.png", 40 * i)
        (root / f"edit_{i}.txt").write_text(f"make it red {i}", encoding="utf-8")
    (root / ".DS_Store").write_bytes(b"\0junk")
    (root / ".cat.1a2b3c4d.partial.png").write_bytes(b"half a png")
    (root / "token").write_text("not a real token, but named like one", encoding="utf-8")
    return root


def wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return path


def ljspeech_dataset(root: Path) -> Path:
    """LJSpeech/Piper: wavs/ and a pipe-delimited metadata.csv without a header."""
    wav(root / "wavs" / "utt_1.wav", 1.5)
    wav(root / "wavs" / "utt_2.wav", 3.0)
    wav(root / "wavs" / "utt_3.wav", 1.5)
    (root / "metadata.csv").write_text(
        'utt_1|Hello there.|Hello there.\nutt_2|It costs "5" dollars.|It costs five dollars.\n'
        "utt_3|Good bye.|Good bye.\n",
        encoding="utf-8",
    )
    return root


def safetensors(path: Path, metadata: dict[str, str]) -> Path:
    """A valid safetensors file: one float32 tensor and ``metadata`` in its header."""
    data = struct.pack("<4f", 0.5, -0.5, 0.25, 1.0)
    header = {
        "lora_unet_down.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "__metadata__": metadata,
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


KOHYA_METADATA = {
    "ss_sd_model_name": "stabilityai/stable-diffusion-xl-base-1.0",
    "ss_network_dim": "16",
    "ss_network_alpha": "8.0",
    "ss_learning_rate": "0.0001",
    "ss_max_train_steps": "1500",
    "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
    "ss_resolution": "(1024, 1024)",
    "ss_tag_frequency": json.dumps({"10_ohwx cat": {"ohwx cat": 12, "sofa": 3}}),
}
