"""`train` against the reference on a CPU with tiny models: the per-step overhead.

    .venv/bin/python bench/bench_train.py                  # 3 rounds, FLUX.2-klein
    .venv/bin/python bench/bench_train.py --family sdxl --rounds 5

What it does, all in ``bench/.work/train``:

1. builds the test suite's tiny random FLUX.2-klein (or SDXL) pipeline into a temporary
   Hugging Face cache (``tests/training/tiny.py``) and passes its snapshot folder as
   ``--model`` to both tools, with ``HF_HUB_OFFLINE=1``;
2. runs the reference 0.44.0's own ``datasety`` package (from ``bench/.venv-reference``,
   installed there on first use as ``bench_resize.py`` does) on
   this interpreter, so both tools use the same torch, diffusers and peft: what differs is
   the tools' code;
3. trains the same layers with both: the reference's FLUX.2 LoRA is on ``to_q/to_k/to_v``
   of both streams' joint attention, ``to_add_out`` and the single blocks' fused
   ``to_qkv_mlp_proj`` (its code picks them), so ours gets ``--lora-layers`` with that list
   (our default adds ``to_out.0`` and the text stream's ``add_q/k/v_proj``, as diffusers'
   FLUX scripts do); SDXL's default layers are the same in both (``to_q/k/v/out.0``);
4. times each tool at ``--short`` and ``--long`` steps (fresh caches each run, alternating
   the order per round); steps/s = (long - short) / (time(long) - time(short)), so start-up,
   model loading and our one-off encoding cancel out; peak RSS is the child's ``ru_maxrss``.
   "Time" is the child's CPU time (user + system, ``wait4``'s rusage) with torch on
   ``--threads`` threads (default 1): on a shared box wall time swings 10x and more with the
   other processes' load (torch's threads spin and wait on an oversubscribed CPU), CPU time
   of a one-thread child hardly moves. Wall-clock steps/s are printed beside it.

Tiny models make this a measure of what each tool does around the model per step (the
reference runs the text encoder and the VAE at every step; ours reads cached latents and
embeddings), not of the model's compute: real-size figures need a GPU session.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))
from bench_resize import machine, reference_command  # noqa: E402

WORK = BENCH / ".work" / "train"
# The layers the reference 0.44.0 puts its LoRA on (train_image.py): FLUX.2's attention
# projections to_q/k/v plus to_add_out and to_qkv_mlp_proj; SDXL's are our default already.
REFERENCE_LAYERS = {"flux2": "to_q,to_k,to_v,to_add_out,to_qkv_mlp_proj", "sdxl": None}
REFERENCE_VENV = BENCH / ".venv-reference"


def reference_package() -> Path:
    """A folder holding only the reference's ``datasety`` package (a link to it)."""
    reference_command()  # installs the reference into its venv on first use
    found = sorted(REFERENCE_VENV.glob("lib/python3*/site-packages/datasety"))
    if not found:
        raise SystemExit(f"the reference is not installed in {REFERENCE_VENV}")
    folder = WORK / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "datasety"
    if not link.exists():
        link.symlink_to(found[0], target_is_directory=True)
    return folder


def make_dataset(folder: Path, count: int, size: int) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index in range(count):
        colour = ((index * 53) % 256, (index * 97) % 256, (index * 151) % 256)
        Image.new("RGB", (size, size), colour).save(folder / f"img{index:03d}.png")
        (folder / f"img{index:03d}.txt").write_text(f"a flat colour swatch number {index}")
    return folder


def run(
    tool: str, model: Path, family: str, data: Path, steps: int, size: int, threads: int
) -> tuple[float, float, int]:
    """CPU seconds, wall seconds and peak RSS (KiB) of one training run."""
    out = WORK / f"{tool}-{steps}.safetensors"
    cache = WORK / f"cache-{tool}"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(cache),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}  # fmt: skip
    env.pop("DATASETY_PROGRESS", None)
    args = ["train", "-i", str(data), "-o", str(out), "-m", str(model), "--family",
            "flux" if family == "flux2" else family, "--steps", str(steps), "--image-size",
            str(size), "--device", "cpu", "--caption-dropout", "0"]  # fmt: skip
    layers = REFERENCE_LAYERS[family]
    if tool == "ours" and layers:
        args += ["--lora-layers", layers]
    env["PYTHONPATH"] = str(reference_package() if tool == "reference" else ROOT / "src")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "datasety", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    err = process.stderr.read()
    process.stderr.close()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not out.exists():
        raise SystemExit(f"{tool} failed ({process.returncode}): {err.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=["flux2", "sdxl"], default="flux2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short", type=int, default=4)
    parser.add_argument("--long", type=int, default=24)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each run")
    options = parser.parse_args()

    # Imported by name: the tests' builders are not part of what mypy checks.
    tiny = importlib.import_module("tests.training.tiny")
    WORK.mkdir(parents=True, exist_ok=True)
    hf_home = WORK / "hf"
    shutil.rmtree(hf_home, ignore_errors=True)
    build = tiny.save_flux2_klein_base if options.family == "flux2" else tiny.save_sdxl
    model = build(hf_home)
    data = make_dataset(WORK / "data", options.images, options.size)

    rates: dict[str, list[float]] = {"reference": [], "ours": []}
    wall_rates: dict[str, list[float]] = {"reference": [], "ours": []}
    peaks: dict[str, list[int]] = {"reference": [], "ours": []}
    sizing = (options.size, options.threads)
    for round_index in range(options.rounds):
        order = ["reference", "ours"] if round_index % 2 == 0 else ["ours", "reference"]
        for tool in order:
            settings = (model, options.family, data)
            short_cpu, short_wall, _ = run(tool, *settings, options.short, *sizing)
            long_cpu, long_wall, peak = run(tool, *settings, options.long, *sizing)
            steps = options.long - options.short
            rate, wall_rate = steps / (long_cpu - short_cpu), steps / (long_wall - short_wall)
            rates[tool].append(rate)
            wall_rates[tool].append(wall_rate)
            peaks[tool].append(peak)
            mib = peak / 1024
            line = f"round {round_index + 1} {tool}: {rate:.3f} steps per CPU second"
            print(f"{line} ({wall_rate:.3f} steps/s wall), peak RSS {mib:.0f} MiB", flush=True)

    ref, ours = statistics.median(rates["reference"]), statistics.median(rates["ours"])
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"{options.family}, {options.images} images at {options.size}px, steps "
          f"{options.short}->{options.long}, {options.threads} torch thread(s), "
          f"medians of {options.rounds} rounds")  # fmt: skip
    for tool, rate in (("reference", ref), ("ours", ours)):
        mib = statistics.median(peaks[tool]) / 1024
        wall = statistics.median(wall_rates[tool])
        print(f"{tool + ':':10} {rate:.3f} steps per CPU second ({wall:.3f} steps/s wall), "
              f"peak RSS {mib:.0f} MiB")  # fmt: skip
    print(f"ratio:     {ours / ref:.2f}x (CPU time)")


if __name__ == "__main__":
    main()
