"""Benchmark: the memory a dataset's catalog costs the server (DESIGN principle 9).

    .venv/bin/python bench/bench_catalog_memory.py                 # 100,000 files
    .venv/bin/python bench/bench_catalog_memory.py --files 20000

What it does (inputs under bench/.work/, gitignored):

1. makes ``--files`` files in ``bench/.work/catalog-memory``: half empty ``.jpg`` images, half
   ``.txt`` captions of about 50 characters;
2. in this process, with ``tracemalloc``: one plain and one gzip listing of a fresh
   :class:`Catalog`, then the memory still traced (what the catalog keeps), the peak, and the
   top allocation sites; checks the body is byte for byte what the listing's pure functions
   render (each entry's JSON joined in order), and times ``--rounds`` warm listings (median);
3. starts our ``datasety server`` as its own process, registers the folder through the API,
   asks for the listing with ``identity`` and with ``gzip`` encoding, and reports the
   process's RSS before, after, and its peak (``VmHWM``) less the RSS before.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import httpx

from datasety.server.catalog.catalogs import Catalog, Query
from datasety.server.catalog.listing import Entry, build_entries, dumps, file_rec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_listing import free_port, start  # noqa: E402
from bench_resize import WORK, machine, our_command  # noqa: E402

DATASET = WORK / "catalog-memory"
DATA_DIR = WORK / "catalog-memory-data"
MB = 1_000_000


def make_dataset(folder: Path, files: int) -> None:
    """``files // 2`` empty images, each with a caption (made once; reused while it matches)."""
    stamp = folder / ".count"
    if stamp.exists() and stamp.read_text() == str(files):
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(files // 2):
        (folder / f"img_{i:06d}.jpg").touch()
        (folder / f"img_{i:06d}.txt").write_text(f"a photo of something number {i} with a caption")
    stamp.write_text(str(files))
    time.sleep(2.1)  # past the catalog's racy window, so the first listing is the last scan


def expected_body(folder: Path) -> bytes:
    """The plain listing rendered straight from the pure functions, without any caching."""
    recs = []
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        rec = file_rec("", entry.name, entry.stat().st_size, 0, 0)
        if entry.name.endswith(".txt"):
            rec.text = Path(entry.path).read_text()
        recs.append(rec)
    entries = build_entries(recs)

    def caption(entry: Entry) -> str:
        caption_file = entry.caption_file
        return (caption_file.text or "") if caption_file else ""

    # Parsed and dumped again: the text the catalog writes must be exactly json.dumps' own.
    fragments = ",".join(dumps(json.loads(e.to_json(caption(e)))) for e in entries)
    return f'{{"files":[{fragments}],"total":{len(entries)}}}'.encode()


def in_process(folder: Path, rounds: int) -> None:
    tracemalloc.start()
    catalog = Catalog(folder.resolve())
    started = time.perf_counter()
    body = catalog.listing(Query()).read()
    cold = time.perf_counter() - started
    packed = catalog.listing(Query(), gzipped=True).read()
    current, peak = tracemalloc.get_traced_memory()
    top = tracemalloc.take_snapshot().statistics("lineno")[:8]
    tracemalloc.stop()
    if body != expected_body(folder) or gzip.decompress(packed) != body:
        sys.exit("the catalog's listing differs from the pure functions' rendering")
    warm = []
    for _ in range(rounds):
        started = time.perf_counter()
        catalog.listing(Query()).read()
        warm.append(time.perf_counter() - started)
    print(f"plain body {len(body) / MB:.1f} MB, gzip body {len(packed) / MB:.1f} MB (checked)")
    print(f"traced after plain + gzip listing: {current / MB:.1f} MB (peak {peak / MB:.1f} MB)")
    for stat in top:
        print(f"    {stat.size / MB:6.1f} MB  {stat.traceback[0]}")
    print(
        f"first listing {cold * 1000:.0f} ms (traced); warm median of {rounds}: "
        f"{statistics.median(warm) * 1000:.1f} ms"
    )


def rss_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def server(folder: Path) -> None:
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    port = free_port()
    proc = start(our_command(), port, "--data-dir", str(DATA_DIR))
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=600) as client:
            response = client.post(f"{base}/v1/datasets", json={"path": str(folder), "name": "m"})
            response.raise_for_status()
            url = f"{base}/v1/datasets/{response.json()['id']}/files"
            before = rss_kb(proc.pid)["VmRSS"]
            plain = client.get(url, headers={"Accept-Encoding": "identity"})
            packed = client.get(url, headers={"Accept-Encoding": "gzip"})
            plain.raise_for_status()
            packed.raise_for_status()
            if packed.headers.get("content-encoding") != "gzip" or packed.content != plain.content:
                sys.exit("the server's gzip listing differs from its plain one")
            after = rss_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        f"server RSS before listing {before / 1000:.0f} MB, after {after['VmRSS'] / 1000:.0f} MB "
        f"(+{(after['VmRSS'] - before) / 1000:.0f} MB), "
        f"peak +{(after['VmHWM'] - before) / 1000:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="files (half are captions)")
    parser.add_argument("--rounds", type=int, default=20, help="timed warm listings")
    options = parser.parse_args()
    make_dataset(DATASET, options.files)
    print(f"machine: {machine()}")
    print(f"dataset: {options.files // 2} empty images + {options.files // 2} captions")
    in_process(DATASET, options.rounds)
    server(DATASET)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
