"""Benchmark: the catalog at 10,000 to 1,000,000 files (issue 18): pages, cold start, memory.

    .venv/bin/python bench/bench_catalog.py                       # 10k, 100k and 1M files
    .venv/bin/python bench/bench_catalog.py --files 100000 --reference-max 100000

What it does, per size N (datasets under bench/.work/, gitignored; ``--clean`` removes them):

1. makes N tiny files, LAION-style: shards of 10,000 files (``00000/`` ...), each shard 5,000
   JPEGs of 160 bytes with a ``.txt`` caption; made once with raw ``os.open``/``os.write``;
2. starts our ``datasety server`` (a fresh data dir), registers the folder and times the full
   listing as its very first request (``cold_full``), then stops it; starts a second one the
   same way and times the cold first page (``?limit=100``) as the very first request, then
   the first full listing, each in wall time and in the server's CPU time
   (``/proc/<pid>/stat``);
3. times warm pages (``limit=100``) at offsets 0, N/4, N/2 and the last page, a search (``q``,
   a word of one caption), ``missing=caption``, a ``folder`` page, and the full listing (with
   ``identity`` and with ``gzip``), each as the median of ``--rounds``; the first
   ``missing=caption`` page (nothing kept for it yet) and searches for a new word each time
   (median of ``--rounds`` words); reads the server's RSS
   after paging and after the full listings, and its peak (``VmHWM``);
   then times the next page after another program adds an image, and after it edits a caption;
4. checks the full listing streamed with ``identity`` equals its gzip body decoded, and that a
   page holds what the full listing holds at that offset;
5. for sizes up to ``--reference-max``: starts the reference server on the same folder and
   times its full listing (first and warm median), alternating with ours, and its RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_listing import TINY_JPEG, free_port, start  # noqa: E402
from bench_resize import WORK, machine, our_command, reference_command  # noqa: E402

SHARD = 10_000
MB = 1_000_000
IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}
# A new connection per request: on a kept-alive one, a response written in two segments
# waits ~40 ms for the client's delayed ACK (Nagle; issue 10 item 1), which would hide
# the server's own time.
FRESH = httpx.Limits(max_keepalive_connections=0)


def dataset_dir(files: int) -> Path:
    return WORK / f"catalog-{files}"


def make_dataset(files: int) -> Path:
    """``files`` files in shards (made once; reused while the count matches)."""
    folder = dataset_dir(files)
    stamp = folder / ".count"
    if stamp.exists() and stamp.read_text() == str(files):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for i in range(files // 2):
        shard = folder / f"{i * 2 // SHARD:05d}"
        if i * 2 % SHARD == 0:
            shard.mkdir(parents=True)
        stem = f"{shard}/{i:07d}"
        fd = os.open(f"{stem}.jpg", flags, 0o644)
        os.write(fd, TINY_JPEG)
        os.close(fd)
        fd = os.open(f"{stem}.txt", flags, 0o644)
        os.write(fd, f"a photo of subject {i} in studio light, item{i}x".encode())
        os.close(fd)
    stamp.write_text(str(files))
    return folder


def rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / MB
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU that process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(client: httpx.Client, url: str, **kwargs: Any) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = client.get(url, **kwargs)
    body = response.content  # decoded if gzipped: the client pays for that too
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, body


def median_ms(client: httpx.Client, url: str, rounds: int, **kwargs: Any) -> float:
    return 1000 * statistics.median(timed(client, url, **kwargs)[0] for _ in range(rounds))


def register(client: httpx.Client, base: str, folder: Path) -> str:
    response = client.post(f"{base}/v1/datasets", json={"path": str(folder), "name": "bench"})
    response.raise_for_status()
    dataset_id: str = response.json()["id"]
    return dataset_id


def measure_cold_full(folder: Path, files: int) -> dict[str, float]:
    """The full listing as a fresh server's very first request (no page before it): the
    scan, every caption read and the whole body rendered, in wall and the server's CPU time."""
    data_dir = WORK / f"catalog-{files}-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    port = free_port()
    proc = start(our_command(), port, "--data-dir", str(data_dir))
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=600, limits=FRESH) as client:
            url = f"{base}/v1/datasets/{register(client, base, folder)}/files"
            cpu = cpu_seconds(proc.pid)
            seconds, full = timed(client, url, headers=IDENTITY)
            used = cpu_seconds(proc.pid) - cpu
            if json.loads(full)["total"] != files // 2:
                sys.exit("the cold full listing misses entries")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"cold_full": seconds * 1000, "cold_full_cpu": used * 1000}


def measure_ours(folder: Path, files: int, rounds: int) -> dict[str, float]:
    out = measure_cold_full(folder, files)
    data_dir = WORK / f"catalog-{files}-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    port = free_port()
    proc = start(our_command(), port, "--data-dir", str(data_dir))
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=600, limits=FRESH) as client:
            out["rss_idle"] = rss(proc.pid)[0]
            url = f"{base}/v1/datasets/{register(client, base, folder)}/files"
            # Wall time and the server's CPU time: on a shared machine the second is the
            # steadier figure.
            cpu = cpu_seconds(proc.pid)
            seconds, cold = timed(client, url, params={"limit": 100})
            out["cold_page"] = seconds * 1000
            out["cold_page_cpu"] = (cpu_seconds(proc.pid) - cpu) * 1000
            cpu = cpu_seconds(proc.pid)
            seconds, full = timed(client, url, headers=IDENTITY)
            out["first_full"] = seconds * 1000
            out["first_full_cpu"] = (cpu_seconds(proc.pid) - cpu) * 1000
            listing = json.loads(full)
            entries = files // 2
            if listing["total"] != entries:
                sys.exit(f"expected {entries} entries, got {listing['total']}")
            first = json.loads(cold)
            # Answered before the scan ended ("complete": false) or not, it is the first page.
            if first["files"] != listing["files"][:100]:
                sys.exit("the cold first page differs from the full listing's first 100")
            out["cold_page_early"] = float(first.get("complete", True) is False)
            del first, cold
            last = entries - 100
            for offset in (0, entries // 4, entries // 2, last):
                params = {"limit": 100, "offset": offset}
                out[f"page_{offset}"] = median_ms(client, url, rounds, params=params)
            page = json.loads(client.get(url, params={"limit": 100, "offset": last}).content)
            if page["files"] != listing["files"][last:]:
                sys.exit("a page differs from the full listing at its offset")
            del listing, page
            missing = {"missing": "caption", "limit": 100}
            # Asked for the first time (nothing kept for it yet): one figure, and a search
            # for a new word each time (the median of ``rounds`` words).
            out["page_missing_first"] = timed(client, url, params=missing)[0] * 1000
            words = [f"item{entries * k // (rounds + 2)}x" for k in range(1, rounds + 1)]
            out["page_q_new"] = 1000 * statistics.median(
                timed(client, url, params={"q": word, "limit": 100})[0] for word in words
            )
            word = f"item{entries // 3}x"
            out["page_q"] = median_ms(client, url, rounds, params={"q": word, "limit": 100})
            out["page_missing"] = median_ms(client, url, rounds, params=missing)
            shard_name = f"{(files // SHARD) // 2:05d}"
            shard = {"folder": shard_name, "limit": 100}
            out["page_folder"] = median_ms(client, url, rounds, params=shard)
            out["rss_paged"] = rss(proc.pid)[0]
            # Another program adds an image, then edits a caption: the next page sees each.
            added = folder / shard_name / "added.jpg"
            added.write_bytes(TINY_JPEG)
            page_params = {"limit": 100, "offset": entries // 2}
            out["page_after_add"] = timed(client, url, params=page_params)[0] * 1000
            added.unlink()
            timed(client, url, params=page_params)
            caption = next((folder / shard_name).glob("*.txt"))
            text = caption.read_bytes()
            caption.write_bytes(b"edited " + text)
            out["page_after_edit"] = timed(client, url, params=page_params)[0] * 1000
            caption.write_bytes(text)
            full_rounds = max(3, rounds // 3)
            out["full_warm"] = median_ms(client, url, full_rounds, headers=IDENTITY)
            out["full_gzip"] = median_ms(client, url, full_rounds, headers=GZIP)
            if timed(client, url, headers=GZIP)[1] != full:
                sys.exit("the gzip full listing differs from the identity one")
            del full
            out["rss_full"], out["rss_peak"] = rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def measure_reference(folder: Path, rounds: int) -> dict[str, float]:
    port = free_port()
    proc = start([str(reference_command())], port)
    out: dict[str, float] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=3600, limits=FRESH) as client:
            out["rss_idle"] = rss(proc.pid)[0]
            url = f"{base}/v1/datasets/{register(client, base, folder)}/files"
            cpu = cpu_seconds(proc.pid)
            out["first_full"] = timed(client, url)[0] * 1000
            out["first_full_cpu"] = (cpu_seconds(proc.pid) - cpu) * 1000
            out["full_warm"] = median_ms(client, url, rounds)
            out["rss_full"], out["rss_peak"] = rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return out


def report(files: int, ours: dict[str, float], ref: dict[str, float] | None) -> None:
    print(f"\n== {files:,} files ({files // 2:,} images + captions, shards of {SHARD:,})")
    for key, value in ours.items():
        unit = "MB" if key.startswith("rss") else "" if key == "cold_page_early" else "ms"
        line = f"  ours {key:14} {value:10.1f} {unit}"
        if ref is not None and key in ref:
            ratio = ref[key] / value if value else float("nan")
            line += f"   reference {ref[key]:10.1f} {unit}"
            if unit == "ms":
                line += f"   ({ratio:.1f}x)"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per warm figure")
    parser.add_argument("--reference-max", type=int, default=100_000)
    parser.add_argument("--clean", action="store_true", help="remove the datasets afterwards")
    options = parser.parse_args()
    print(f"machine: {machine()}")
    for files in options.files:
        started = time.perf_counter()
        folder = make_dataset(files)
        print(f"dataset of {files:,} files ready in {time.perf_counter() - started:.1f} s")
        ours = measure_ours(folder, files, options.rounds)
        ref = measure_reference(folder, 3) if files <= options.reference_max else None
        report(files, ours, ref)
        if options.clean:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
