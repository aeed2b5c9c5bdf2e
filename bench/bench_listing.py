"""Benchmark: a warm dataset listing, our server against the reference `datasety server`.

    .venv/bin/python bench/bench_listing.py              # 10,000 images + 10,000 captions
    .venv/bin/python bench/bench_listing.py --files 2000 --rounds 5

What it does, all under bench/ (both folders are gitignored):

1. makes ``--files`` tiny JPEGs, each with a ``.txt`` caption, in ``bench/.work/listing``;
2. starts the reference server (``bench/.venv-reference``, installed on first use, see
   bench_resize.py) and ours, each as its own process on a free port, and registers the
   folder with each through its API;
3. times ``GET /v1/datasets/<id>/files`` over HTTP, alternating between the two servers for
   ``--rounds`` rounds after a warm-up, reading the whole body; ours twice per round: as httpx
   asks by default (``Accept-Encoding: gzip``, which ours honours and the reference ignores)
   and with ``identity``; reports the medians and ratios; alternating keeps a busy neighbour on
   the shared cores from favouring one side;
4. checks that both listings name the same files with the same captions;
5. has ``--clients`` clients (32) ask ours for the listing 5 times each, all at once, each on
   its own kept-alive connection, and reports the p50 and p90 of those listings;
6. also times ours after one caption edit through its API (the catalog updates in place) and
   after an edit by another program (the next listing re-reads that caption).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_resize import (  # noqa: E402
    REFERENCE_VENV,
    WORK,
    machine,
    our_command,
    reference_command,
)

DATASET = WORK / "listing"
DATA_DIR = WORK / "listing-data"
# The smallest valid JPEG we need: listings never decode images, but the files are real.
TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7"
    "e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


def make_dataset(folder: Path, count: int) -> None:
    """``count`` images + captions (made once; reused while the count matches)."""
    stamp = folder / ".count"
    if stamp.exists() and stamp.read_text() == str(count):
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"img_{i:05d}.jpg").write_bytes(TINY_JPEG)
        (folder / f"img_{i:05d}.txt").write_text(f"a photo of subject {i}, studio light")
    stamp.write_text(str(count))
    # Let the folder's mtime age past the catalog's racy window before anything lists it.
    time.sleep(2.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(command: list[str], port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if Path(command[0]).is_relative_to(REFERENCE_VENV):
        # A PYTHONPATH meant for our sources (a worktree) would shadow the reference's own.
        env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [*command, "server", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/datasets", timeout=2)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                sys.exit(f"{command[0]} server exited with {proc.returncode}")
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"{command[0]} server did not answer on port {port}")


def register(client: httpx.Client, base: str) -> str:
    response = client.post(f"{base}/v1/datasets", json={"path": str(DATASET), "name": "bench"})
    response.raise_for_status()
    dataset_id: str = response.json()["id"]
    return dataset_id


IDENTITY = {"Accept-Encoding": "identity"}


def timed_listing(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[float, dict[str, Any]]:
    """Seconds until the whole body is read (and decoded, if gzipped), and the listing."""
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    body = response.content
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, httpx.Response(200, content=body).json()


def concurrent_listings(url: str, clients: int, each: int) -> list[float]:
    """Seconds per listing when ``clients`` clients (threads, each its own kept-alive
    connection) ask for it ``each`` times back to back, all starting together."""
    barrier = threading.Barrier(clients)
    times: list[float] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(timeout=300) as client:
            timed_listing(client, url)  # connect first: time the listings, not the handshakes
            barrier.wait()
            for _ in range(each):
                # The body read whole (and un-gzipped), not parsed: the clients share the
                # server's two cores, so they do no more than a browser's network layer.
                started = time.perf_counter()
                client.get(url).raise_for_status()
                elapsed = time.perf_counter() - started
                with lock:
                    times.append(elapsed)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(listing: dict[str, Any]) -> dict[str, str]:
    """Base name -> caption; hidden files left out (the reference lists them, we do not)."""
    return {e["base"]: e["caption"] for e in listing["files"] if not e["base"].startswith(".")}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="images (each with a caption)")
    parser.add_argument("--rounds", type=int, default=9, help="alternating timed rounds")
    parser.add_argument("--clients", type=int, default=32, help="concurrent listing clients")
    options = parser.parse_args()

    make_dataset(DATASET, options.files)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    ref_port, our_port = free_port(), free_port()
    reference = start([str(reference_command())], ref_port)
    ours = start(our_command(), our_port, "--data-dir", str(DATA_DIR))
    print(f"machine: {machine()}")
    print(f"dataset: {options.files} images + {options.files} captions in one folder")
    try:
        with httpx.Client(timeout=120) as client:
            ref_base, our_base = f"http://127.0.0.1:{ref_port}", f"http://127.0.0.1:{our_port}"
            ref_url = f"{ref_base}/v1/datasets/{register(client, ref_base)}/files"
            our_url = f"{our_base}/v1/datasets/{register(client, our_base)}/files"

            our_cold, our_listing = timed_listing(client, our_url)
            ref_cold, ref_listing = timed_listing(client, ref_url)
            if summary(our_listing) != summary(ref_listing):
                sys.exit("the two servers list different files or captions")
            if len(summary(our_listing)) != options.files:
                sys.exit(f"expected {options.files} entries, got {len(our_listing['files'])}")
            timed_listing(client, our_url)  # warm-up

            ref_times, our_times, our_plain_times = [], [], []
            for _ in range(options.rounds):
                ref_times.append(timed_listing(client, ref_url)[0])
                our_times.append(timed_listing(client, our_url)[0])
                our_plain_times.append(timed_listing(client, our_url, IDENTITY)[0])

            concurrent = concurrent_listings(our_url, options.clients, 5)

            # One caption changed through our API, then one by another program.
            client.put(f"{our_url}/img_00042.jpg", json={"caption": "edited through the API"})
            after_api, listed = timed_listing(client, our_url)
            assert summary(listed)["img_00042"] == "edited through the API"
            (DATASET / "img_00043.txt").write_text("edited by another program")
            after_external, listed = timed_listing(client, our_url)
            assert summary(listed)["img_00043"] == "edited by another program"
    finally:
        for proc in (reference, ours):
            proc.terminate()
            proc.wait(timeout=30)
        (DATASET / "img_00042.txt").write_text("a photo of subject 42, studio light")
        (DATASET / "img_00043.txt").write_text("a photo of subject 43, studio light")

    ref_median = statistics.median(ref_times)
    our_median, plain_median = statistics.median(our_times), statistics.median(our_plain_times)
    print(f"first listing            reference {ms(ref_cold)}   ours {ms(our_cold)}")
    print(f"warm, gzip accepted      reference {ms(ref_median)}   ours {ms(our_median)}")
    print(f"warm, identity encoding                          ours {ms(plain_median)}")
    print(f"after an API edit                                ours {ms(after_api)}")
    print(f"after an external edit                           ours {ms(after_external)}")
    print(
        f"warm speed-up (medians of {options.rounds}): {ref_median / our_median:.1f}x with gzip, "
        f"{ref_median / plain_median:.1f}x without"
    )
    print(
        f"{options.clients} concurrent clients x 5 listings, ours: "
        f"p50 {ms(percentile(concurrent, 0.5))}, p90 {ms(percentile(concurrent, 0.9))}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
