"""Model commands against the reference: `mask --model clipseg` and `filter --model clip`.

    .venv/bin/python bench/bench_models.py                 # 3 rounds
    .venv/bin/python bench/bench_models.py --rounds 5 --scale 4 --device cuda

What it does, all in ``bench/.work/models``:

1. builds ``CIDAS/clipseg-rd64-refined`` and ``openai/clip-vit-base-patch32`` at their real
   architecture sizes with random weights (their compute does not depend on the values) and
   saves them into a temporary Hugging Face cache under those ids; both tools load them from
   there with ``HF_HUB_OFFLINE=1``. The tokenizer is a small BPE over bytes with the query
   words merged into one token each, as CLIP's own vocabulary has them;
2. installs the reference (``datasety==0.44.0`` with torch and transformers, the same
   versions as ours) into ``bench/.venv-reference-models`` on first use;
3. runs each tool as a user does on photo-like 1024x768 JPEGs (12 masked, 64 filtered, times
   ``--scale``), alternating the order per round, and takes its steady images/s from the
   line each tool prints per finished image: images after the first finished burst over the
   time from that burst to the last one (start-up and model loading stay out of it);
4. checks the outputs agree: mean IoU of the masks, largest difference of the CLIP scores
   (both tools' ``--log``).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_resize import machine, photo_like  # noqa: E402

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "models"
REFERENCE_VENV = BENCH / ".venv-reference-models"
REFERENCE_VERSION = "0.44.0"
WIDTH, HEIGHT = 1024, 768
MASK_IMAGES, FILTER_IMAGES = 12, 64  # three and four batches of ours (--batch-size 4, 16)
KEYWORD = "person"
QUERIES = ["person", "dog", "watermark"]
SEED = 20240601


def word_tokenizer(transformers: Any) -> Any:
    """CLIP's BPE over bytes, with each bench word merged into a single token."""
    from tokenizers.pre_tokenizers import ByteLevel

    specials = ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(specials)}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    merges = []
    for word in {KEYWORD, *QUERIES, "a", "photo", "of"}:
        for end in range(1, len(word)):
            last = end == len(word) - 1
            right = word[end] + ("</w>" if last else "")
            merges.append((word[:end], right))
            vocab.setdefault(word[: end + 1] + ("</w>" if last else ""), len(vocab))
    return transformers.CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        unk_token="<|endoftext|>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def snapshot(hf_home: Path, repo_id: str) -> Path:
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("0" * 40)
    folder = repo / "snapshots" / ("0" * 40)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_models(hf_home: Path) -> None:
    """The two repositories at their real sizes, random weights (made once)."""
    if (hf_home / ".complete").exists():
        return
    import torch
    import transformers as tf

    torch.manual_seed(SEED)
    tokenizer = word_tokenizer(tf)
    text = {"vocab_size": 49408, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    # CIDAS/clipseg-rd64-refined: CLIP ViT-B/16 (run at 352x352), reduce_dim 64.
    clipseg = tf.CLIPSegConfig(
        text_config=text,
        vision_config={"patch_size": 16, "image_size": 224},
        reduce_dim=64,
        extract_layers=[3, 6, 9],
        use_complex_transposed_convolution=True,
    )
    folder = snapshot(hf_home, "CIDAS/clipseg-rd64-refined")
    tf.CLIPSegForImageSegmentation(clipseg).save_pretrained(folder)
    image_processor = tf.ViTImageProcessorPil(
        size={"height": 352, "width": 352},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        resample=2,
    )
    tf.CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(
        folder
    )
    # openai/clip-vit-base-patch32: CLIPConfig's defaults are that architecture.
    folder = snapshot(hf_home, "openai/clip-vit-base-patch32")
    tf.CLIPModel(tf.CLIPConfig(text_config=text)).save_pretrained(folder)
    clip_pixels = tf.CLIPImageProcessorPil(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    tf.CLIPProcessor(image_processor=clip_pixels, tokenizer=tokenizer).save_pretrained(folder)
    (hf_home / ".complete").touch()


def make_images(folder: Path, count: int, offset: int) -> None:
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index in range(count):
        image = photo_like(SEED + offset + index, WIDTH, HEIGHT)
        image.save(folder / f"photo_{index:03d}.jpg", "JPEG", quality=90)


def reference_python() -> Path:
    """The reference with its model dependencies, in its own venv (installed on first use)."""
    python = REFERENCE_VENV / "bin" / "python"
    probe = [str(python), "-c", "import datasety, torch, transformers"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"installing reference datasety=={REFERENCE_VERSION} + torch into {REFERENCE_VENV} ...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(REFERENCE_VENV)], check=True)
    import torch
    import transformers

    versions = [
        f"torch=={torch.__version__.split('+')[0]}",
        f"transformers=={transformers.__version__}",
    ]
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"datasety=={REFERENCE_VERSION}", *versions], check=True)
    return python


def steady_rate(argv: list[str], env: dict[str, str], expected: int) -> float:
    """Images/s of one run once it is going: each tool prints a line per image as it
    finishes, so the rate is the images after the first finished burst over the time from
    that burst to the last image; start-up and model loading stay out of it."""
    started = time.perf_counter()
    stamps: list[float] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            output.append(line)
            if "photo_" in line:
                stamps.append(time.perf_counter() - started)
    if process.returncode != 0 or len(stamps) != expected:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{''.join(output[-30:])}")
    burst = sum(1 for stamp in stamps if stamp - stamps[0] < 0.05)
    return (expected - burst) / (stamps[-1] - stamps[0])


def mask_argv(tool: list[str], src: Path, out: Path, device: str) -> list[str]:
    return [*tool, "mask", "-i", str(src), "-o", str(out), "-k", KEYWORD, "--model", "clipseg",
            "--device", device]  # fmt: skip


def filter_argv(tool: list[str], src: Path, out: Path, device: str) -> list[str]:
    return [*tool, "filter", "-i", str(src), "-q", ",".join(QUERIES), "--model", "clip",
            "--action", "copy", "-o", str(out / "copies"), "--dry-run",
            "--log", str(out / "log.csv"), "--device", device]  # fmt: skip


def mask_iou(ours: Path, reference: Path) -> float:
    scores = []
    for path in sorted(reference.glob("*.png")):
        a = np.asarray(Image.open(path)) > 127
        b = np.asarray(Image.open(ours / path.name)) > 127
        union = np.logical_or(a, b).sum()
        scores.append(1.0 if union == 0 else np.logical_and(a, b).sum() / union)
    return float(np.mean(scores))


def score_difference(ours: Path, reference: Path) -> float:
    """Largest |ours - reference| over every (file, query) score of the two logs."""
    with reference.open(newline="") as handle:
        theirs = {
            (row["file"], row["query"]): float(row["score"]) for row in csv.DictReader(handle)
        }
    with ours.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    mine = {(row["file"], q): float(row[f"score:{q}"]) for row in rows for q in QUERIES}
    return max(abs(mine[key] - value) for key, value in theirs.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="run on this many times the images")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per tool")
    parser.add_argument("--device", default="cpu", help="--device for both tools")
    parser.add_argument("--tasks", default="mask,filter", help="which commands to time")
    options = parser.parse_args()

    hf_home = WORK / "hf"
    save_models(hf_home)
    counts = {"mask": MASK_IMAGES * options.scale, "filter": FILTER_IMAGES * options.scale}
    counts = {task: n for task, n in counts.items() if task in options.tasks.split(",")}
    for task, count in counts.items():
        make_images(WORK / task, count, 1000)
    reference = [str(reference_python()), "-m", "datasety"]
    ours = [sys.executable, "-m", "datasety"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATASETY_")}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    # The reference must import its own package, never a source tree on our PYTHONPATH.
    envs = {"ours": env, "reference": {k: v for k, v in env.items() if k != "PYTHONPATH"}}
    print(f"machine: {machine()}")

    rates: dict[tuple[str, str], list[float]] = {}
    for round_no in range(1, options.rounds + 1):
        tools = [("reference", reference), ("ours", ours)]
        for name, tool in tools if round_no % 2 else list(reversed(tools)):
            for task, count in counts.items():
                out = WORK / f"out-{name}-{task}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                src = WORK / task
                argv = (
                    mask_argv(tool, src, out, options.device)
                    if task == "mask"
                    else filter_argv(tool, src, out, options.device)
                )
                rate = steady_rate(argv, envs[name], count)
                rates.setdefault((name, task), []).append(rate)
                print(f"round {round_no}: {name:9} {task:6} {rate:6.2f} img/s", flush=True)

    agreement = []
    if "mask" in counts:
        iou = mask_iou(WORK / "out-ours-mask", WORK / "out-reference-mask")
        agreement.append(f"mask IoU {iou:.3f} (mean)")
    if "filter" in counts:
        diff = score_difference(
            WORK / "out-ours-filter" / "log.csv", WORK / "out-reference-filter" / "log.csv"
        )
        agreement.append(f"CLIP scores differ by at most {diff:.4f}")
    print()
    print(f"date:      {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"machine:   {machine()}")
    images = ", ".join(f"{count} for {task}" for task, count in counts.items())
    print(f"input:     photo-like {WIDTH}x{HEIGHT} JPEGs: {images}")
    for task in counts:
        ref = statistics.median(rates[("reference", task)])
        our = statistics.median(rates[("ours", task)])
        print(f"{task:6}     reference {ref:.2f} img/s, ours {our:.2f} img/s: {our / ref:.2f}x")
    print(f"agreement: {', '.join(agreement)}")


if __name__ == "__main__":
    main()
