"""The model runtime: device choice, the offline-first loader's one-line errors, batching."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from datasety.core.errors import DatasetyError
from datasety.models.batching import prefetched
from datasety.models.device import choose_device
from datasety.models.loading import model_dir

FLOAT32, BFLOAT16, FLOAT16 = "torch.float32", "torch.bfloat16", "torch.float16"


def fake_torch(cuda: bool = False, mps: bool = False, bf16: bool = True) -> Any:
    return SimpleNamespace(
        float32=FLOAT32,
        bfloat16=BFLOAT16,
        float16=FLOAT16,
        cuda=SimpleNamespace(is_available=lambda: cuda, is_bf16_supported=lambda: bf16),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)),
    )


def test_auto_prefers_cuda_then_mps_then_cpu_and_says_why() -> None:
    cuda = choose_device(fake_torch(cuda=True, mps=True))
    assert (cuda.name, cuda.dtype) == ("cuda", BFLOAT16)
    assert "torch sees a CUDA GPU" in cuda.describe()
    mps = choose_device(fake_torch(mps=True))
    assert (mps.name, mps.dtype) == ("mps", FLOAT16)
    cpu = choose_device(fake_torch())
    assert (cpu.name, cpu.dtype) == ("cpu", FLOAT32)
    assert cpu.describe() == "cpu (float32, --device auto: torch sees no GPU)"


def test_dtype_per_device() -> None:
    assert choose_device(fake_torch(cuda=True, bf16=False), "cuda").dtype == FLOAT16
    assert choose_device(fake_torch(cuda=True), "cuda", half=False).dtype == FLOAT32
    assert choose_device(fake_torch(cuda=True), "cpu").dtype == FLOAT32


def test_unusable_device_is_an_error() -> None:
    with pytest.raises(DatasetyError, match="--device cuda: torch sees no CUDA GPU"):
        choose_device(fake_torch(), "cuda")
    with pytest.raises(DatasetyError, match="--device mps: torch sees no Apple GPU"):
        choose_device(fake_torch(), "mps")


def images(folder: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    paths = []
    for index, size in enumerate(sizes):
        path = folder / f"{index:02d}.png"
        Image.new("RGB", size, (index, 0, 0)).save(path)
        paths.append(path)
    return paths


def decode(path: Path) -> tuple[Image.Image, int]:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    return rgb, rgb.width * rgb.height * 3


def test_prefetched_batches_keep_order_and_respect_count_and_bytes(tmp_path: Path) -> None:
    paths = images(tmp_path, [(10, 10)] * 5 + [(100, 100)] * 3 + [(10, 10)])
    (tmp_path / "05.png").write_bytes(b"not a png")
    batches = list(prefetched(paths, decode, batch_size=4, max_batch_bytes=20_000))
    flat = [decoded.item for batch in batches for decoded in batch]
    assert flat == paths
    # 4 small ones; then one small and two big (30,000 bytes each) close at the first big one.
    assert [len(batch) for batch in batches] == [4, 3, 1, 1]
    broken = [d for batch in batches for d in batch if d.data is None]
    assert len(broken) == 1 and broken[0].item.name == "05.png"
    assert broken[0].error is not None and broken[0].error.startswith("cannot read image")


def test_local_folder_loads_as_itself(tmp_path: Path) -> None:
    notes: list[str] = []
    assert model_dir(str(tmp_path), notes.append) == tmp_path
    assert notes == [f"Loading model {tmp_path} from its folder"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_caption(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "TRANSFORMERS_", "DATASETY_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "datasety", "caption", "-i", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,  # a bound for a hung test, not a speed check
        env={**clean, "HF_HOME": str(tmp_path / "hf"), **env},
        check=False,
    )


def test_missing_model_offline_is_one_line_naming_repo_cache_and_fetch(tmp_path: Path) -> None:
    result = run_caption(tmp_path, HF_HUB_OFFLINE="1")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: model florence-community/Florence-2-base is not in the local")
    assert f"HF_HOME={tmp_path / 'hf'}" in line
    assert "HF_HUB_OFFLINE is set" in line
    assert "`hf download florence-community/Florence-2-base`" in line
    assert "Loading" not in result.stdout


def test_unreachable_hub_fails_at_once_without_retrying(tmp_path: Path) -> None:
    result = run_caption(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not in the local Hugging Face cache" in lines[0]
    assert "the hub (http://127.0.0.1:" in lines[0] and "cannot be reached" in lines[0]
