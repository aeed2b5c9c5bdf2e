"""Benchmark: `datasety resize` against the reference `datasety resize` from the package index.

    .venv/bin/python bench/bench_resize.py            # 60 images, 5 alternating rounds
    .venv/bin/python bench/bench_resize.py --rounds 3 --images 30

What it does, all under bench/ (both folders are gitignored):

1. makes photo-like 3000x2000 JPEGs in ``bench/.work/input`` (smooth colour fields, mid-scale
   texture and per-pixel noise from a fixed seed, so they compress and decode like photos);
2. installs the reference tool in its own venv, ``bench/.venv-reference`` (``pip install
   datasety==REFERENCE_VERSION``), and runs it as that venv's own console script;
3. runs the reference and ours alternately, ``--rounds`` times each, both with default flags
   plus ``-r 1024x1024``, timing the whole command (start-up included) and reporting the median
   images/second of each and their ratio; alternating keeps a busy neighbour on the shared
   cores from favouring one side;
4. compares our output with the reference's for every image (PSNR over RGB) and reports the
   minimum: "visually equivalent" means at least 30 dB.

Only the standard library, numpy and Pillow are needed (both are datasety dependencies).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
REFERENCE_VENV = BENCH / ".venv-reference"
REFERENCE_VERSION = "0.44.0"
WIDTH, HEIGHT = 3000, 2000
TARGET = "1024x1024"
SEED = 20240601
PSNR_REQUIRED = 30.0


def photo_like(seed: int, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """A deterministic RGB image with the spectrum of a photo: smooth + texture + noise."""
    rng = np.random.default_rng(seed)
    # Large smooth colour areas (sky, walls) from a tiny random field blown up bicubically.
    coarse = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    smooth = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.float32
    )
    # Mid-scale texture (foliage, fabric) at 1/16 resolution.
    mid = np.clip(rng.normal(128, 30, (height // 16, width // 16, 3)), 0, 255).astype(np.uint8)
    texture = np.asarray(
        Image.fromarray(mid).resize((width, height), Image.Resampling.BICUBIC), np.float32
    )
    # Sensor noise, luminance only, like a camera at moderate ISO.
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    pixels = np.clip(smooth + (texture - 128) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def make_images(folder: Path, count: int) -> list[Path]:
    """``count`` photo-like JPEGs in ``folder`` (made once; reused while the recipe matches)."""
    recipe = {"count": count, "size": [WIDTH, HEIGHT], "seed": SEED, "version": 1}
    stamp = folder / ".recipe.json"
    paths = [folder / f"photo_{i:03d}.jpg" for i in range(count)]
    made = stamp.exists() and json.loads(stamp.read_text()) == recipe
    if made and all(p.exists() for p in paths):
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i, path in enumerate(paths):
        photo_like(SEED + i).save(path, "JPEG", quality=90)
        print(f"\rmaking input images {i + 1}/{count}", end="", flush=True)
    print()
    stamp.write_text(json.dumps(recipe))
    return paths


def reference_command() -> Path:
    """The reference's console script, installed into its own venv on first use."""
    script = REFERENCE_VENV / "bin" / "datasety"
    probe = [str(REFERENCE_VENV / "bin" / "python"), "-m", "pip", "show", "datasety"]
    if script.exists():
        shown = subprocess.run(probe, capture_output=True, text=True, check=False).stdout
        if f"Version: {REFERENCE_VERSION}" in shown:
            return script
    print(f"installing reference datasety=={REFERENCE_VERSION} into {REFERENCE_VENV} ...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(REFERENCE_VENV)], check=True)
    pip = [str(REFERENCE_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"datasety=={REFERENCE_VERSION}"], check=True)
    return script


def our_command() -> list[str]:
    """Our console script from the venv running this file (the repo's .venv)."""
    script = Path(sys.executable).parent / "datasety"
    return [str(script)] if script.exists() else [sys.executable, "-m", "datasety"]


def timed_run(command: list[str], src: Path, dst: Path, expected: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one full run into an empty ``dst``; checks its output.

    CPU time (user + system of the command and every process it waited for) is the number
    that a busy neighbour on the shared cores disturbs least.
    """
    shutil.rmtree(dst, ignore_errors=True)
    args = [*command, "resize", "-i", str(src), "-o", str(dst), "-r", TARGET]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    written = len(list(dst.glob("*.jpg")))
    if done.returncode != 0 or written != expected:
        sys.exit(
            f"{args[0]} failed (exit {done.returncode}, wrote {written}/{expected}): "
            + done.stderr.decode(errors="replace")[-2000:]
        )
    return elapsed, cpu


def psnr(a: Path, b: Path) -> float:
    """Peak signal-to-noise ratio (dB) between two same-sized RGB images."""
    with Image.open(a) as image_a, Image.open(b) as image_b:
        if image_a.size != image_b.size:
            return 0.0
        x = np.asarray(image_a.convert("RGB"), np.float64)
        y = np.asarray(image_b.convert("RGB"), np.float64)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def machine() -> str:
    """One line about the machine the numbers come from."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model or platform.processor()}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}{load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60, help="number of input images")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per tool")
    options = parser.parse_args()

    inputs = make_images(WORK / "input", options.images)
    reference = [str(reference_command())]
    ours = our_command()
    ref_out, our_out = WORK / "out-reference", WORK / "out-ours"
    print(f"machine: {machine()}")

    n = len(inputs)
    ref_runs: list[tuple[float, float]] = []
    our_runs: list[tuple[float, float]] = []
    for round_no in range(1, options.rounds + 1):
        # Alternate which side goes first so neither always runs on a warmer cache.
        order = [(reference, ref_out, ref_runs), (ours, our_out, our_runs)]
        for command, out, runs in order if round_no % 2 else reversed(order):
            runs.append(timed_run(command, WORK / "input", out, n))
        print(
            f"round {round_no}: reference {n / ref_runs[-1][0]:.1f} img/s "
            f"({ref_runs[-1][1] / n * 1000:.0f} ms CPU/img), "
            f"ours {n / our_runs[-1][0]:.1f} img/s ({our_runs[-1][1] / n * 1000:.0f} ms CPU/img)"
        )

    ref_rate = n / statistics.median(wall for wall, _ in ref_runs)
    our_rate = n / statistics.median(wall for wall, _ in our_runs)
    ref_cpu = statistics.median(cpu for _, cpu in ref_runs) / n * 1000
    our_cpu = statistics.median(cpu for _, cpu in our_runs) / n * 1000
    scores = [psnr(our_out / p.name, ref_out / p.name) for p in inputs]
    worst = min(scores)
    print()
    print(f"date:      {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"machine:   {machine()}")
    print(f"input:     {len(inputs)} photo-like {WIDTH}x{HEIGHT} JPEGs -> -r {TARGET}")
    print(
        f"reference: datasety {REFERENCE_VERSION}, median {ref_rate:.1f} img/s, "
        f"{ref_cpu:.0f} ms CPU/img"
    )
    print(f"ours:      median {our_rate:.1f} img/s, {our_cpu:.0f} ms CPU/img")
    print(f"ratio:     {our_rate / ref_rate:.2f}x (median of {options.rounds} alternating rounds)")
    print(f"CPU ratio: {ref_cpu / our_cpu:.2f}x less CPU per image")
    print(f"PSNR vs reference: min {worst:.1f} dB, median {statistics.median(scores):.1f} dB")
    if worst < PSNR_REQUIRED:
        sys.exit(f"output differs from the reference: min PSNR {worst:.1f} < {PSNR_REQUIRED} dB")


if __name__ == "__main__":
    main()
