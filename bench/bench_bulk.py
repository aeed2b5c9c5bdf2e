"""Benchmark: select all + a caption prefix on 5,000 captioned images through the bulk API.

    .venv/bin/python bench/bench_bulk.py                 # 5,000 images + captions, 3 rounds
    .venv/bin/python bench/bench_bulk.py --files 1000 --rounds 5
    .venv/bin/python bench/bench_bulk.py --work /mnt/other-fs   # the dataset on another file system

No reference exists for bulk editing (the reference server has no bulk endpoint, and no
tool in this field offers one over HTTP), so the baseline is what a script does without it:
one listing, then one ``PUT {"caption"}`` per file, through our own server, on one
kept-alive connection, measured in the same run.

What it does (everything under bench/.work, gitignored, or ``--work``):

1. makes ``--files`` tiny JPEGs, each with a ``.txt`` caption (bench_listing's dataset maker);
2. starts our server as its own process with a fresh data dir and registers the folder;
3. per round: ``POST .../bulk`` with ``select: {"filter": {}}`` (every entry), ``op: prefix``,
   ``preview: true`` (timed), then the same applied (timed; checked through a listing: every
   caption starts with the prefix), then undone (timed, checked: the captions are back); then
   the baseline: a listing and a PUT per file adding the prefix (timed), then undone with one
   bulk ``replace`` (not timed), in the first ``--baseline-rounds`` rounds only (it is slow);
4. prints the medians and the ratio of the baseline to the applied bulk operation.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_listing import free_port, make_dataset, start  # noqa: E402
from bench_resize import WORK, machine, our_command  # noqa: E402
from datasety.server.catalog.watch import fs_type  # noqa: E402

PREFIX = "ohwx, "


def timed(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        sys.exit(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


def captions(client: httpx.Client, base: str) -> dict[str, str]:
    listing = client.get(f"{base}/files", params={"media": "true"}).json()["files"]
    return {entry["name"]: entry["caption"] for entry in listing}


def put_loop(client: httpx.Client, base: str, prefix: str) -> float:
    """The baseline: a listing, then one PUT per file."""
    started = time.perf_counter()
    for name, caption in captions(client, base).items():
        response = client.put(f"{base}/files/{name}", json={"caption": prefix + caption})
        response.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5_000, help="images (each with a caption)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds")
    parser.add_argument(
        "--baseline-rounds", type=int, default=1, help="rounds of the PUT loop (slow)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=WORK,
        help="folder for the dataset and the server's data (the file system measured)",
    )
    options = parser.parse_args()

    dataset, data_dir = options.work / "bulk", options.work / "bulk-data"
    make_dataset(dataset, options.files)
    shutil.rmtree(data_dir, ignore_errors=True)
    port = free_port()
    server = start(our_command(), port, "--data-dir", str(data_dir))
    print(f"machine: {machine()}")
    print(f"file system: {fs_type(options.work.resolve())} at {options.work}")
    print(f"dataset: {options.files} images + {options.files} captions in one folder")
    previews, applies, undos, loops = [], [], [], []
    try:
        with httpx.Client(timeout=600) as client:
            root = f"http://127.0.0.1:{port}"
            response = client.post(f"{root}/v1/datasets", json={"path": str(dataset)})
            response.raise_for_status()
            base = f"{root}/v1/datasets/{response.json()['id']}"
            original = captions(client, base)
            body = {"select": {"filter": {}}, "op": "prefix", "text": PREFIX}
            for round_ in range(options.rounds):
                seconds, preview = timed(
                    client, "POST", f"{base}/bulk", json={**body, "preview": True}
                )
                assert preview["changed"] == options.files, preview["changed"]
                previews.append(seconds)
                seconds, applied = timed(client, "POST", f"{base}/bulk", json=body)
                assert applied["changed"] == options.files and applied["failed"] == 0
                applies.append(seconds)
                now = captions(client, base)
                assert all(now[name] == PREFIX + text for name, text in original.items())
                undo_url = f"{base}/operations/{applied['id']}/undo"
                undos.append(timed(client, "POST", undo_url)[0])
                assert captions(client, base) == original

                if round_ >= options.baseline_rounds:
                    continue
                loops.append(put_loop(client, base, PREFIX))
                reverse = {"select": {"filter": {}}, "op": "replace", "find": "^" + PREFIX,
                           "replace": "", "regex": True}  # fmt: skip
                timed(client, "POST", f"{base}/bulk", json=reverse)
                assert captions(client, base) == original
    finally:
        server.terminate()
        server.wait(timeout=30)

    preview, apply = statistics.median(previews), statistics.median(applies)
    undo, loop = statistics.median(undos), statistics.median(loops)
    print(f"bulk prefix, preview        {preview:7.3f} s   (target < 1 s)")
    print(f"bulk prefix, applied        {apply:7.3f} s   (target < 5 s)")
    print(f"undo of the applied prefix  {undo:7.3f} s")
    print(f"baseline: listing + {options.files} PUTs {loop:7.3f} s")
    print(f"applied bulk vs PUT loop    {loop / apply:7.1f}x faster (medians)")


if __name__ == "__main__":
    main()
